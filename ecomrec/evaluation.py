"""One way to evaluate every next-item model in the course, baselines and oracle included.

A model is fitted on everything known before the targets (train for the validation
targets, train + validation for the test targets), scores the full catalogue for each
target from its :class:`ecomrec.scoring.ScoringContext`, has the items the user already
saw removed, and is judged by the rank of the true next item, and (given the oracle's
probabilities) by the NDCG it would get on average over the true next-item distribution.
Lesson 01 shows each step; later lessons call `evaluate_recommender`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ecomrec import schema as S
from ecomrec.baselines import Recommender
from ecomrec.datasets import ShopSim
from ecomrec.metrics import evaluate_ranking, expected_ndcg_at_k, ndcg_at_k, target_ranks
from ecomrec.oracle import oracle_probabilities
from ecomrec.scoring import NextItemScorer, ScoringContext
from ecomrec.splits import Split, TargetPart, known_interactions, seen_items


def targets_of(split: Split, which: TargetPart) -> pd.DataFrame:
    """The target rows (one per evaluated user) of the validation or test part."""
    if which not in ("valid", "test"):
        raise ValueError(f"which must be 'valid' or 'test', got {which!r}")
    return split.valid if which == "valid" else split.test


def session_starts(split: Split, which: TargetPart) -> np.ndarray:
    """True where the target view opens a new session (its session differs from the last one)."""
    targets = targets_of(split, which)
    last = known_interactions(split, which).groupby(S.USER)[S.SESSION].last()
    return targets[S.SESSION].to_numpy() != last.loc[targets[S.USER]].to_numpy()


def scoring_context(split: Split, which: TargetPart) -> ScoringContext:
    """What a model may see before each validation or test target, one row per target.

    The users of the target rows, their interactions before the targets (train, plus the
    validation item for the test targets) with session-start flags, and whether each
    target opens a new session.
    """
    users = targets_of(split, which)[S.USER].to_numpy()
    return ScoringContext.from_interactions(
        known_interactions(split, which), users, session_starts(split, which)
    )


def score_recommender(
    model: NextItemScorer,
    split: Split,
    which: TargetPart,
    n_items: int | None = None,
    n_users: int | None = None,
) -> np.ndarray:
    """Score the full catalogue for each target; a Recommender is fitted first.

    A :class:`ecomrec.baselines.Recommender` (baselines, LightGCN) is fitted on what is
    known before the targets, which needs `n_items` (and `n_users` for the models with
    user factors); any other :class:`NextItemScorer` (a trained neural model) is used as it is.
    """
    if isinstance(model, Recommender):
        if n_items is None:
            raise ValueError(f"fitting {type(model).__name__} needs n_items (the catalogue size)")
        model.fit(known_interactions(split, which), n_items=n_items, n_users=n_users)
    return model.score(scoring_context(split, which))


def evaluate_scores(
    scores: np.ndarray,
    split: Split,
    which: TargetPart,
    k: int = 10,
    oracle: np.ndarray | None = None,
) -> dict[str, float]:
    """HR@K, NDCG@K, MRR and coverage@K, plus NDCG@K at session starts and within sessions.

    Given the oracle's probabilities for the same targets (:func:`oracle_scores`), also the
    expected NDCG@K (:func:`ecomrec.metrics.expected_ndcg_at_k`) at session starts, within
    sessions and over all targets (the two groups' means weighted by their shares).
    """
    targets = targets_of(split, which)[S.ITEM].to_numpy()
    exclude = seen_items(split, which)
    result = evaluate_ranking(scores, targets, exclude=exclude, k=k)
    ranks = target_ranks(scores, targets, exclude)
    starts = session_starts(split, which)
    result[f"ndcg@{k}_session_start"] = ndcg_at_k(ranks[starts], k)
    result[f"ndcg@{k}_within_session"] = ndcg_at_k(ranks[~starts], k)
    if oracle is not None:
        if oracle.shape != scores.shape:
            raise ValueError(
                f"oracle probabilities have shape {oracle.shape} but the scores {scores.shape}: "
                "compute both for the same targets (oracle_scores(data, split, which))"
            )
        groups = {"session_start": starts, "within_session": ~starts}
        expected = f"expected_ndcg@{k}"
        for group, keep in groups.items():
            rows = np.flatnonzero(keep)
            result[f"{expected}_{group}"] = expected_ndcg_at_k(
                scores[keep], oracle[keep], [exclude[i] for i in rows], k=k
            )
        result[expected] = sum(
            keep.mean() * result[f"{expected}_{group}"] for group, keep in groups.items()
        )
    return result


def evaluate_recommender(
    model: NextItemScorer,
    split: Split,
    which: TargetPart,
    n_items: int | None = None,
    n_users: int | None = None,
    k: int = 10,
    oracle: np.ndarray | None = None,
) -> dict[str, float]:
    """Score (fitting a Recommender first) and evaluate one model on the chosen targets.

    Every next-item model of the course goes through here: baselines and LightGCN are
    fitted on what is known before the targets, trained neural models are scored as they
    are. `oracle` adds the expected NDCG@K keys (see :func:`evaluate_scores`).
    """
    scores = score_recommender(model, split, which, n_items, n_users)
    return evaluate_scores(scores, split, which, k, oracle)


def oracle_scores(data: ShopSim, split: Split, which: TargetPart) -> np.ndarray:
    """The simulator's true next-view probabilities for every target (evaluation only)."""
    return oracle_probabilities(
        data.events, data.friendships, data.load_truth(), targets_of(split, which)
    )

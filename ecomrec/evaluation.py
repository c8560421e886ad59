"""One way to evaluate every next-item model in the course, baselines and oracle included.

A model is fitted on everything known before the targets (train for the validation
targets, train + validation for the test targets), scores the full catalogue for each
target user, has the items the user already saw removed, and is judged by the rank of
the true next item. Lesson 01 shows each step; later lessons call `evaluate_recommender`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ecomrec import schema as S
from ecomrec.baselines import Recommender
from ecomrec.datasets import ShopSim
from ecomrec.metrics import evaluate_ranking, ndcg_at_k, target_ranks
from ecomrec.oracle import oracle_probabilities
from ecomrec.splits import Split, TargetPart, histories, known_interactions, seen_items


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


def score_recommender(
    model: Recommender, split: Split, which: TargetPart, n_items: int, n_users: int
) -> np.ndarray:
    """Fit `model` on what is known before the targets and score the full catalogue."""
    model.fit(known_interactions(split, which), n_items=n_items, n_users=n_users)
    users = targets_of(split, which)[S.USER].to_numpy()
    return model.score(users, histories(split, which))


def evaluate_scores(
    scores: np.ndarray, split: Split, which: TargetPart, k: int = 10
) -> dict[str, float]:
    """HR@K, NDCG@K, MRR and coverage@K, plus NDCG@K at session starts and within sessions."""
    targets = targets_of(split, which)[S.ITEM].to_numpy()
    exclude = seen_items(split, which)
    result = evaluate_ranking(scores, targets, exclude=exclude, k=k)
    ranks = target_ranks(scores, targets, exclude)
    starts = session_starts(split, which)
    result[f"ndcg@{k}_session_start"] = ndcg_at_k(ranks[starts], k)
    result[f"ndcg@{k}_within_session"] = ndcg_at_k(ranks[~starts], k)
    return result


def evaluate_recommender(
    model: Recommender, split: Split, which: TargetPart, n_items: int, n_users: int, k: int = 10
) -> dict[str, float]:
    """Fit, score and evaluate one model on the validation or test targets."""
    return evaluate_scores(
        score_recommender(model, split, which, n_items, n_users), split, which, k
    )


def oracle_scores(data: ShopSim, split: Split, which: TargetPart) -> np.ndarray:
    """The simulator's true next-view probabilities for every target (evaluation only)."""
    return oracle_probabilities(
        data.events, data.friendships, data.load_truth(), targets_of(split, which)
    )

"""Every next-item model of the course honours one scoring interface (ecomrec.scoring).

On a tiny synthetic log, each implementation - baselines, the switch, BPR-MF, LightGCN,
the GRU and self-attention - returns finite float64 scores of shape (n_targets, n_items)
from a ScoringContext, scores the items already in a history too (the evaluation, not the
model, removes them), is deterministic, and is evaluated by `evaluate_recommender`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ecomrec import schema as S
from ecomrec.baselines import BPRMF, ItemCooccurrence, Markov, Popularity, SessionSwitch
from ecomrec.evaluation import evaluate_recommender, score_recommender, scoring_context
from ecomrec.graph import LightGCNRecommender
from ecomrec.models.attention import SelfAttentionNextItem
from ecomrec.models.gru import GRUNextItem
from ecomrec.scoring import NextItemScorer, ScoringContext
from ecomrec.splits import temporal_split

N_USERS, N_ITEMS = 12, 9


def tiny_log() -> pd.DataFrame:
    """12 users, 6-9 views each over 9 items, sessions of 3 views, one view a minute."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(N_USERS):
        for step in range(6 + user % 4):
            rows.append((user, int(rng.integers(N_ITEMS)), user * 100 + step // 3, step))
    frame = pd.DataFrame(rows, columns=[S.USER, S.ITEM, S.SESSION, "step"])
    frame[S.TIMESTAMP] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame.pop("step"), "min")
    return frame


def recommenders():
    return {
        "popularity": Popularity(),
        "co-occurrence": ItemCooccurrence(),
        "markov": Markov(),
        "bpr-mf": BPRMF(n_factors=4, epochs=2, batch_size=16, progress=False),
        "switch": SessionSwitch(ItemCooccurrence(), Markov()),
        "lightgcn": LightGCNRecommender(dim=4, n_layers=2, epochs=2, batch_size=16, progress=False),
    }


def neural_models():
    torch.manual_seed(0)
    return {
        "gru": GRUNextItem(N_ITEMS, dim=8),
        "self-attention": SelfAttentionNextItem(N_ITEMS, dim=8, max_len=5, n_blocks=1, n_heads=2),
    }


MODEL_NAMES = [*recommenders(), *neural_models()]


@pytest.fixture(scope="module")
def split():
    return temporal_split(tiny_log())


def fitted(name: str, split) -> NextItemScorer:
    if name in recommenders():
        model = recommenders()[name]
        known = pd.concat([split.train, split.valid])
        return model.fit(known, n_items=N_ITEMS, n_users=N_USERS)
    return neural_models()[name]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_scores_a_context(name, split):
    model = fitted(name, split)
    assert isinstance(model, NextItemScorer)
    context = scoring_context(split, "test")
    scores = model.score(context)
    assert scores.shape == (len(split.test), N_ITEMS)
    assert scores.dtype == np.float64
    assert np.isfinite(scores).all(), "no NaN or infinity, history items included"
    # documented: models do not mask the items already in a history
    for row, history in enumerate(context.histories):
        assert np.isfinite(scores[row, history]).all()
    np.testing.assert_array_equal(scores, model.score(context))  # deterministic


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_evaluate_recommender_evaluates_every_model(name, split):
    model = recommenders().get(name) or neural_models()[name]
    result = evaluate_recommender(model, split, "valid", N_ITEMS, N_USERS, k=3)
    assert result["n_targets"] == len(split.valid)
    assert 0.0 <= result["ndcg@3"] <= result["hit_rate@3"] <= 1.0
    uniform = np.full((len(split.valid), N_ITEMS), 1.0 / N_ITEMS)
    with_oracle = evaluate_recommender(model, split, "valid", N_ITEMS, N_USERS, k=3, oracle=uniform)
    starts = scoring_context(split, "valid").target_starts
    expected = (
        starts.mean() * with_oracle["expected_ndcg@3_session_start"]
        + (1 - starts.mean()) * with_oracle["expected_ndcg@3_within_session"]
    )
    assert with_oracle["expected_ndcg@3"] == pytest.approx(expected)
    assert 0.0 < with_oracle["expected_ndcg@3"] < 1.0


def test_context_from_a_split_matches_the_log(split):
    context = scoring_context(split, "test")
    known = pd.concat([split.train, split.valid]).sort_values([S.USER, S.TIMESTAMP])
    for row, user in enumerate(context.users):
        mine = known[known[S.USER] == user]
        assert context.histories[row].tolist() == mine[S.ITEM].tolist()
        sessions = mine[S.SESSION].to_numpy()
        assert context.history_starts[row].tolist() == [True, *(sessions[1:] != sessions[:-1])]
        target_session = split.test[S.SESSION].to_numpy()[row]
        assert context.target_starts[row] == (target_session != sessions[-1])


def test_switch_takes_each_row_from_the_right_model(split):
    switch = fitted("switch", split)
    context = scoring_context(split, "test")
    at_start = switch.at_start.score(context)
    within = switch.within_session.score(context)
    scores = switch.score(context)
    starts = context.target_starts
    assert starts.any() and (~starts).any()
    np.testing.assert_array_equal(scores[starts], at_start[starts])
    np.testing.assert_array_equal(scores[~starts], within[~starts])


@pytest.mark.parametrize("name", ["gru", "self-attention", "switch"])
def test_models_that_read_session_flags_say_so(name, split):
    model = fitted(name, split)
    without_flags = ScoringContext([0, 1], [[1, 2], [3]])
    with pytest.raises(ValueError, match="session-start flags"):
        model.score(without_flags)


def test_bad_contexts_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="2 users but 1 histories"):
        ScoringContext([0, 1], [[1]])
    with pytest.raises(ValueError, match="integer ids"):
        ScoringContext([0], [[1.5]])
    with pytest.raises(ValueError, match=r"history_starts\[0\] must be 2 booleans"):
        ScoringContext([0], [[1, 2]], history_starts=[[True]], target_starts=[False])
    with pytest.raises(ValueError, match="target_starts must be 1 booleans"):
        ScoringContext([0], [[1, 2]], history_starts=[[True, False]], target_starts=[1, 0])


def test_fitting_needs_the_catalogue_size(split):
    with pytest.raises(ValueError, match="n_items"):
        score_recommender(Markov(), split, "valid")

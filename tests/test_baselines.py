"""Baselines on tiny synthetic logs where the right answer is obvious."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecomrec.baselines import BPRMF, ItemCooccurrence, Markov, Popularity
from ecomrec.metrics import auc, target_ranks
from ecomrec.schema import ITEM, SESSION, TIMESTAMP, USER
from ecomrec.scoring import ScoringContext as Context
from ecomrec.training import TrainingTimeLimitError


def make_log(sequences: list[list[int]], session_length: int = 1000) -> pd.DataFrame:
    """One row per interaction; user u's items in order; sessions of `session_length` steps."""
    rows = [
        (user, item, step, user * 1000 + step // session_length)
        for user, items in enumerate(sequences)
        for step, item in enumerate(items)
    ]
    frame = pd.DataFrame(rows, columns=[USER, ITEM, "step", SESSION])
    frame[TIMESTAMP] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame.pop("step"), unit="min")
    return frame


def test_popularity_ranks_by_count():
    log = make_log([[0, 1, 1, 2, 2, 2], [2, 3]])
    scores = Popularity().fit(log, n_items=5).score(Context([0, 1], [[], [0]]))
    assert scores.tolist() == [[1, 2, 4, 1, 0]] * 2
    assert target_ranks(scores, np.array([2, 1])).tolist() == [1, 2]


def test_markov_predicts_the_deterministic_successor():
    # every user walks the cycle 0 -> 1 -> 2 -> 3 -> 4 -> 0, starting at a different item
    n_items = 5
    log = make_log([[(start + step) % n_items for step in range(12)] for start in range(5)])
    model = Markov().fit(log, n_items)
    histories = [np.array([3, last]) for last in range(n_items)]
    scores = model.score(Context(np.arange(n_items), histories))
    successors = (np.arange(n_items) + 1) % n_items
    assert target_ranks(scores, successors).tolist() == [1] * n_items
    assert np.allclose(scores.sum(axis=1), 1.0)  # smoothed rows are distributions


def test_markov_falls_back_to_popularity_without_ties():
    log = make_log([[0, 1], [2, 2, 2, 1]])
    model = Markov().fit(log, n_items=4)
    # item 3 was never seen: its row is the popularity share, an empty history too
    unseen_last, empty = model.score(Context([0, 1], [[3], []]))
    assert unseen_last.tolist() == pytest.approx([1 / 6, 2 / 6, 3 / 6, 0])
    assert empty.tolist() == pytest.approx(unseen_last.tolist())


def test_cooccurrence_links_items_of_the_same_session_and_weights_recency():
    # sessions of two items: (0, 1) and (2, 3) always go together; item 4 is popular noise
    log = make_log([[0, 1, 4, 4], [2, 3, 4, 4], [0, 1, 4, 4], [2, 3]], session_length=2)
    model = ItemCooccurrence(window=1, same_session_only=True).fit(log, n_items=5)
    assert model.similarity_[0, 1] == pytest.approx(1.0)  # cosine of identical occurrences
    assert model.similarity_[0, 2] == 0.0
    assert model.similarity_[1, 4] == 0.0  # different sessions
    assert np.allclose(model.similarity_, model.similarity_.T)
    assert np.all(np.diag(model.similarity_) == 0)
    # the most recent item decides: history ending in 2 -> 3 first, ending in 0 -> 1 first
    scores = model.score(Context([0, 1], [[0, 2], [2, 0]]))
    assert scores.argmax(axis=1).tolist() == [3, 1]
    # a wider window across sessions links 1 and 4
    wide = ItemCooccurrence(window=1, same_session_only=False).fit(log, n_items=5)
    assert wide.similarity_[1, 4] > 0


def test_cooccurrence_breaks_ties_by_popularity():
    log = make_log([[0, 1], [2, 2, 2, 3, 3]])
    scores = ItemCooccurrence().fit(log, n_items=5).score(Context([0], [[0]]))
    # 1 co-occurs with 0; the rest are ordered by popularity (2 > 3 > 4)
    assert np.argsort(-scores[0]).tolist()[:4] == [1, 2, 3, 0]


def two_block_log(seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """40 users x 40 items: users < 20 use items < 20, the others items >= 20.

    Returns the log and, per user, the held-out own-block items never seen in training.
    """
    rng = np.random.default_rng(seed)
    sequences, unseen = [], []
    for user in range(40):
        block = np.arange(20) if user < 20 else np.arange(20, 40)
        chosen = rng.permutation(block)
        sequences.append(rng.choice(chosen[:12], size=30).tolist())
        unseen.append(chosen[12:])
    return make_log(sequences), np.arange(40), np.array(unseen)


def test_bprmf_learns_a_planted_two_block_structure():
    log, users, unseen_own_block = two_block_log(seed=0)
    model = BPRMF(n_factors=8, epochs=60, batch_size=64, lr=0.05, seed=0, progress=False)
    scores = model.fit(log, n_items=40).score(Context(users, [[]] * len(users)))
    # unseen items of the user's own block must outrank every other-block item
    own_block = np.zeros((40, 40), dtype=bool)
    own_block[:20, :20] = own_block[20:, 20:] = True
    labels, values = [], []
    for user in users:
        other = ~own_block[user]
        labels += [1] * unseen_own_block.shape[1] + [0] * int(other.sum())
        values += scores[user, unseen_own_block[user]].tolist() + scores[user, other].tolist()
    learned_auc = auc(np.array(labels), np.array(values))
    random_auc = auc(np.array(labels), np.random.default_rng(0).random(len(labels)))
    assert learned_auc > 0.9
    assert learned_auc > random_auc + 0.3
    assert model.history_[-1]["loss"] < model.history_[0]["loss"]
    assert model.training_.epochs_run == 60 and len(model.history_) == 60


def test_bprmf_is_deterministic_for_a_seed():
    log, users, _ = two_block_log(seed=1)

    def fitted_scores(seed: int) -> np.ndarray:
        model = BPRMF(n_factors=4, epochs=3, batch_size=32, seed=seed, progress=False)
        return model.fit(log, n_items=40).score(Context(users, [[]] * len(users)))

    first, again, other_seed = fitted_scores(3), fitted_scores(3), fitted_scores(4)
    assert np.array_equal(first, again)
    assert not np.allclose(first, other_seed)


def test_bprmf_time_limit_fails_loudly_and_unseen_users_get_zero_vectors():
    log, _, _ = two_block_log(seed=2)
    slow = BPRMF(n_factors=4, epochs=100_000, batch_size=8, time_limit=0.01, progress=False)
    with pytest.raises(TrainingTimeLimitError, match="'BPR-MF' passed its time limit"):
        slow.fit(log, n_items=40, n_users=45)
    model = BPRMF(n_factors=4, epochs=2, batch_size=8, progress=False)
    model.fit(log, n_items=40, n_users=45)
    assert len(model.history_) == 2
    assert np.all(model.user_factors_[40:] == 0)
    assert np.array_equal(model.score(Context([44], [[]]))[0], model.item_bias_)
    with pytest.raises(ValueError, match="users must be in"):
        model.score(Context([45], [[]]))


@pytest.mark.parametrize(
    "model", [Popularity(), ItemCooccurrence(), Markov(), BPRMF(epochs=2, progress=False)]
)
def test_common_interface(model):
    log = make_log([[0, 1, 2, 3], [3, 2, 1], [4, 4, 0]], session_length=2)
    users, histories = np.array([0, 2]), [np.array([0, 1]), np.array([], dtype=np.int64)]
    scores = model.fit(log, n_items=6).score(Context(users, histories))
    assert scores.shape == (2, 6) and scores.dtype == np.float64
    assert np.array_equal(scores, model.score(Context(users, histories)))
    with pytest.raises(ValueError, match="histories"):
        Context(users, histories[:1])
    assert type(model).__name__ in repr(model)


def test_scoring_before_fit_raises():
    with pytest.raises(RuntimeError, match="fit"):
        Markov().score(Context([0], [[1]]))


def test_whole_history_cooccurrence_equals_a_window_longer_than_any_history():
    rng = np.random.default_rng(0)
    log = make_log([rng.integers(0, 6, size=int(rng.integers(1, 9))).tolist() for _ in range(7)])
    whole = ItemCooccurrence(window=None, n_recent=20, decay=1.0).fit(log, n_items=6)
    looped = ItemCooccurrence(window=50, n_recent=20, decay=1.0).fit(log, n_items=6)
    np.testing.assert_allclose(whole.similarity_, looped.similarity_)
    with pytest.raises(ValueError, match="cannot also stay in sessions"):
        ItemCooccurrence(window=None, same_session_only=True)

"""Exact, hand-computed checks of ecomrec.metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import log_loss as sklearn_log_loss
from sklearn.metrics import roc_auc_score

from ecomrec import metrics
from ecomrec.metrics import (
    auc,
    catalogue_coverage,
    evaluate_ranking,
    expected_ndcg_at_k,
    hit_rate_at_k,
    log_loss,
    mrr,
    ndcg_at_k,
    recall_at_k,
    target_ranks,
    top_k,
)


def test_rank_counts_strictly_better_items():
    scores = np.array([[0.9, 0.1, 0.5, 0.7], [0.9, 0.1, 0.5, 0.7]])
    assert target_ranks(scores, np.array([0, 1])).tolist() == [1, 4]


def test_ties_are_pessimistic():
    scores = np.array([[0.5, 0.9, 0.5, 0.5, 0.1]])
    # item 1 beats item 2, items 0 and 3 tie with it: rank 1 + 1 + 2 = 4.
    assert target_ranks(scores, np.array([2])).tolist() == [4]


def test_constant_scorer_gets_the_worst_rank():
    ranks = target_ranks(np.zeros((3, 50)), np.array([0, 17, 49]))
    assert ranks.tolist() == [50, 50, 50]
    assert ndcg_at_k(ranks, k=10) == 0.0


def test_exclusion_removes_items_from_the_ranking():
    scores = np.array([[0.9, 0.8, 0.7, 0.1]])
    assert target_ranks(scores, np.array([2])).tolist() == [3]
    assert target_ranks(scores, np.array([2]), exclude=[np.array([0])]).tolist() == [2]
    assert target_ranks(scores, np.array([2]), exclude=[np.array([0, 1, 3])]).tolist() == [1]
    # excluding a worse item changes nothing
    assert target_ranks(scores, np.array([2]), exclude=[[3]]).tolist() == [3]


def test_excluded_tied_items_do_not_count():
    scores = np.array([[0.5, 0.5, 0.5]])
    assert target_ranks(scores, np.array([0]), exclude=[[1, 2]]).tolist() == [1]


def test_excluding_the_target_raises():
    with pytest.raises(ValueError, match="target item 2 is in exclude"):
        target_ranks(np.ones((2, 4)), np.array([0, 2]), exclude=[[1], [0, 2]])


def test_nan_scores_and_bad_shapes_raise():
    with pytest.raises(ValueError, match="NaN"):
        target_ranks(np.array([[0.1, np.nan]]), np.array([0]))
    with pytest.raises(ValueError, match="targets"):
        target_ranks(np.ones((2, 3)), np.array([0]))
    with pytest.raises(ValueError, match="0..2"):
        target_ranks(np.ones((1, 3)), np.array([3]))
    with pytest.raises(ValueError, match="exclude has 1 entries"):
        target_ranks(np.ones((2, 3)), np.array([0, 0]), exclude=[[1]])


def test_chunked_ranks_match_a_direct_loop(monkeypatch):
    monkeypatch.setattr(metrics, "_CELLS_PER_CHUNK", 7)  # force many small chunks
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(23, 6)).astype(float)  # many ties
    targets = rng.integers(0, 6, size=23)
    exclude = [np.setdiff1d(rng.choice(6, 2, replace=False), [t]) for t in targets]
    expected = [
        sum(1 for j in range(6) if j not in set(ex) and scores[r, j] >= scores[r, t])
        for r, (t, ex) in enumerate(zip(targets, exclude, strict=True))
    ]
    assert target_ranks(scores, targets, exclude).tolist() == expected


def test_rank_metrics_hand_computed():
    ranks = np.array([1, 3, 11])
    assert hit_rate_at_k(ranks, 10) == pytest.approx(2 / 3)
    assert hit_rate_at_k(ranks, 1) == pytest.approx(1 / 3)
    assert ndcg_at_k(np.array([1]), 10) == 1.0
    assert ndcg_at_k(np.array([3]), 10) == 0.5  # 1 / log2(4)
    assert ndcg_at_k(np.array([2]), 10) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k(ranks, 10) == pytest.approx(0.5)
    assert ndcg_at_k(np.array([10, 11]), 10) == pytest.approx(1 / math.log2(11) / 2)
    assert mrr(ranks) == pytest.approx((1 + 1 / 3 + 1 / 11) / 3)
    assert mrr(ranks, k=10) == pytest.approx((1 + 1 / 3) / 3)


def test_k_must_be_positive_integer():
    with pytest.raises(ValueError):
        ndcg_at_k(np.array([1]), 0)
    with pytest.raises(ValueError):
        hit_rate_at_k(np.array([1]), 2.5)


def test_recall_and_coverage():
    assert recall_at_k([[4, 2, 7], [1, 0, 5]], [[2, 9], [5]], k=3) == pytest.approx(0.75)
    assert recall_at_k([[4, 2, 7], [1, 0, 5]], [[2, 9], [5]], k=1) == 0.0
    assert catalogue_coverage(np.array([[0, 1], [1, 2]]), n_items=10) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        catalogue_coverage(np.array([[0, 10]]), n_items=10)


def test_top_k_orders_breaks_ties_by_index_and_excludes():
    scores = np.array([[0.2, 0.9, 0.2, 0.5], [1.0, 1.0, 1.0, 1.0]])
    assert top_k(scores, 3).tolist() == [[1, 3, 0], [0, 1, 2]]
    assert top_k(scores, 2, exclude=[[1], [0, 2]]).tolist() == [[3, 0], [1, 3]]
    # excluded items never appear, even behind genuine -inf scores
    with_inf = np.array([[-np.inf, 0.0, -np.inf]])
    assert top_k(with_inf, 2, exclude=[[1]]).tolist() == [[0, 2]]
    with pytest.raises(ValueError, match="fewer than k"):
        top_k(scores, 4, exclude=[[1], []])


def test_evaluate_ranking_hand_computed():
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.1]])
    result = evaluate_ranking(scores, np.array([0, 0]), k=1)
    assert result == {
        "hit_rate@1": 0.5,
        "ndcg@1": 0.5,
        "mrr": 0.75,
        "coverage@1": pytest.approx(2 / 3),
        "n_targets": 2,
    }
    # excluding item 1 for row 2 lifts its target to rank 1
    excluded = evaluate_ranking(scores, np.array([0, 0]), exclude=[[], [1]], k=1)
    assert excluded["hit_rate@1"] == 1.0
    assert excluded["coverage@1"] == pytest.approx(1 / 3)


def test_expected_ndcg_hand_computed():
    scores = np.array([[3.0, 2.0, 1.0]])
    probs = np.array([[0.5, 0.5, 0.0]])
    assert expected_ndcg_at_k(scores, probs, k=2) == pytest.approx(0.5 + 0.5 / math.log2(3))
    assert expected_ndcg_at_k(scores, probs, k=1) == pytest.approx(0.5)
    # mass on an excluded item is a miss; excluding item 0 moves item 1 to position 1
    assert expected_ndcg_at_k(scores, probs, exclude=[[0]], k=1) == pytest.approx(0.5)


def test_expected_ndcg_of_constant_scorer_is_zero():
    probs = np.full((2, 20), 1 / 20)
    assert expected_ndcg_at_k(np.zeros((2, 20)), probs, k=10) == 0.0


def test_expected_ndcg_with_one_hot_truth_equals_realised_ndcg(monkeypatch):
    monkeypatch.setattr(metrics, "_CELLS_PER_CHUNK", 16)
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 5, size=(40, 12)).astype(float)  # many ties
    targets = rng.integers(0, 12, size=40)
    exclude = [np.setdiff1d(rng.choice(12, 3, replace=False), [t]) for t in targets]
    one_hot = np.eye(12)[targets]
    ranks = target_ranks(scores, targets, exclude)
    for k in (1, 3, 10):
        expected = expected_ndcg_at_k(scores, one_hot, exclude=exclude, k=k)
        assert expected == pytest.approx(ndcg_at_k(ranks, k))


def test_expected_ndcg_validates_probabilities():
    with pytest.raises(ValueError, match="sum to 1"):
        expected_ndcg_at_k(np.zeros((1, 3)), np.array([[0.5, 0.1, 0.1]]))
    with pytest.raises(ValueError, match="shape"):
        expected_ndcg_at_k(np.zeros((1, 3)), np.array([[1.0, 0.0]]))


def test_auc_hand_computed_and_ties_count_half():
    assert auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert auc(np.array([0, 1]), np.array([0.5, 0.5])) == 0.5
    assert auc(np.array([1, 0, 0]), np.array([0.9, 0.9, 0.1])) == 0.75


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_sklearn_with_many_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=500)
    scores = np.round(rng.random(500) + 0.3 * labels, 1)  # rounding creates ties
    assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_auc_needs_both_classes():
    with pytest.raises(ValueError, match="positive and one negative"):
        auc(np.array([1, 1]), np.array([0.2, 0.3]))


def test_log_loss_hand_computed_and_matches_sklearn():
    labels, probs = np.array([1, 0]), np.array([0.8, 0.4])
    assert log_loss(labels, probs) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    rng = np.random.default_rng(0)
    labels, probs = rng.integers(0, 2, 200), rng.uniform(0.01, 0.99, 200)
    assert log_loss(labels, probs) == pytest.approx(sklearn_log_loss(labels, probs))


def test_log_loss_clips_confident_mistakes():
    assert log_loss(np.array([1]), np.array([0.0]), eps=1e-3) == pytest.approx(-math.log(1e-3))
    assert log_loss(np.array([0]), np.array([1.0]), eps=1e-3) == pytest.approx(-math.log(1e-3))
    assert math.isfinite(log_loss(np.array([1, 0]), np.array([0.0, 1.0])))
    assert log_loss(np.array([1]), np.array([1.0])) == pytest.approx(0.0, abs=1e-12)

"""Search metrics per query: graded nDCG (ESCI gains), recall of the exact items, and the
reciprocal rank of the clicked item. Each returns one value per query, so that
`ecomrec.compare.paired_bootstrap` can put an interval on a difference.

Ties are pessimistic, as everywhere in the course (`ecomrec.metrics`): among items with equal
scores the less relevant ones are placed first, so a constant scorer never looks good.
"""

from __future__ import annotations

import numpy as np

from ecomrec.metrics import _check_k, _check_scores, target_ranks


def _pessimistic_order(scores: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """Item order by descending score, ties by ascending gain (the worst case)."""
    return np.lexsort((gains, -scores), axis=-1)


def graded_ndcg(scores: np.ndarray, gains: np.ndarray, k: int = 10) -> np.ndarray:
    """nDCG@k of each query with graded gains (ESCI: E 1, S 0.1, C 0.01, I 0).

    DCG@k = sum_{r=1..k} gain(item at rank r) / log2(r + 1); the ideal DCG sorts the gains.
    Queries whose gains are all zero get 0.

    >>> graded_ndcg(np.array([[0.9, 0.5, 0.1]]), np.array([[0.1, 1.0, 0.0]]), k=2).round(4)
    array([0.6876])
    """
    scores = _check_scores(scores)
    gains = np.asarray(gains, dtype=np.float64)
    if gains.shape != scores.shape:
        raise ValueError(f"gains {gains.shape} and scores {scores.shape} differ in shape")
    _check_k(k)
    k = min(k, scores.shape[1])
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    order = _pessimistic_order(scores, gains)[:, :k]
    dcg = (np.take_along_axis(gains, order, axis=1) * discount).sum(axis=1)
    ideal = (-np.sort(-gains, axis=1)[:, :k] * discount).sum(axis=1)
    return np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)


def exact_recall(scores: np.ndarray, relevant: np.ndarray, k: int = 100) -> np.ndarray:
    """Share of each query's relevant items (a boolean mask, e.g. ESCI Exact) in its top k.

    >>> exact_recall(np.array([[3.0, 2, 1, 0]]), np.array([[True, False, False, True]]), k=2)
    array([0.5])
    """
    scores = _check_scores(scores)
    relevant = np.asarray(relevant, dtype=bool)
    if relevant.shape != scores.shape:
        raise ValueError(f"relevant {relevant.shape} and scores {scores.shape} differ in shape")
    _check_k(k)
    order = _pessimistic_order(scores, relevant.astype(np.float64))[:, :k]
    hits = np.take_along_axis(relevant, order, axis=1).sum(axis=1)
    n_rel = relevant.sum(axis=1)
    return np.divide(hits, n_rel, out=np.zeros(len(hits)), where=n_rel > 0)


def reciprocal_ranks(scores: np.ndarray, clicked: np.ndarray) -> np.ndarray:
    """1 / rank of each query's clicked item over the whole catalogue (ties pessimistic)."""
    return 1.0 / target_ranks(scores, clicked)

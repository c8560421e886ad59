"""Combining retrievers: reciprocal-rank fusion and a weighted blend of normalised scores.

Reciprocal-rank fusion (Cormack, Clarke and Buettcher, 2009) adds, for every item, one over
(k + its rank) in each ranking: it needs no score calibration, only orders, and k = 60 damps
the influence of the very top ranks. A weighted blend instead rescales each retriever's scores
to [0, 1] per query and adds them with weights that validation queries choose.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _as_matrices(scores: Sequence[np.ndarray]) -> list[np.ndarray]:
    if len(scores) == 0:
        raise ValueError("give at least one score matrix to combine")
    mats = [np.atleast_2d(np.asarray(s, dtype=np.float64)) for s in scores]
    if len({m.shape for m in mats}) != 1:
        raise ValueError(f"score matrices differ in shape: {[m.shape for m in mats]}")
    if any(np.isnan(m).any() for m in mats):
        raise ValueError("scores contain NaN; a NaN cannot be ranked")
    return mats


def ranks_of(scores: np.ndarray) -> np.ndarray:
    """Rank (1 = best) of every item in each row; ties in item order (a stable sort)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, scores.shape[1] + 1)[None, :], axis=1)
    return ranks


def reciprocal_rank_fusion(
    scores: Sequence[np.ndarray], k: float = 60.0, depth: int | None = None
) -> np.ndarray:
    """RRF score sum_r 1 / (k + rank_r(item)) of every item, shape (n_queries, n_items).

    scores: one (n_queries, n_items) matrix per retriever, higher = better; an item scored
    -inf was not retrieved and gets nothing from that retriever (BM25 retrieves only
    listings that share a word with the query); depth: only the top `depth` of each
    ranking contribute (as when each retriever returns a list of that length).

    >>> reciprocal_rank_fusion([np.array([[3.0, 2, 1]]), np.array([[1.0, 3, 2]])], k=1)
    array([[0.75      , 0.83333333, 0.58333333]])
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    fused = None
    for m in _as_matrices(scores):
        ranks = ranks_of(m).astype(np.float64)
        contrib = np.where(np.isneginf(m), 0.0, 1.0 / (k + ranks))
        if depth is not None:
            contrib[ranks > depth] = 0.0
        fused = contrib if fused is None else fused + contrib
    return fused


def retrieved_only(scores: np.ndarray) -> np.ndarray:
    """Scores with every item scored 0 or less set to -inf: "not retrieved" for the fusion."""
    scores = np.asarray(scores, dtype=np.float64)
    return np.where(scores > 0, scores, -np.inf)


def minmax_rows(scores: np.ndarray) -> np.ndarray:
    """Each row rescaled to [0, 1]; a constant row becomes all zeros."""
    m = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    if np.isinf(m).any():
        raise ValueError("minmax_rows needs finite scores (-inf marks items not retrieved)")
    lo, hi = m.min(axis=1, keepdims=True), m.max(axis=1, keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    return (m - lo) / span


def weighted_blend(scores: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """sum_r w_r * minmax(scores_r): a linear mix of per-query normalised scores."""
    mats = _as_matrices(scores)
    if len(weights) != len(mats):
        raise ValueError(f"{len(mats)} score matrices but {len(weights)} weights")
    return sum(w * minmax_rows(m) for w, m in zip(weights, mats, strict=True))

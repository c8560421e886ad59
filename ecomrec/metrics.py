"""Ranking and click metrics, computed over the full item catalogue.

Every ranking metric here starts from the **rank of the held-out target** among all
items (minus the ones a caller excludes, e.g. already seen). Ranks come from one
function, :func:`target_ranks`; hit rate, NDCG and MRR are then one-liners on those
ranks, so the tie rule below is applied the same way everywhere. Negatives are never
sampled: a sampled-negative metric can reorder models (Krichene & Rendle, 2020).

Tie rule (pessimistic). The rank of the target is::

    1 + #(other kept items with a strictly greater score)
      + #(other kept items with an equal score)

i.e. the target is placed *after* every item it ties with. Why: a model that scores
every item the same (or a cheap model with many tied scores) must not look good. With
an optimistic rule a constant scorer would rank every target first and get a perfect
NDCG; with the pessimistic rule it gets the worst rank, as it deserves.

Example:
    >>> import numpy as np
    >>> scores = np.array([[0.1, 0.9, 0.5, 0.5]])
    >>> target_ranks(scores, np.array([2])).tolist()  # item 1 beats it, item 3 ties it
    [3]
    >>> round(ndcg_at_k(np.array([3]), k=10), 4)  # 1 / log2(3 + 1)
    0.5
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

# Rows processed at a time: bounds the temporary (rows x n_items) arrays to a few MB
# whatever the number of targets.
_CELLS_PER_CHUNK = 2**21

ExcludeLists = Sequence[np.ndarray | Sequence[int] | None] | None


def _row_chunks(n_rows: int, n_items: int) -> Iterator[slice]:
    """Yield row slices whose (rows x n_items) block holds about `_CELLS_PER_CHUNK` cells."""
    rows_per_chunk = max(1, _CELLS_PER_CHUNK // max(n_items, 1))
    for start in range(0, n_rows, rows_per_chunk):
        yield slice(start, min(start + rows_per_chunk, n_rows))


def _check_scores(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(
            f"scores must be a 2-D (n_targets, n_items) array, got shape {scores.shape}"
        )
    is_real = np.issubdtype(scores.dtype, np.integer) or np.issubdtype(scores.dtype, np.floating)
    if not is_real:
        raise ValueError(f"scores must be real numbers, got dtype {scores.dtype}")
    return scores


def _check_exclude(exclude: ExcludeLists, n_rows: int) -> None:
    if exclude is not None and len(exclude) != n_rows:
        raise ValueError(f"exclude has {len(exclude)} entries but scores has {n_rows} rows")


def _excluded_mask(exclude: ExcludeLists, rows: slice, n_items: int) -> np.ndarray:
    """Boolean (rows, n_items) mask, True where an item is removed from that row's ranking."""
    n_rows = rows.stop - rows.start
    mask = np.zeros((n_rows, n_items), dtype=bool)
    if exclude is None:
        return mask
    for offset, items in enumerate(exclude[rows]):
        if items is None or len(items) == 0:
            continue
        items = np.asarray(items, dtype=np.int64)
        if items.min() < 0 or items.max() >= n_items:
            raise ValueError(
                f"exclude[{rows.start + offset}] holds an item outside 0..{n_items - 1}"
            )
        mask[offset, items] = True
    return mask


def target_ranks(
    scores: np.ndarray, targets: np.ndarray, exclude: ExcludeLists = None
) -> np.ndarray:
    """Rank (1 = best) of each row's target among all non-excluded items, ties pessimistic.

    Args:
        scores: (n_targets, n_items) scores, higher = recommended first. No NaN.
        targets: (n_targets,) item index of the held-out item of each row.
        exclude: optional list (one entry per row) of item indices to drop from that
            row's ranking, e.g. items the user already saw. The target must not be in it.

    Returns:
        (n_targets,) int64 array of ranks in 1..n_items.

    Raises:
        ValueError: on NaN scores, mismatched shapes, or a target listed in `exclude`.

    Example:
        >>> target_ranks(np.array([[3.0, 1.0, 2.0]]), np.array([2])).tolist()
        [2]
        >>> target_ranks(np.array([[3.0, 1.0, 2.0]]), np.array([2]), exclude=[[0]]).tolist()
        [1]
        >>> target_ranks(np.zeros((1, 5)), np.array([0])).tolist()  # constant scorer: worst
        [5]
    """
    scores = _check_scores(scores)
    targets = np.asarray(targets, dtype=np.int64)
    n_rows, n_items = scores.shape
    if targets.shape != (n_rows,):
        raise ValueError(f"targets must have shape ({n_rows},), got {targets.shape}")
    if n_rows and (targets.min() < 0 or targets.max() >= n_items):
        raise ValueError(f"targets must be item indices in 0..{n_items - 1}")
    _check_exclude(exclude, n_rows)

    ranks = np.empty(n_rows, dtype=np.int64)
    for rows in _row_chunks(n_rows, n_items):
        block = scores[rows]
        if np.isnan(block).any():
            raise ValueError("scores contain NaN; a NaN cannot be ranked")
        excluded = _excluded_mask(exclude, rows, n_items)
        row_index = np.arange(block.shape[0])
        block_targets = targets[rows]
        hit_excluded = excluded[row_index, block_targets]
        if hit_excluded.any():
            bad_row = rows.start + int(np.flatnonzero(hit_excluded)[0])
            raise ValueError(
                f"row {bad_row}: the target item {int(targets[bad_row])} is in exclude; "
                "a target must stay rankable (remove it from the exclusion list)"
            )
        target_scores = block[row_index, block_targets][:, None]
        # Count of kept items scoring >= the target: the target itself (1) plus every
        # strictly better item plus every other tied item, i.e. the pessimistic rank.
        ranks[rows] = ((block >= target_scores) & ~excluded).sum(axis=1)
    return ranks


def _check_k(k: int) -> None:
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")


def hit_rate_at_k(ranks: np.ndarray, k: int) -> float:
    """Share of targets ranked in the top k (HR@K).

    Example:
        >>> hit_rate_at_k(np.array([1, 3, 11]), k=10)
        0.6666666666666666
    """
    _check_k(k)
    ranks = np.asarray(ranks)
    return float(np.mean(ranks <= k))


def ndcg_gains(ranks: np.ndarray, k: int) -> np.ndarray:
    """NDCG@K of each row for one relevant item: 1/log2(rank + 1) if rank <= k, else 0.

    The per-row values behind :func:`ndcg_at_k`, for intervals over users
    (:func:`ecomrec.compare.paired_bootstrap`).

    Example:
        >>> ndcg_gains(np.array([1, 3, 11]), k=10).tolist()
        [1.0, 0.5, 0.0]
    """
    _check_k(k)
    ranks = np.asarray(ranks, dtype=np.float64)
    return np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0)


def ndcg_at_k(ranks: np.ndarray, k: int) -> float:
    """Mean NDCG@K for one relevant item per row: 1/log2(rank + 1) if rank <= k, else 0.

    With a single relevant item the ideal DCG is 1, so NDCG equals DCG.

    Example:
        >>> ndcg_at_k(np.array([1, 3, 11]), k=10)  # (1 + 0.5 + 0) / 3
        0.5
    """
    return float(np.mean(ndcg_gains(ranks, k)))


def mrr(ranks: np.ndarray, k: int | None = None) -> float:
    """Mean reciprocal rank over the full ranking; with `k`, ranks beyond k count as 0.

    Example:
        >>> mrr(np.array([1, 4]))
        0.625
        >>> mrr(np.array([1, 4]), k=3)
        0.5
    """
    ranks = np.asarray(ranks, dtype=np.float64)
    reciprocal = 1.0 / ranks
    if k is not None:
        _check_k(k)
        reciprocal = np.where(ranks <= k, reciprocal, 0.0)
    return float(np.mean(reciprocal))


def recall_at_k(
    recommended: np.ndarray | Sequence[Sequence[int]],
    relevant: Sequence[np.ndarray | Sequence[int]],
    k: int | None = None,
) -> float:
    """Mean over rows of |top-k recommended ∩ relevant| / |relevant|.

    For the course's one-held-out-item splits this equals :func:`hit_rate_at_k`; it is
    here for rows with several relevant items (e.g. all items bought next week).
    Rows with no relevant item are skipped.

    Args:
        recommended: per row, item indices in recommended order (e.g. from :func:`top_k`).
        relevant: per row, the relevant item indices.
        k: cut-off; defaults to the length of each recommended list.

    Example:
        >>> recall_at_k([[4, 2, 7], [1, 0, 5]], [[2, 9], [5]], k=3)  # (1/2 + 1/1) / 2
        0.75
    """
    if k is not None:
        _check_k(k)
    if len(recommended) != len(relevant):
        raise ValueError("recommended and relevant must have one entry per row")
    recalls = []
    for row_recommended, row_relevant in zip(recommended, relevant, strict=True):
        relevant_set = set(np.asarray(row_relevant).tolist())
        if not relevant_set:
            continue
        top = np.asarray(row_recommended)[: k if k is not None else None].tolist()
        recalls.append(len(relevant_set.intersection(top)) / len(relevant_set))
    if not recalls:
        raise ValueError("no row has a relevant item")
    return float(np.mean(recalls))


def catalogue_coverage(recommended: np.ndarray | Sequence[Sequence[int]], n_items: int) -> float:
    """Share of the catalogue that appears in at least one recommendation list.

    Low coverage means the model shows everyone the same few (usually popular) items.

    Example:
        >>> catalogue_coverage(np.array([[0, 1], [1, 2]]), n_items=10)
        0.3
    """
    if n_items < 1:
        raise ValueError("n_items must be positive")
    lists = [np.asarray(row, dtype=np.int64).ravel() for row in recommended]
    shown = np.unique(np.concatenate(lists)) if lists else np.empty(0, dtype=np.int64)
    if shown.size and (shown[0] < 0 or shown[-1] >= n_items):
        raise ValueError(f"recommended items must be in 0..{n_items - 1}")
    return shown.size / n_items


def top_k(scores: np.ndarray, k: int, exclude: ExcludeLists = None) -> np.ndarray:
    """Indices of the k best-scored non-excluded items per row, best first.

    Ties are broken by the lower item index (a stable sort on -score), a fixed,
    deterministic order. Note this is a *list* and cannot be pessimistic the way
    :func:`target_ranks` is: with ties, some tied item has to be shown first.

    Raises:
        ValueError: if a row has fewer than k items left after exclusion.

    Example:
        >>> top_k(np.array([[0.2, 0.9, 0.2, 0.5]]), k=3).tolist()
        [[1, 3, 0]]
        >>> top_k(np.array([[0.2, 0.9, 0.2, 0.5]]), k=2, exclude=[[1]]).tolist()
        [[3, 0]]
    """
    scores = _check_scores(scores)
    _check_k(k)
    n_rows, n_items = scores.shape
    _check_exclude(exclude, n_rows)
    if k > n_items:
        raise ValueError(f"k={k} is larger than the catalogue ({n_items} items)")
    result = np.empty((n_rows, k), dtype=np.int64)
    for rows in _row_chunks(n_rows, n_items):
        excluded = _excluded_mask(exclude, rows, n_items)
        if (n_items - excluded.sum(axis=1) < k).any():
            raise ValueError(f"some row has fewer than k={k} items left after exclusion")
        order, _ = _sort_descending(scores[rows], excluded)
        result[rows] = order[:, :k]
    return result


def _sort_descending(block: np.ndarray, excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Item order by descending score, ties by item index, excluded items last.

    Returns the order and the sorted negated scores, with NaN at excluded positions so
    that no kept item ever forms a tie group with an excluded one.
    """
    negated = -block.astype(np.float64)
    if np.isnan(negated).any():
        raise ValueError("scores contain NaN; a NaN cannot be ranked")
    negated[excluded] = np.nan  # argsort puts NaN after everything, even after -inf scores
    order = np.argsort(negated, axis=1, kind="stable")
    return order, np.take_along_axis(negated, order, axis=1)


def expected_ndcg_at_k(
    scores: np.ndarray,
    true_probs: np.ndarray,
    exclude: ExcludeLists = None,
    k: int = 10,
) -> float:
    """Mean over rows of :func:`expected_ndcg_gains` (see there).

    Example:
        >>> scores = np.array([[3.0, 2.0, 1.0]])
        >>> round(expected_ndcg_at_k(scores, np.array([[0.5, 0.5, 0.0]]), k=2), 4)
        0.8155
    """
    return float(expected_ndcg_gains(scores, true_probs, exclude, k).mean())


def expected_ndcg_gains(
    scores: np.ndarray,
    true_probs: np.ndarray,
    exclude: ExcludeLists = None,
    k: int = 10,
) -> np.ndarray:
    """Per row, the NDCG@K expected when the target is drawn from `true_probs`.

    For a row with target distribution p, this is ``sum_i p_i * NDCG@K(rank_i)`` where
    rank_i is item i's rank under the same pessimistic tie rule as :func:`target_ranks`.
    Without ties that is the sum over the top-k positions j of p(item at j)/log2(j + 1).
    With ties every tied item gets the last position of its tie group, so the value is
    exactly the expectation of :func:`ndcg_at_k` (a constant scorer gets 0 when
    n_items > k). Averaging over the true distribution removes the sampling noise of the
    one realised target, which is why the course compares models with it.

    Probability mass on excluded items counts as a miss (it is not renormalised).

    Args:
        scores: (n_targets, n_items) model scores.
        true_probs: (n_targets, n_items) true next-item probabilities, rows summing to 1.
        exclude: optional per-row item lists removed from the ranking.
        k: cut-off.

    Example:
        >>> scores = np.array([[3.0, 2.0, 1.0]])
        >>> expected_ndcg_gains(scores, np.array([[0.5, 0.5, 0.0]]), k=2).round(4).tolist()
        [0.8155]
    """
    scores = _check_scores(scores)
    _check_k(k)
    true_probs = np.asarray(true_probs, dtype=np.float64)
    if true_probs.shape != scores.shape:
        raise ValueError(f"true_probs shape {true_probs.shape} != scores shape {scores.shape}")
    if (true_probs < 0).any():
        raise ValueError("true_probs must be non-negative")
    if not np.allclose(true_probs.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("each row of true_probs must sum to 1")
    n_rows, n_items = scores.shape
    _check_exclude(exclude, n_rows)

    expected = np.empty(n_rows, dtype=np.float64)
    positions = np.arange(n_items)
    for rows in _row_chunks(n_rows, n_items):
        excluded = _excluded_mask(exclude, rows, n_items)
        order, sorted_scores = _sort_descending(scores[rows], excluded)
        # Pessimistic rank of each sorted position = 1 + index of the last position of its
        # tie group. Group ends are where the next sorted score differs (or the row ends);
        # excluded items are NaN, unequal to everything, so they end every group.
        is_group_end = np.ones_like(sorted_scores, dtype=bool)
        is_group_end[:, :-1] = sorted_scores[:, :-1] != sorted_scores[:, 1:]
        end_positions = np.where(is_group_end, positions, n_items)
        last_of_group = np.minimum.accumulate(end_positions[:, ::-1], axis=1)[:, ::-1]
        ranks = last_of_group + 1.0
        gains = np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0)
        gains[np.take_along_axis(excluded, order, axis=1)] = 0.0
        sorted_probs = np.take_along_axis(true_probs[rows], order, axis=1)
        expected[rows] = (sorted_probs * gains).sum(axis=1)
    return expected


def evaluate_ranking(
    scores: np.ndarray,
    targets: np.ndarray,
    exclude: ExcludeLists = None,
    k: int = 10,
) -> dict[str, float]:
    """Full-catalogue evaluation of next-item scores: HR@K, NDCG@K, MRR, coverage@K.

    Returns a dict with keys ``hit_rate@{k}``, ``ndcg@{k}``, ``mrr`` (no cut-off),
    ``coverage@{k}`` (share of the catalogue in at least one top-k list) and
    ``n_targets``. All values are plain Python numbers, ready for :mod:`ecomrec.results`.

    Example:
        >>> scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.1]])
        >>> evaluate_ranking(scores, np.array([0, 0]), k=1)
        {'hit_rate@1': 0.5, 'ndcg@1': 0.5, 'mrr': 0.75, 'coverage@1': 0.6666666666666666, 'n_targets': 2}
    """  # noqa: E501
    ranks = target_ranks(scores, targets, exclude)
    n_items = np.asarray(scores).shape[1]
    return {
        f"hit_rate@{k}": hit_rate_at_k(ranks, k),
        f"ndcg@{k}": ndcg_at_k(ranks, k),
        "mrr": mrr(ranks),
        f"coverage@{k}": catalogue_coverage(top_k(scores, k, exclude), n_items),
        "n_targets": int(len(ranks)),
    }


def auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Area under the ROC curve from ranks (Mann-Whitney U), tied scores get average ranks.

    AUC is the probability that a random positive is scored above a random negative
    (ties count one half). Same value as ``sklearn.metrics.roc_auc_score``.

    Example:
        >>> auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
        0.75
    """
    y_true = np.asarray(y_true).ravel()
    y_score = np.asarray(y_score, dtype=np.float64).ravel()
    if y_true.shape != y_score.shape:
        raise ValueError("y_true and y_score must have the same length")
    if not np.isin(y_true, (0, 1)).all():
        raise ValueError("y_true must hold only 0/1 (or False/True)")
    positive = y_true.astype(bool)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs at least one positive and one negative")
    if np.isnan(y_score).any():
        raise ValueError("y_score contains NaN")

    order = np.argsort(y_score, kind="stable")
    sorted_scores = y_score[order]
    # Average rank (1-based) of each tie group: mean of its first and last positions.
    group_starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    group_ends = np.r_[group_starts[1:], sorted_scores.size]  # exclusive
    group_mean_rank = (group_starts + 1 + group_ends) / 2.0
    group_sizes = group_ends - group_starts
    average_ranks = np.empty(y_score.size, dtype=np.float64)
    average_ranks[order] = np.repeat(group_mean_rank, group_sizes)

    u_statistic = average_ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u_statistic / (n_pos * n_neg))


def log_loss(y_true: np.ndarray, y_prob: np.ndarray, eps: float = 1e-15) -> float:
    """Mean binary cross-entropy, with probabilities clipped to [eps, 1 - eps].

    Clipping keeps one confident mistake (p = 0 for a positive) from making the mean
    infinite; it still costs -log(eps), about 34.5 nats for the default eps.

    Example:
        >>> round(log_loss(np.array([1, 0]), np.array([0.8, 0.4])), 4)  # -(ln .8 + ln .6) / 2
        0.367
    """
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_prob = np.asarray(y_prob, dtype=np.float64).ravel()
    if y_true.shape != y_prob.shape:
        raise ValueError("y_true and y_prob must have the same length")
    if not np.isin(y_true, (0.0, 1.0)).all():
        raise ValueError("y_true must hold only 0/1")
    if not 0.0 < eps < 0.5:
        raise ValueError("eps must be in (0, 0.5)")
    y_prob = np.clip(y_prob, eps, 1.0 - eps)
    losses = -(y_true * np.log(y_prob) + (1.0 - y_true) * np.log1p(-y_prob))
    return float(losses.mean())

"""Social recommendation: blend what friends bought into a recommender's scores.

The signal: for a target view by user u at time t, the items u's friends purchased in the
`window_days` before t. Only purchases **strictly before t** count; a purchase at or
after the moment we predict is the future, and using it would leak.

The blend puts both signals on one scale per row and mixes them,

    blended = (1 - w) * minmax(base) + w * friends / max(friends),

so ``w = 0`` is the recommender alone. Rows whose user has no friend purchase in the
window keep the recommender's order. Accuracy is NDCG/Recall over the full catalogue;
diversity is intra-list diversity (the share of pairs in a top-k list from different
categories) and catalogue coverage (the share of items shown to at least one user).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ecomrec import schema as S
from ecomrec.datasets.social import PurchaseLog, friend_lists, seconds_since_start
from ecomrec.metrics import (
    ExcludeLists,
    catalogue_coverage,
    hit_rate_at_k,
    ndcg_at_k,
    target_ranks,
    top_k,
)


def friend_purchase_counts(
    events: pd.DataFrame,
    friendships: pd.DataFrame,
    targets: pd.DataFrame,
    n_items: int,
    window_days: float | None = 30.0,
) -> np.ndarray:
    """How often each item was bought by the target user's friends shortly before the target.

    The rule is ShopSim's own (:meth:`ecomrec.datasets.social.PurchaseLog.friends_bought`),
    the one the simulator and the oracle use.

    Args:
        events: the events table (only ``purchase`` rows are read).
        friendships: undirected edges (``user_a``, ``user_b``).
        targets: one row per target with ``user_id`` and ``timestamp`` (e.g. ``split.test``).
        n_items: catalogue size.
        window_days: only purchases in ``[t - window_days, t)`` count; None: all before t.

    Returns:
        float64 ``(len(targets), n_items)``; row r counts, per item, the purchases by
        friends of ``targets.iloc[r]``'s user strictly before its timestamp.
    """
    target_users = targets[S.USER].to_numpy(dtype=np.int64)
    ids = [events[S.USER].to_numpy(), friendships[S.USER_A].to_numpy()]
    ids += [friendships[S.USER_B].to_numpy(), target_users]
    n_users = int(max((part.max() for part in ids if len(part)), default=-1)) + 1
    friends = friend_lists(friendships, n_users)
    purchases = PurchaseLog.from_events(events, n_users)
    window = None if window_days is None else window_days * 86400.0
    times = seconds_since_start(targets[S.TIMESTAMP])
    counts = np.zeros((len(targets), n_items))
    for row, (user, time) in enumerate(zip(target_users, times, strict=True)):
        bought = purchases.friends_bought(friends[user], int(time), window)
        if bought:
            counts[row, list(bought)] = list(bought.values())
    return counts


def minmax_rows(scores: np.ndarray) -> np.ndarray:
    """Rescale each row to [0, 1] (a constant row becomes zeros); the order is unchanged.

    Example:
        >>> minmax_rows(np.array([[1.0, 3.0, 2.0], [5.0, 5.0, 5.0]])).tolist()
        [[0.0, 1.0, 0.5], [0.0, 0.0, 0.0]]
    """
    scores = np.asarray(scores, dtype=np.float64)
    low = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - low
    return np.divide(scores - low, span, out=np.zeros_like(scores), where=span > 0)


def blend_scores(base: np.ndarray, friends: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - w) * minmax(base) + w * friends / rowmax(friends)`` (rows without friends: 0).

    Example:
        >>> blend_scores(np.array([[0.0, 2.0, 4.0]]), np.array([[2.0, 1.0, 0.0]]), 0.5).tolist()
        [[0.5, 0.5, 0.5]]
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    friends = np.asarray(friends, dtype=np.float64)
    if friends.shape != np.shape(base):
        raise ValueError(f"friends shape {friends.shape} != base shape {np.shape(base)}")
    top = friends.max(axis=1, keepdims=True)
    social = np.divide(friends, top, out=np.zeros_like(friends), where=top > 0)
    return (1.0 - weight) * minmax_rows(base) + weight * social


def intra_list_diversity(recommended: np.ndarray, item_labels: np.ndarray) -> float:
    """Mean over lists of the share of item pairs whose labels (e.g. categories) differ.

    0 when every list stays in one category, 1 when no two items of a list share one.

    Example:
        >>> labels = np.array(["phone", "phone", "case", "mug"])
        >>> intra_list_diversity(np.array([[0, 1, 2], [1, 2, 3]]), labels)  # (2/3 + 3/3) / 2
        0.8333333333333334
    """
    recommended = np.asarray(recommended, dtype=np.int64)
    if recommended.ndim != 2 or recommended.shape[1] < 2:
        raise ValueError("recommended must be (n_lists, k) with k >= 2")
    codes = np.unique(np.asarray(item_labels), return_inverse=True)[1].ravel()[recommended]
    k = recommended.shape[1]
    same_pairs = ((codes[:, :, None] == codes[:, None, :]).sum(axis=(1, 2)) - k) / 2
    return float(np.mean(1.0 - same_pairs / (k * (k - 1) / 2)))


def ranking_and_diversity(
    scores: np.ndarray,
    targets: np.ndarray,
    exclude: ExcludeLists,
    item_labels: np.ndarray,
    k: int = 20,
) -> dict[str, float]:
    """NDCG@k and Recall@k of the targets, intra-list diversity@k and coverage@k of the lists.

    With one target per row Recall@k equals the hit rate.
    """
    ranks = target_ranks(scores, targets, exclude)
    lists = top_k(scores, k, exclude)
    return {
        f"ndcg@{k}": ndcg_at_k(ranks, k),
        f"recall@{k}": hit_rate_at_k(ranks, k),
        f"ild@{k}": intra_list_diversity(lists, item_labels),
        f"coverage@{k}": catalogue_coverage(lists, np.asarray(scores).shape[1]),
    }


def blend_sweep(
    base: np.ndarray,
    friends: np.ndarray,
    weights: Sequence[float],
    targets: np.ndarray,
    exclude: ExcludeLists,
    item_labels: np.ndarray,
    k: int = 20,
) -> pd.DataFrame:
    """:func:`ranking_and_diversity` of :func:`blend_scores` for each weight, one row each."""
    rows = [
        {"weight": float(w)}
        | ranking_and_diversity(blend_scores(base, friends, w), targets, exclude, item_labels, k)
        for w in weights
    ]
    return pd.DataFrame(rows).set_index("weight")

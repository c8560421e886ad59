"""Stage one: candidate sources, each a few lines, and their union.

Every source scores the whole catalogue for each target (a ``(n_targets, n_items)``
float array, ``-inf`` where the source proposes nothing) from what is known before the
target. :func:`merge_candidates` takes the top of each source in turn until it has `k`
distinct unseen items per target, and :func:`candidate_recall` measures how often the true
next item is among them. The sources follow the four things that drive a ShopSim view, each
estimated from the log:

=================  ==============================================================
``co-occurrence``  neighbours of the last five views (:class:`ItemCooccurrence`)
``mission``        within a session: the category of the session's first view,
                   its price tier first, by popularity
``complements``    categories that follow the last three views' categories (lift),
                   the same brand as the view first
``friends``        what the user's friends bought in the last 30 days
``taste``          the user's long-term categories, by popularity
``popular``        the most viewed items
=================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ecomrec.ranking.statistics import ShopStatistics
from ecomrec.ranking.targets import RankingTargets
from ecomrec.scoring import ScoringContext

SOURCE_NAMES = ("co-occurrence", "mission", "complements", "friends", "taste", "popular")


def _log_popularity(stats: ShopStatistics) -> np.ndarray:
    return np.log1p(stats.popularity)


def cooccurrence_source(stats: ShopStatistics, targets: RankingTargets) -> np.ndarray:
    context = ScoringContext(targets.users, targets.histories)
    return stats.cooccurrence.score(context)


def mission_source(stats: ShopStatistics, targets: RankingTargets) -> np.ndarray:
    missions = targets.mission_items()
    out = np.full((len(targets), stats.n_items), -np.inf)
    pop = _log_popularity(stats)
    for row in np.flatnonzero(missions >= 0):
        m = missions[row]
        in_cat = stats.item_category == stats.item_category[m]
        same_tier = stats.item_tier == stats.item_tier[m]
        out[row, in_cat] = (pop + 100.0 * same_tier)[in_cat]  # the mission's tier first
    return out


def complement_source(
    stats: ShopStatistics, targets: RankingTargets, recency: tuple[float, ...] = (1.0, 0.5, 0.25)
) -> np.ndarray:
    out = np.zeros((len(targets), stats.n_items))
    pop = stats.popularity + 1.0
    for row, history in enumerate(targets.histories):
        for weight, item in zip(recency, history[::-1][: len(recency)], strict=False):
            lift = np.maximum(stats.category_lift[stats.item_category[item]] - 1.0, 0.0)
            same_brand = np.where(stats.item_brand == stats.item_brand[item], 4.0, 1.0)
            out[row] += weight * lift[stats.item_category] * same_brand * pop
    return np.where(out > 0, out, -np.inf)


def friends_source(stats: ShopStatistics, targets: RankingTargets) -> np.ndarray:
    out = np.full((len(targets), stats.n_items), -np.inf)
    for row, counts in enumerate(stats.friend_purchases(targets.users, targets.times)):
        if counts:
            items = np.fromiter(counts, dtype=np.int64)
            out[row, items] = np.fromiter(counts.values(), dtype=np.float64)
    return out + 1e-3 * _log_popularity(stats)  # popular first among equal counts


def taste_source(stats: ShopStatistics, targets: RankingTargets) -> np.ndarray:
    out = np.full((len(targets), stats.n_items), -np.inf)
    pop = stats.popularity + 1.0
    for row, history in enumerate(targets.histories):
        if len(history):
            share = np.bincount(stats.item_category[history], minlength=stats.n_categories)
            out[row] = np.where(
                share[stats.item_category] > 0, share[stats.item_category] * pop, -np.inf
            )
    return out


def popular_source(stats: ShopStatistics, targets: RankingTargets) -> np.ndarray:
    return np.tile(stats.popularity, (len(targets), 1))


SOURCES = {
    "co-occurrence": cooccurrence_source,
    "mission": mission_source,
    "complements": complement_source,
    "friends": friends_source,
    "taste": taste_source,
    "popular": popular_source,
}


def source_scores(
    stats: ShopStatistics, targets: RankingTargets, names: tuple[str, ...] = SOURCE_NAMES
) -> dict[str, np.ndarray]:
    """Each named source's scores for every target, ``-inf`` where it proposes nothing."""
    unknown = sorted(set(names) - set(SOURCES))
    if unknown:
        raise ValueError(f"unknown candidate sources {unknown}: choose from {list(SOURCES)}")
    return {name: SOURCES[name](stats, targets) for name in names}


def _seen_mask(histories: list[np.ndarray], n_items: int) -> np.ndarray:
    mask = np.zeros((len(histories), n_items), dtype=bool)
    for row, history in enumerate(histories):
        mask[row, history] = True
    return mask


def source_ranks(scores: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Rank (0 = best) of every item in one source, ``inf`` where it proposes nothing or seen."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty(scores.shape, dtype=np.float64)
    np.put_along_axis(ranks, order, np.arange(scores.shape[1], dtype=np.float64)[None, :], axis=1)
    # rank among the proposable items only: seen items and -inf do not use up places
    usable = np.isfinite(scores) & ~seen
    usable_sorted = np.take_along_axis(usable, order, axis=1)
    places = np.cumsum(usable_sorted, axis=1) - 1.0
    out = np.full(scores.shape, np.inf)
    np.put_along_axis(out, order, np.where(usable_sorted, places, np.inf), axis=1)
    return out


def union_order(
    scores: Mapping[str, np.ndarray],
    histories: list[np.ndarray],
    quotas: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Every item's place in the union of the sources (lower = earlier, ``inf`` = never).

    An item's place is its best rank over the sources, each rank divided by the source's
    quota (default 1: a plain round robin), ties broken by source order. Items in the
    target's history never get a place (ShopSim users do not view an item twice).
    """
    names = list(scores)
    if not names:
        raise ValueError("the union needs at least one source")
    quotas = dict(quotas or {})
    unknown = sorted(set(quotas) - set(names))
    if unknown:
        raise ValueError(f"quotas name sources {unknown} that are not among {names}")
    seen = _seen_mask(histories, scores[names[0]].shape[1])
    key = np.full(seen.shape, np.inf)
    for index, name in enumerate(names):
        quota = quotas.get(name, 1.0)
        if quota <= 0:
            raise ValueError(f"the quota of {name!r} must be positive, got {quota}")
        key = np.minimum(key, (source_ranks(scores[name], seen) + 1.0) / quota + index * 1e-6)
    return key


def top_candidates(order: np.ndarray, k: int) -> np.ndarray:
    """The `k` items with the lowest place per row of :func:`union_order`, best first."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if (np.isfinite(order).sum(axis=1) < k).any():
        raise ValueError(
            f"some targets have fewer than k={k} proposable items: lower k or add the "
            "'popular' source, which proposes every item"
        )
    top = np.argpartition(order, k - 1, axis=1)[:, :k]
    rank = np.argsort(np.take_along_axis(order, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, rank, axis=1)


def merge_candidates(
    scores: Mapping[str, np.ndarray],
    histories: list[np.ndarray],
    k: int,
    quotas: Mapping[str, float] | None = None,
) -> np.ndarray:
    """The `k` candidates of each target, ``(n_targets, k)`` item ids, best first.

    The sources' top items are taken in turn (see :func:`union_order`), seen items left out.
    """
    return top_candidates(union_order(scores, histories, quotas), k)


def candidate_recall(candidates, targets) -> float:
    """Share of targets whose true item is among their candidates (duplicates count once).

    `candidates` is an ``(n, k)`` array or a list of n item sequences (of any length,
    possibly empty); `targets` holds the n true items.

    Example:
        >>> candidate_recall([[3, 3, 1], [], [2]], [1, 5, 2])
        0.6666666666666666
    """
    targets = np.asarray(targets)
    if len(candidates) != len(targets):
        raise ValueError(f"{len(candidates)} candidate sets for {len(targets)} targets")
    if len(targets) == 0:
        raise ValueError("candidate_recall needs at least one target")
    hits = [int(t) in set(np.asarray(c).tolist()) for c, t in zip(candidates, targets, strict=True)]
    return float(np.mean(hits))


def candidate_mass(candidates, probabilities: np.ndarray) -> float:
    """Mean share of the true next-view probability that each target's candidates cover.

    `probabilities` is ``(n, n_items)``, each row the simulator's true next-view
    distribution (:func:`ecomrec.oracle.oracle_probabilities`, zero on seen items);
    `candidates` an ``(n, k)`` array or n item sequences (duplicates count once). Recall
    against the realised targets is this number plus sampling noise: a candidate set of
    size k covers at most the mass of the oracle's own top k.

    Example:
        >>> candidate_mass([[0, 0], [2]], np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]))
        0.65
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or len(candidates) != len(probabilities):
        raise ValueError(
            f"{len(candidates)} candidate sets for probabilities of shape {probabilities.shape}: "
            "give one (n_items,) distribution per target"
        )
    if len(probabilities) == 0:
        raise ValueError("candidate_mass needs at least one target")
    covered = [
        probabilities[row, np.unique(np.asarray(c, dtype=np.int64))].sum()
        for row, c in enumerate(candidates)
    ]
    return float(np.mean(covered))


def mass_curve(
    scores: Mapping[str, np.ndarray],
    histories: list[np.ndarray],
    probabilities: np.ndarray,
    ks: list[int],
    quotas: Mapping[str, float] | None = None,
    union: bool = True,
) -> dict[str, dict[int, float]]:
    """Like :func:`recall_curve`, against the true next-view probabilities instead of the
    realised targets: the mean probability mass each source's top k (and the union's) covers.

    Passing the probabilities themselves as a source (``{"oracle": probabilities}``,
    ``union=False``) gives the ceiling: the mass of the oracle's own top k.
    """
    first = next(iter(scores.values()))
    seen = _seen_mask(histories, first.shape[1])
    p = np.where(seen, 0.0, np.asarray(probabilities, dtype=np.float64))
    out: dict[str, dict[int, float]] = {}
    for name, s in scores.items():
        rank = source_ranks(s, seen)
        out[name] = {k: float(np.where(rank < k, p, 0.0).sum(axis=1).mean()) for k in ks}
    if union:
        order = union_order(scores, histories, quotas)
        out["union"] = {k: candidate_mass(top_candidates(order, k), p) for k in ks}
    return out


def recall_curve(
    scores: Mapping[str, np.ndarray],
    histories: list[np.ndarray],
    targets: np.ndarray,
    ks: list[int],
    quotas: Mapping[str, float] | None = None,
) -> dict[str, dict[int, float]]:
    """Recall@k of each source alone (its own top k) and of the union, for every k in `ks`."""
    first = next(iter(scores.values()))
    seen = _seen_mask(histories, first.shape[1])
    rows = np.arange(len(targets))
    out: dict[str, dict[int, float]] = {}
    for name, s in scores.items():
        rank = source_ranks(s, seen)[rows, targets]
        out[name] = {k: float(np.mean(rank < k)) for k in ks}
    order = union_order(scores, histories, quotas)
    out["union"] = {k: candidate_recall(top_candidates(order, k), targets) for k in ks}
    return out

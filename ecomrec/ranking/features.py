"""Features of (target, candidate) pairs, each estimated from what is known before the target.

:func:`ranking_features` returns a :class:`FeatureTable`: an ``(n_targets, k, n_features)``
float32 array for the candidates of each target, the feature names and their groups. Every
value comes from the target's history (its user's views strictly before it), the global
:class:`~ecomrec.ranking.statistics.ShopStatistics` (fitted on a log that leaves the targets
out) or friends' purchases strictly before the target's time; the simulator's truth is
never read. The groups follow what drives a ShopSim view:

- ``user``: the user's share of views in the item's category, price tier and (within the
  item's department) brand, smoothed towards the overall shares; the history's length;
- ``item``: log popularity and the price tier;
- ``session``: whether the target continues a session, whether the item shares the
  mission's (the session's first view's) category, tier and brand, and the last view's
  category; the number of views so far in the session;
- ``complements``: the log category lift from each of the last three views to the item,
  and whether the item has that view's brand;
- ``friends``: purchases of the item by the user's friends in the last 30 days, as a count
  and as a share of all their recent purchases;
- ``sequence``: the co-occurrence and (log) Markov scores of the baselines;
- ``gru`` (only when a ``sequence_model`` is given, e.g. lesson 02's GRU as a
  :class:`~ecomrec.models.recommender.SequenceRecommender`): the model's log-probability of
  the item among the unseen items and the log of its rank there. Fit that model on a log
  that leaves the targets out (for the ranker's training targets: the statistics log of
  :func:`~ecomrec.ranking.targets.training_targets`), or it scores transitions it was
  trained on and the ranker learns to trust it more than it deserves on the test targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecomrec.ranking.statistics import ShopStatistics
from ecomrec.ranking.targets import RankingTargets
from ecomrec.scoring import NextItemScorer, ScoringContext

FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "user": ("user_category_share", "user_tier_share", "user_brand_share", "log_history_length"),
    "item": ("log_popularity", "price_tier"),
    "session": (
        "within_session",
        "mission_category",
        "mission_tier",
        "mission_brand",
        "last_category",
        "session_views",
    ),
    "complements": ("lift_1", "lift_2", "lift_3", "brand_1", "brand_2", "brand_3"),
    "friends": ("friend_purchases", "friend_share"),
    "sequence": ("cooccurrence", "log_markov"),
}
FEATURE_NAMES: tuple[str, ...] = tuple(n for names in FEATURE_GROUPS.values() for n in names)
SEQUENCE_MODEL_GROUP: dict[str, tuple[str, ...]] = {"gru": ("gru_log_prob", "gru_log_rank")}


@dataclass(frozen=True)
class FeatureTable:
    """Features of each target's candidates.

    Attributes:
        values: (n_targets, k, n_features) float32.
        names: the feature names, in column order; groups: group -> its feature names.
        candidates: (n_targets, k) the candidate item ids the rows describe.
        labels: (n_targets, k) 1.0 where the candidate is the target's true item, else 0.
    """

    values: np.ndarray
    names: tuple[str, ...]
    groups: dict[str, tuple[str, ...]]
    candidates: np.ndarray
    labels: np.ndarray

    def columns(self, names) -> np.ndarray:
        """The column indices of `names` (feature or group names)."""
        wanted: list[str] = []
        for name in names:
            wanted.extend(self.groups.get(name, (name,)))
        unknown = sorted(set(wanted) - set(self.names))
        if unknown:
            raise KeyError(f"unknown features {unknown}: choose from {list(self.names)}")
        return np.array([self.names.index(n) for n in wanted], dtype=np.int64)

    def without(self, group: str) -> FeatureTable:
        """The same table with one group of features left out (for an ablation)."""
        if group not in self.groups:
            raise KeyError(f"unknown feature group {group!r}: choose from {list(self.groups)}")
        drop = set(self.groups[group])
        keep = [i for i, n in enumerate(self.names) if n not in drop]
        return FeatureTable(
            self.values[:, :, keep],
            tuple(self.names[i] for i in keep),
            {g: f for g, f in self.groups.items() if g != group},
            self.candidates,
            self.labels,
        )


def _counts(codes: np.ndarray, histories: list[np.ndarray], size: int) -> np.ndarray:
    out = np.zeros((len(histories), size))
    for row, history in enumerate(histories):
        if len(history):
            out[row] = np.bincount(codes[history], minlength=size)
    return out


def sequence_model_features(
    model: NextItemScorer, targets: RankingTargets, candidates: np.ndarray
) -> dict[str, np.ndarray]:
    """The ``gru`` group: a next-item model's log-probability of each candidate and the log
    of its rank (1 = the model's favourite), both among the items not yet in the history."""
    scores = np.asarray(model.score(targets.scoring_context()), dtype=np.float64)
    if scores.shape != (len(targets), model.n_items):
        raise ValueError(f"the model scored {scores.shape}, expected ({len(targets)}, n_items)")
    for row, history in enumerate(targets.histories):
        scores[row, history] = -np.inf  # seen items are never the next view
    log_p = scores - np.logaddexp.reduce(scores, axis=1, keepdims=True)
    chosen = np.take_along_axis(log_p, candidates, axis=1)
    order = np.argsort(-log_p, axis=1, kind="stable")
    ranks = np.empty(log_p.shape)
    np.put_along_axis(ranks, order, np.arange(1.0, log_p.shape[1] + 1.0)[None, :], axis=1)
    rank = np.take_along_axis(ranks, candidates, axis=1)
    return {"gru_log_prob": np.maximum(chosen, -50.0), "gru_log_rank": np.log(rank)}


def ranking_features(
    stats: ShopStatistics,
    targets: RankingTargets,
    candidates: np.ndarray,
    sequence_model: NextItemScorer | None = None,
) -> FeatureTable:
    """The features of every candidate of every target (see the module docstring).

    With `sequence_model` (anything with the course's ``score(context)``), the table has a
    seventh group, ``gru``, from that model's scores.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    if candidates.ndim != 2 or len(candidates) != len(targets):
        raise ValueError(
            f"candidates must be (n_targets={len(targets)}, k) item ids, got {candidates.shape}"
        )
    if candidates.size and (candidates.min() < 0 or candidates.max() >= stats.n_items):
        raise ValueError(f"candidate ids must be in 0..{stats.n_items - 1}")
    n, k = candidates.shape
    rows = np.arange(n)[:, None]
    cat, tier = stats.item_category[candidates], stats.item_tier[candidates]
    brand, dept = stats.item_brand[candidates], stats.item_department[candidates]
    hist = targets.histories
    length = np.array([len(h) for h in hist], dtype=np.float64)[:, None]
    f: dict[str, np.ndarray] = {}

    # user: long-term shares, smoothed towards the catalogue's overall shares
    cat_share = np.bincount(
        stats.item_category, weights=stats.popularity, minlength=stats.n_categories
    )
    cat_share = cat_share / max(cat_share.sum(), 1e-12)
    brands_per_dept = np.array(
        [
            len(np.unique(stats.item_brand[stats.item_department == d]))
            for d in range(stats.n_departments)
        ]
    )
    cat_counts = _counts(stats.item_category, hist, stats.n_categories)
    tier_counts = _counts(stats.item_tier, hist, 3)
    brand_counts = _counts(stats.item_brand, hist, stats.n_brands)
    dept_counts = _counts(stats.item_department, hist, stats.n_departments)
    f["user_category_share"] = (cat_counts[rows, cat] + cat_share[cat]) / (length + 1.0)
    f["user_tier_share"] = (tier_counts[rows, tier] + 1.0 / 3.0) / (length + 1.0)
    f["user_brand_share"] = (brand_counts[rows, brand] + 1.0 / brands_per_dept[dept]) / (
        dept_counts[rows, dept] + 1.0
    )
    f["log_history_length"] = np.broadcast_to(np.log1p(length), (n, k))

    # item
    f["log_popularity"] = np.log1p(stats.popularity)[candidates]
    f["price_tier"] = tier.astype(np.float64)

    # session: the mission is the session's first view
    missions = targets.mission_items()
    within = missions >= 0
    m = np.where(within, missions, 0)
    f["within_session"] = np.broadcast_to(within[:, None].astype(np.float64), (n, k))
    f["mission_category"] = within[:, None] & (cat == stats.item_category[m][:, None])
    f["mission_tier"] = f["mission_category"] & (tier == stats.item_tier[m][:, None])
    f["mission_brand"] = within[:, None] & (brand == stats.item_brand[m][:, None])
    last = np.array([h[-1] if len(h) else -1 for h in hist])
    has_last = last >= 0
    last_cat = stats.item_category[np.where(has_last, last, 0)]
    f["last_category"] = has_last[:, None] & (cat == last_cat[:, None])
    f["session_views"] = np.broadcast_to(
        np.array(
            [
                np.sum(s == sid)
                for s, sid in zip(targets.history_sessions, targets.sessions, strict=True)
            ],
            dtype=np.float64,
        )[:, None],
        (n, k),
    )

    # complements of the last three views, from the log's category lifts
    for back in (1, 2, 3):
        view = np.array([h[-back] if len(h) >= back else -1 for h in hist])
        has = view >= 0
        v = np.where(has, view, 0)
        lift = stats.category_lift[stats.item_category[v][:, None], cat]
        f[f"lift_{back}"] = np.where(has[:, None], np.log1p(lift), 0.0)
        f[f"brand_{back}"] = has[:, None] & (brand == stats.item_brand[v][:, None]) & (lift > 1.0)

    # friends' purchases in the window before the target
    bought = np.zeros((n, k))
    total = np.zeros((n, 1))
    for row, counts in enumerate(stats.friend_purchases(targets.users, targets.times)):
        if counts:
            lookup = np.zeros(stats.n_items)
            lookup[np.fromiter(counts, dtype=np.int64)] = np.fromiter(counts.values(), dtype=float)
            bought[row] = lookup[candidates[row]]
            total[row] = lookup.sum()
    f["friend_purchases"] = np.log1p(bought)
    f["friend_share"] = bought / np.maximum(total, 1.0)

    # sequence baselines
    context = ScoringContext(targets.users, hist)
    f["cooccurrence"] = np.take_along_axis(stats.cooccurrence.score(context), candidates, axis=1)
    markov = np.take_along_axis(stats.markov.score(context), candidates, axis=1)
    f["log_markov"] = np.log(np.maximum(markov, 1e-12))

    groups = dict(FEATURE_GROUPS)
    if sequence_model is not None:
        f.update(sequence_model_features(sequence_model, targets, candidates))
        groups.update(SEQUENCE_MODEL_GROUP)
    names = tuple(n for group in groups.values() for n in group)
    values = np.stack([np.asarray(f[name], dtype=np.float32) for name in names], axis=2)
    labels = (candidates == targets.items[:, None]).astype(np.float32)
    return FeatureTable(values, names, groups, candidates, labels)


def candidate_table(
    stats: ShopStatistics,
    targets: RankingTargets,
    k: int,
    chunk_size: int = 500,
    quotas=None,
    sequence_model: NextItemScorer | None = None,
) -> FeatureTable:
    """Both stages' inputs in one call: the union of every source's top items, `k` per target,
    and their features (what lesson 05 builds step by step).

    `quotas` go to :func:`~ecomrec.ranking.candidates.union_order`, `sequence_model` to
    :func:`ranking_features`. Targets are processed `chunk_size` at a time, so the sources' dense
    ``(chunk_size, n_items)`` scores stay small (the autograder caps a kernel's memory).
    """
    from ecomrec.ranking.candidates import source_scores, top_candidates, union_order

    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    parts = []
    for begin in range(0, len(targets), chunk_size):
        chunk = targets.take(np.arange(begin, min(begin + chunk_size, len(targets))))
        order = union_order(source_scores(stats, chunk), chunk.histories, quotas)
        candidates = top_candidates(order, k)
        parts.append(ranking_features(stats, chunk, candidates, sequence_model))
    return FeatureTable(
        np.concatenate([p.values for p in parts]),
        parts[0].names,
        parts[0].groups,
        np.concatenate([p.candidates for p in parts]),
        np.concatenate([p.labels for p in parts]),
    )

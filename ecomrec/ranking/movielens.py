"""Lesson 05's two-stage recommender on MovieLens-100k: the sources and features that apply.

Lesson 05's candidate sources and features (:mod:`ecomrec.ranking.candidates`,
:mod:`ecomrec.ranking.features`) read ShopSim's categories, brands, price tiers, sessions with a
mission and friendships, none of which MovieLens has. What does carry over is the machinery:
the union of candidate sources (:func:`~ecomrec.ranking.candidates.union_order`), the feature
table (:class:`~ecomrec.ranking.features.FeatureTable`), the training lists and LambdaMART
(:mod:`ecomrec.ranking.rankers`). This module supplies MovieLens's own parts:

- **targets** by position, as the course's temporal protocol orders a user's ratings (time,
  then the file's order among equal timestamps, see :func:`ecomrec.splits.temporal_split`):
  :func:`positional_training_targets` makes each user's last `n_last` *training* ratings the
  ranker's training targets, with the ratings before each as its history, and returns the
  statistics log without them, so no statistic counts a training target;
- **statistics** (:class:`MovieLensStatistics`), all fitted on a log that leaves the targets
  out: popularity, the mean rating, item-kNN over whole histories, windowed co-occurrence, the
  Markov chain, BPR-MF (fitted by the caller on the same log), genre shares and demographic
  lifts (how much more often users of the target user's gender, age band or occupation rated
  the movie than everybody did);
- **sources** (:func:`movielens_sources`): co-occurrence with the last few ratings (the course's
  windowed :class:`~ecomrec.baselines.ItemCooccurrence`), item-kNN over the whole history,
  BPR-MF and popularity;
- **features** (:func:`movielens_features`) in four groups:

  - ``user``: age, gender, occupation (as a code), log history length;
  - ``item``: log popularity, smoothed mean rating, release year;
  - ``user-item``: the user's history share of the movie's genres (as a lift over the
    catalogue's), the gap between the release year and the history's mean release year, and
    the gender / age-band / occupation lifts;
  - ``sequence``: the item-kNN, co-occurrence, log-Markov and BPR-MF scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecomrec import schema as S
from ecomrec.baselines import BPRMF, ItemCooccurrence, Markov
from ecomrec.datasets.movielens import GENRES, OCCUPATION, RELEASE_YEAR, MovieLens
from ecomrec.ranking.features import FeatureTable
from ecomrec.scoring import ScoringContext

MOVIELENS_SOURCES = ("co-occurrence", "item-kNN", "BPR-MF", "popular")
MOVIELENS_FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "user": ("age", "gender", "occupation", "log_history_length"),
    "item": ("log_popularity", "mean_rating", "release_year"),
    "user-item": ("genre_lift", "year_gap", "gender_lift", "age_band_lift", "occupation_lift"),
    "sequence": ("item_knn", "cooccurrence", "log_markov", "bpr"),
}
MOVIELENS_FEATURE_NAMES = tuple(n for names in MOVIELENS_FEATURE_GROUPS.values() for n in names)
AGE_BANDS = (18, 25, 35, 45, 50, 56)
"""Upper bounds of MovieLens-1M's age bands (under 18, 18-24, ..., 50-55, 56 and over)."""


@dataclass(frozen=True)
class Targets:
    """Ranking targets: the user, the true item (-1 if unknown) and the items rated before."""

    users: np.ndarray
    items: np.ndarray
    histories: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.users)

    def context(self) -> ScoringContext:
        return ScoringContext(self.users, self.histories)


def positional_training_targets(
    train: pd.DataFrame, n_last: int = 2
) -> tuple[pd.DataFrame, Targets]:
    """(statistics log, training targets): each user's last `n_last` training ratings as targets.

    Ratings are ordered as the temporal split orders them (user, time, file order). Users with
    at most `n_last` training ratings give no target. A target's history is the user's training
    ratings before it by position; the statistics log is every training rating that is not a
    target, so a statistic never counts the item it is asked about.

    Example:
        >>> frame = pd.DataFrame({S.USER: [0, 0, 0, 1], S.ITEM: [4, 5, 6, 7],
        ...                       S.TIMESTAMP: pd.to_datetime([1, 2, 3, 1], unit="s")})
        >>> log, targets = positional_training_targets(frame, n_last=1)
        >>> log[S.ITEM].tolist(), targets.items.tolist(), [h.tolist() for h in targets.histories]
        ([4, 5, 7], [6], [[4, 5]])
    """
    if n_last < 1:
        raise ValueError(f"n_last must be at least 1, got {n_last}")
    ordered = train.sort_values([S.USER, S.TIMESTAMP], kind="stable").reset_index(drop=True)
    by_user = ordered.groupby(S.USER, sort=False)
    from_end = by_user.cumcount(ascending=False).to_numpy()
    position = by_user.cumcount().to_numpy()
    enough = (by_user[S.ITEM].transform("size") > n_last).to_numpy()
    is_target = enough & (from_end < n_last)
    users = ordered[S.USER].to_numpy(dtype=np.int64)
    items = ordered[S.ITEM].to_numpy(dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, len(users)]))
    rows = np.flatnonzero(is_target)
    histories = [items[first[r] : first[r] + position[r]] for r in rows]
    targets = Targets(users[rows], items[rows], histories)
    return ordered[~is_target].reset_index(drop=True), targets


def _band(ages: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.asarray(AGE_BANDS), ages, side="right")


def _lift(codes: np.ndarray, log_users: np.ndarray, log_items: np.ndarray, n_items: int):
    """log((n_gi + 1) / (N_g + n_items) / ((n_i + 1) / (N + n_items))) per (group, item)."""
    n_groups = int(codes.max()) + 1
    counts = np.zeros((n_groups, n_items))
    np.add.at(counts, (codes[log_users], log_items), 1.0)
    group_share = (counts + 1.0) / (counts.sum(axis=1, keepdims=True) + n_items)
    overall = (counts.sum(axis=0) + 1.0) / (counts.sum() + n_items)
    return np.log(group_share / overall)


class MovieLensStatistics:
    """Everything the sources and features read, fitted on one log that leaves the targets out.

    Args:
        log: the ratings the statistics may count (user, item, rating, timestamp).
        movielens: the users' and movies' tables.
        bpr: a BPR-MF fitted on the same `log` (fitting it is the caller's, to choose the
            settings once).
    """

    def __init__(self, log: pd.DataFrame, movielens: MovieLens, bpr: BPRMF) -> None:
        n_items = movielens.n_items
        if getattr(bpr, "n_items", None) != n_items:
            raise ValueError("bpr must be a BPRMF fitted on the same log and catalogue")
        self.n_items = n_items
        self.bpr = bpr
        users = log[S.USER].to_numpy(dtype=np.int64)
        items = log[S.ITEM].to_numpy(dtype=np.int64)
        self.popularity = np.bincount(items, minlength=n_items).astype(np.float64)
        ratings = np.bincount(items, weights=log[S.RATING].to_numpy(float), minlength=n_items)
        overall = float(log[S.RATING].mean())
        self.mean_rating = (ratings + 5.0 * overall) / (self.popularity + 5.0)  # 5 prior votes
        self.knn = ItemCooccurrence(window=None, n_recent=10**6, decay=1.0).fit(log, n_items)
        self.cooccurrence = ItemCooccurrence().fit(log, n_items)
        self.markov = Markov().fit(log, n_items)
        table = movielens.users
        self.age = table[S.AGE].to_numpy(dtype=np.float64)
        self.gender = table[S.GENDER].cat.codes.to_numpy(dtype=np.int64)
        self.occupation = table[OCCUPATION].cat.codes.to_numpy(dtype=np.int64)
        self.lifts = {
            "gender_lift": (self.gender, _lift(self.gender, users, items, n_items)),
            "age_band_lift": (
                _band(self.age),
                _lift(_band(self.age), users, items, n_items),
            ),
            "occupation_lift": (self.occupation, _lift(self.occupation, users, items, n_items)),
        }
        genres = movielens.movies[GENRES].fillna("").str.split()
        names = sorted({g for row in genres for g in row})
        self.genres = np.zeros((n_items, len(names)))
        for item, row in enumerate(genres):
            for genre in row:
                self.genres[item, names.index(genre)] = 1.0
        per_movie = self.genres / np.maximum(self.genres.sum(axis=1, keepdims=True), 1.0)
        self.genre_weights = per_movie  # each movie's genres share one unit
        share = per_movie.T @ self.popularity
        self.genre_share = (share + 1.0) / (share.sum() + len(names))
        year = (
            movielens.movies[RELEASE_YEAR].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        )
        self.release_year = np.where(np.isnan(year), np.nanmedian(year), year)


def movielens_sources(stats: MovieLensStatistics, targets: Targets) -> dict[str, np.ndarray]:
    """Each source's scores of the whole catalogue for every target, named as in
    :data:`MOVIELENS_SOURCES`."""
    context = targets.context()
    return {
        "co-occurrence": stats.cooccurrence.score(context),
        "item-kNN": stats.knn.score(context),
        "BPR-MF": stats.bpr.score(context),
        "popular": np.tile(stats.popularity, (len(targets), 1)),
    }


def movielens_features(
    stats: MovieLensStatistics,
    targets: Targets,
    candidates: np.ndarray,
    sources: dict[str, np.ndarray] | None = None,
) -> FeatureTable:
    """The features of every candidate of every target (see the module docstring).

    `sources` may pass the output of :func:`movielens_sources` for the same targets, so that
    the source scores are not computed twice.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    if candidates.ndim != 2 or len(candidates) != len(targets):
        raise ValueError(
            f"candidates must be (n_targets={len(targets)}, k) item ids, got {candidates.shape}"
        )
    n, k = candidates.shape
    sources = sources if sources is not None else movielens_sources(stats, targets)
    context = targets.context()
    users = targets.users
    f: dict[str, np.ndarray] = {}

    def per_user(values: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.asarray(values, dtype=np.float64)[:, None], (n, k))

    def at(scores: np.ndarray) -> np.ndarray:
        return np.take_along_axis(scores, candidates, axis=1)

    lengths = np.array([len(h) for h in targets.histories], dtype=np.float64)
    f["age"] = per_user(stats.age[users])
    f["gender"] = per_user(stats.gender[users])
    f["occupation"] = per_user(stats.occupation[users])
    f["log_history_length"] = per_user(np.log1p(lengths))
    f["log_popularity"] = np.log1p(stats.popularity[candidates])
    f["mean_rating"] = stats.mean_rating[candidates]
    f["release_year"] = stats.release_year[candidates]

    genre_history = np.zeros((n, stats.genres.shape[1]))
    mean_year = np.full(n, float(np.median(stats.release_year)))
    for row, history in enumerate(targets.histories):
        if len(history):
            genre_history[row] = stats.genre_weights[history].sum(axis=0)
            mean_year[row] = stats.release_year[history].mean()
    genre_history = (genre_history + stats.genre_share) / (lengths[:, None] + 1.0)
    lift = np.log(genre_history / stats.genre_share)  # (n, n_genres)
    item_genres = stats.genre_weights[candidates]  # (n, k, n_genres)
    f["genre_lift"] = np.einsum("nkg,ng->nk", item_genres, lift)
    f["year_gap"] = stats.release_year[candidates] - mean_year[:, None]
    for name, (codes, table) in stats.lifts.items():
        f[name] = table[codes[users][:, None], candidates]

    f["item_knn"] = at(sources["item-kNN"])
    f["cooccurrence"] = at(sources["co-occurrence"])
    f["log_markov"] = np.log(at(stats.markov.score(context)) + 1e-9)
    f["bpr"] = at(sources["BPR-MF"])

    values = np.stack([f[name] for name in MOVIELENS_FEATURE_NAMES], axis=2).astype(np.float32)
    labels = (candidates == targets.items[:, None]).astype(np.float64)
    return FeatureTable(
        values, MOVIELENS_FEATURE_NAMES, dict(MOVIELENS_FEATURE_GROUPS), candidates, labels
    )

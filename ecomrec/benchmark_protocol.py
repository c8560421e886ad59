"""The MovieLens benchmark protocol of the ``recommenders`` project, to compare with its table.

The course's own protocol (:mod:`ecomrec.splits`, :mod:`ecomrec.metrics`) holds out each user's
*last* interaction and ranks the full catalogue. Published MovieLens tables use another one; to
put the course's models beside the published figures, this module reproduces the protocol of the
``recommenders`` project's MovieLens benchmark (``examples/06_benchmarks/movielens.ipynb``):

- **Split** (:func:`stratified_split`): per item, the item's ratings are shuffled by a random key
  (``numpy`` legacy generator, seed 42, one key per row in the file's order) and the first 75%
  go to train (a rating whose rank / count is at most 0.75), the rest to test. An item with a
  single rating therefore lands wholly in test.
- **Relevance**: every test rating is relevant whatever its value.
- **Candidates** (:func:`recommend_top_k`): every item seen in training, minus the user's own
  training items; recommendations for every user seen in training.
- **Metrics** (:func:`benchmark_metrics`) over the users present both in the test set and in
  the recommendations, with k = 10 and ``T`` a user's test items:

  - precision@k = |top-k ∩ T| / k;
  - recall@k = |top-k ∩ T| / |T|;
  - nDCG@k = DCG / IDCG with DCG = sum over hits of 1 / ln(1 + rank) and IDCG the same sum over
    the first min(|T|, k) ranks (binary relevance, natural-log discount);
  - MAP = mean over users of (sum over hits at rank r of hits-so-far / r) / |T|: the average
    precision divided by *all* the user's test items, as the table defines it (not by
    min(|T|, k)).

With binary relevance the base of the logarithm cancels in nDCG, so the natural log gives the
same value as log2; it is kept to follow the definition. Compare with
:func:`ecomrec.metrics.ndcg_at_k` (one held-out item, log2, full-catalogue rank).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecomrec import schema as S
from ecomrec.baselines import Recommender
from ecomrec.metrics import top_k
from ecomrec.scoring import ScoringContext

BENCHMARK_SEED = 42
BENCHMARK_RATIO = 0.75
BENCHMARK_K = 10


@dataclass(frozen=True)
class BenchmarkSplit:
    """Train and test ratings of the stratified split, each in the input's row order."""

    train: pd.DataFrame
    test: pd.DataFrame

    def __repr__(self) -> str:
        return f"BenchmarkSplit(train={len(self.train)} rows, test={len(self.test)} rows)"


def stratified_split(
    ratings: pd.DataFrame,
    ratio: float = BENCHMARK_RATIO,
    by: str = S.ITEM,
    seed: int = BENCHMARK_SEED,
) -> BenchmarkSplit:
    """Per group of `by` (items by default): a random `ratio` of its rows to train, the rest test.

    Each row gets a key from ``numpy.random.RandomState(seed).rand(n)`` in the input's row order;
    within a group the rows sorted by key are ranked 1..count, and a row goes to train when
    rank / count <= `ratio`. Pass the ratings in their file order to reproduce the published
    split exactly. The same input and seed always give the same split.

    Example:
        >>> frame = pd.DataFrame({S.USER: [0, 1, 2, 3, 0, 1], S.ITEM: [0, 0, 0, 0, 1, 1]})
        >>> split = stratified_split(frame)
        >>> split.train[S.ITEM].tolist(), split.test[S.ITEM].tolist()
        ([0, 0, 0, 1], [0, 1])
    """
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"ratio must be in (0, 1), got {ratio}")
    if by not in ratings.columns:
        raise ValueError(f"ratings have no column {by!r} to stratify by")
    keys = np.random.RandomState(seed).rand(len(ratings))
    groups = ratings[by].to_numpy()
    order = np.lexsort((keys, groups))
    sorted_groups = groups[order]
    starts = np.r_[True, sorted_groups[1:] != sorted_groups[:-1]]
    group_start = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    rank_in_group = np.arange(len(order)) - group_start + 1
    counts = pd.Series(sorted_groups).map(pd.Series(sorted_groups).value_counts()).to_numpy()
    in_train = np.empty(len(order), dtype=bool)
    in_train[order] = rank_in_group / counts <= ratio
    return BenchmarkSplit(
        train=ratings[in_train].reset_index(drop=True),
        test=ratings[~in_train].reset_index(drop=True),
    )


def recommend_top_k(
    scores: np.ndarray, train: pd.DataFrame, users: np.ndarray, k: int = BENCHMARK_K
) -> np.ndarray:
    """Top-`k` items per row of `scores`, among training items the row's user did not rate.

    Args:
        scores: (len(users), n_items) scores, higher first.
        train: the training ratings (user, item); items never in it are not candidates.
        users: the user of each row.

    Returns:
        (len(users), k) item ids, best first (ties by lower item id).
    """
    n_items = scores.shape[1]
    in_train = np.zeros(n_items, dtype=bool)
    in_train[train[S.ITEM].to_numpy()] = True
    never_trained = np.flatnonzero(~in_train)
    own = train.groupby(S.USER)[S.ITEM].agg(lambda items: np.unique(items.to_numpy()))
    exclude = [np.union1d(own.get(int(user), never_trained[:0]), never_trained) for user in users]
    return top_k(scores, k, exclude=exclude)


def per_user_metrics(
    recommended: Mapping[int, Sequence[int]],
    relevant: Mapping[int, Sequence[int]],
    k: int = BENCHMARK_K,
) -> pd.DataFrame:
    """nDCG@k, AP (divided by |T|), precision@k and recall@k of each user in both mappings.

    Args:
        recommended: user -> recommended items, best first (at least the first k are read).
        relevant: user -> the user's test items (duplicates count once).

    Returns:
        One row per common user (sorted by user id), columns ``ndcg@k``, ``map``,
        ``precision@k``, ``recall@k``, ``n_relevant``.

    Example (one user, test items {1, 2, 3}, list [1, 5, 2]):
        >>> row = per_user_metrics({0: [1, 5, 2]}, {0: [1, 2, 3]}, k=3).iloc[0]
        >>> round(float(row["map"]), 4)  # (1/1 + 2/3) / 3
        0.5556
    """
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    users = sorted(set(recommended).intersection(relevant))
    if not users:
        raise ValueError("no user is both in the recommendations and in the test set")
    discount = 1.0 / np.log1p(np.arange(1, k + 1))  # 1 / ln(1 + rank)
    rows = []
    for user in users:
        truth = set(np.asarray(relevant[user]).tolist())
        top = np.asarray(recommended[user])[:k].tolist()
        if len(set(top)) != len(top):
            raise ValueError(f"user {user}: the recommended list repeats an item")
        hits = np.array([item in truth for item in top], dtype=bool)
        n_hits = int(hits.sum())
        ranks = np.flatnonzero(hits) + 1
        ideal = discount[: min(len(truth), k)].sum()
        rows.append(
            {
                "user": user,
                f"ndcg@{k}": float(discount[: len(top)][hits].sum() / ideal),
                "map": float((np.arange(1, n_hits + 1) / ranks).sum() / len(truth)),
                f"precision@{k}": n_hits / k,
                f"recall@{k}": n_hits / len(truth),
                "n_relevant": len(truth),
            }
        )
    return pd.DataFrame(rows).set_index("user")


def benchmark_metrics(
    recommended: Mapping[int, Sequence[int]],
    relevant: Mapping[int, Sequence[int]],
    k: int = BENCHMARK_K,
) -> dict[str, float]:
    """The means of :func:`per_user_metrics` over the common users, and their number.

    Example:
        >>> metrics = benchmark_metrics({0: [1, 5, 2], 1: [4, 0, 9]}, {0: [1, 2, 3], 1: [7]}, k=3)
        >>> round(metrics["map"], 4), metrics["n_users"]  # (0.5556 + 0) / 2
        (0.2778, 2)
    """
    return _means(per_user_metrics(recommended, relevant, k))


def _means(table: pd.DataFrame) -> dict[str, float]:
    means = table.drop(columns="n_relevant").mean()
    return {name: float(value) for name, value in means.items()} | {"n_users": len(table)}


def test_items_by_user(test: pd.DataFrame) -> dict[int, np.ndarray]:
    """user -> the items of the user's test ratings (every rating relevant)."""
    return {int(u): g.to_numpy() for u, g in test.groupby(S.USER)[S.ITEM]}


def benchmark_context(train: pd.DataFrame) -> ScoringContext:
    """The context of every training user: their training items in time order, no session flags.

    Models that read only users (BPR-MF, LightGCN) or histories (popularity, co-occurrence) can
    score it; the sequence models need the course's temporal protocol instead.
    """
    ordered = train.sort_values([S.USER, S.TIMESTAMP], kind="stable")
    users = np.unique(ordered[S.USER].to_numpy())
    histories = [g.to_numpy() for _, g in ordered.groupby(S.USER, sort=True)[S.ITEM]]
    return ScoringContext(users, histories)


def evaluate_on_benchmark(
    model: Recommender,
    split: BenchmarkSplit,
    n_items: int,
    n_users: int,
    k: int = BENCHMARK_K,
) -> tuple[dict[str, float], pd.DataFrame]:
    """Fit `model` on the benchmark's train part, recommend k items per user, score the lists.

    Returns the metrics (:func:`benchmark_metrics`) and the per-user table
    (:func:`per_user_metrics`), whose rows feed paired-bootstrap intervals.
    """
    model.fit(split.train, n_items=n_items, n_users=n_users)
    context = benchmark_context(split.train)
    lists = recommend_top_k(model.score(context), split.train, context.users, k)
    recommended = dict(zip(context.users.tolist(), lists, strict=True))
    table = per_user_metrics(recommended, test_items_by_user(split.test), k)
    return _means(table), table


PUBLISHED_MOVIELENS_100K = {
    "BPR (cornac)": {"ndcg@10": 0.442, "map": 0.132, "precision@10": 0.388, "recall@10": 0.213},
    "LightGCN": {"ndcg@10": 0.420},
    "NCF": {"ndcg@10": 0.396},
    "SAR": {"ndcg@10": 0.382},
}
"""The ``recommenders`` project's MovieLens-100k table on this protocol (k = 10), as cited by
the course's issue 18; only the figures quoted there are listed."""

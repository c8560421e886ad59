"""The search lessons' shared protocol: a temporal split of the query log, the three per-query
measures (ESCI nDCG@k, Recall@k of the Exact items, MRR of the clicked item) grouped by query
type, and each system's share of the search oracle.

Lesson 06 and its companions import these, so that every notebook scores the same test queries
the same way and their numbers can stand side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecomrec import schema as S
from ecomrec.compare import Comparison, paired_bootstrap
from ecomrec.datasets.search import QUERY_TYPE, QUERY_TYPES, esci_gains
from ecomrec.search.metrics import exact_recall, graded_ndcg, reciprocal_ranks

MEASURES = ("ndcg", "recall", "mrr")


@dataclass
class QuerySplit:
    """The query log cut by time: `test` the newest, `valid_all` before it, `train_all` the rest;
    `train` and `valid` are seeded samples of the last two (for a time budget)."""

    train_all: pd.DataFrame
    valid_all: pd.DataFrame
    test: pd.DataFrame
    train: pd.DataFrame
    valid: pd.DataFrame

    @property
    def split_time(self) -> pd.Timestamp:
        """When the test period starts: profiles and statistics use only what came before."""
        return self.test[S.TIMESTAMP].min()


def split_queries(
    queries: pd.DataFrame,
    test_share: float,
    valid_share: float,
    n_train: int,
    n_valid: int,
    seed: int,
) -> QuerySplit:
    """Sort by time; the newest `test_share` is the test set, the `valid_share` before it
    validation, the rest training; sample `n_valid` validation then `n_train` training queries
    (kept in time order) with ``numpy.random.default_rng(seed)``.

    Raises:
        ValueError: if the shares leave no training queries or a sample is larger than its pool.
    """
    if not (0 < test_share < 1 and 0 < valid_share < 1 and test_share + valid_share < 1):
        raise ValueError(
            f"test_share and valid_share must be in (0, 1) and sum to less than 1, "
            f"got {test_share} and {valid_share}"
        )
    ordered = queries.sort_values(S.TIMESTAMP, kind="stable").reset_index(drop=True)
    n = len(ordered)
    n_test, n_valid_all = int(test_share * n), int(valid_share * n)
    test = ordered.iloc[n - n_test :].reset_index(drop=True)
    valid_all = ordered.iloc[n - n_test - n_valid_all : n - n_test]
    train_all = ordered.iloc[: n - n_test - n_valid_all]
    for name, size, pool in (("n_valid", n_valid, valid_all), ("n_train", n_train, train_all)):
        if not 0 < size <= len(pool):
            raise ValueError(
                f"{name}={size} must be between 1 and the {len(pool)} queries available"
            )
    rng = np.random.default_rng(seed)
    valid = valid_all.iloc[np.sort(rng.choice(len(valid_all), n_valid, replace=False))]
    train = train_all.iloc[np.sort(rng.choice(len(train_all), n_train, replace=False))]
    return QuerySplit(
        train_all, valid_all, test, train.reset_index(drop=True), valid.reset_index(drop=True)
    )


@dataclass
class SearchEvaluation:
    """Scores one set of queries: labels (n_queries, n_items) ESCI indices (0 = Exact), the
    clicked item and the type of each query."""

    labels: np.ndarray
    clicked: np.ndarray
    types: np.ndarray
    k: int = 10
    recall_k: int = 100

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels)
        self.clicked = np.asarray(self.clicked, dtype=np.int64)
        self.types = np.asarray(self.types)
        n = len(self.labels)
        if self.labels.ndim != 2 or len(self.clicked) != n or len(self.types) != n:
            raise ValueError(
                f"labels must be (n_queries, n_items) with one clicked item and one type per "
                f"query; got labels {self.labels.shape}, {len(self.clicked)} clicked, "
                f"{len(self.types)} types"
            )
        self.gains = esci_gains(self.labels)

    @classmethod
    def for_queries(
        cls, queries: pd.DataFrame, all_labels: np.ndarray, k: int = 10, recall_k: int = 100
    ) -> SearchEvaluation:
        """For a slice of the query log, with `all_labels` = ``ShopSim.esci_labels()``."""
        return cls(
            all_labels[queries[S.QUERY_ID].to_numpy()],
            queries[S.CLICKED_ITEM].to_numpy(),
            queries[QUERY_TYPE].to_numpy(),
            k,
            recall_k,
        )

    def evaluate(self, scores: np.ndarray) -> dict[str, np.ndarray]:
        """Per-query values of the three measures (for `summary` and paired bootstraps)."""
        return {
            "ndcg": graded_ndcg(scores, self.gains, self.k),
            "recall": exact_recall(scores, self.labels == 0, self.recall_k),
            "mrr": reciprocal_ranks(scores, self.clicked),
        }

    def summary(self, per_query: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
        """Means over all queries and per query type: ``{"all": {...}, "keyword": {...}, ...}``."""
        rows = {"all": {m: float(v.mean()) for m, v in per_query.items()}}
        for kind in QUERY_TYPES:
            mask = self.types == kind
            rows[kind] = {
                m: float(v[mask].mean()) if mask.any() else 0.0 for m, v in per_query.items()
            }
        return rows

    def tables(self, results: dict[str, dict[str, np.ndarray]]) -> dict[str, pd.DataFrame]:
        """One table per measure: a row per system, columns "all" and each query type."""
        long = pd.DataFrame(
            {
                (name, kind): row
                for name, r in results.items()
                for kind, row in self.summary(r).items()
            }
        ).T
        return {m: long[m].unstack()[["all", *QUERY_TYPES]].loc[list(results)] for m in MEASURES}

    def compare(
        self,
        results: dict[str, dict[str, np.ndarray]],
        a: str,
        b: str,
        measure: str = "ndcg",
        kind: str | None = None,
        seed: int = 0,
        n_resamples: int = 1000,
    ) -> Comparison:
        """System `a` against `b` on one measure (over one query type, or all), paired bootstrap."""
        if kind is not None and kind not in QUERY_TYPES:
            raise ValueError(f"kind must be None or one of {QUERY_TYPES}, got {kind!r}")
        rows = slice(None) if kind is None else self.types == kind
        return paired_bootstrap(
            results[a][measure][rows], results[b][measure][rows], seed=seed, n_resamples=n_resamples
        )


def oracle_shares(results: dict[str, dict[str, np.ndarray]], oracle: str = "search oracle"):
    """Each system's MRR of the clicked item as a share of the search oracle's."""
    ceiling = results[oracle]["mrr"].mean()
    return {n: float(r["mrr"].mean() / ceiling) for n, r in results.items() if n != oracle}


def bm25_hard_negatives(
    bm25_scores: np.ndarray, item_category: np.ndarray, clicked: np.ndarray
) -> np.ndarray:
    """For each query, BM25's best-scored item from another category than the clicked one:
    the mistake keyword search would make, as a hard negative for contrastive training."""
    scores = np.array(bm25_scores, dtype=np.float64)  # a copy: the caller's scores stay intact
    item_category = np.asarray(item_category)
    if scores.shape != (len(clicked), len(item_category)):
        raise ValueError(
            f"bm25_scores must be (n_queries, n_items) = ({len(clicked)}, {len(item_category)}), "
            f"got {scores.shape}"
        )
    same = item_category[None, :] == item_category[np.asarray(clicked)][:, None]
    scores[same] = -np.inf
    return scores.argmax(axis=1)

"""A small search function over the ShopSim catalogue that always gives a defined answer.

`build_index(items, popularity)` indexes titles and descriptions with BM25; `search(query,
index)` returns a `SearchResult` with the items, their scores and a `reason`:

* ``"matched"``: BM25 (or BM25 combined with a dense scorer) ranked the catalogue;
* ``"empty_query"``: nothing but spaces or punctuation was typed;
* ``"other_script"``: the query has no Latin letter or digit (say, Chinese); the listings
  are English, so no word can match;
* ``"unknown_words"``: no word of the query occurs in any listing.

In the last three cases the answer is the most popular items (by the `popularity` given to
`build_index`, such as view counts from the event log), or nothing when no popularity was
given. No query string raises an exception; a non-string raises TypeError.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ecomrec import schema as S
from ecomrec.search.bm25 import BM25, tokenize
from ecomrec.search.fusion import reciprocal_rank_fusion, retrieved_only, weighted_blend

_LATIN_OR_DIGIT = re.compile(r"[A-Za-z0-9]")
REASONS = ("matched", "empty_query", "other_script", "unknown_words")


@dataclass
class CatalogueIndex:
    bm25: BM25
    item_ids: np.ndarray
    popularity: np.ndarray | None  # one value per item, or None


@dataclass
class SearchResult:
    items: list[int]
    scores: list[float]
    reason: str
    unknown_words: list[str] = field(default_factory=list)

    @property
    def explanation(self) -> str:
        fallback = "the most popular items" if self.items else "nothing"
        return {
            "matched": "ranked by how well each listing matches the query",
            "empty_query": f"the query is empty, so the answer is {fallback}",
            "other_script": "the query has no Latin letters or digits and the listings are "
            f"in English, so the answer is {fallback}",
            "unknown_words": f"no listing contains any word of the query, so the answer is "
            f"{fallback}",
        }[self.reason]


def listing_text(items: pd.DataFrame) -> list[str]:
    """The text search reads for every item: its title and description."""
    return (items[S.TITLE] + " " + items[S.DESCRIPTION]).tolist()


def build_index(
    items: pd.DataFrame, popularity: np.ndarray | None = None, k1: float = 1.5, b: float = 0.75
) -> CatalogueIndex:
    """BM25 over each item's title and description; `popularity` orders the fallbacks."""
    if popularity is not None:
        popularity = np.asarray(popularity, dtype=np.float64)
        if popularity.shape != (len(items),):
            raise ValueError(
                f"popularity must have one value per item ({len(items)}), got {popularity.shape}"
            )
    bm25 = BM25(k1=k1, b=b).fit([tokenize(t) for t in listing_text(items)])
    return CatalogueIndex(bm25, items[S.ITEM].to_numpy(), popularity)


def _fallback(index: CatalogueIndex, k: int, reason: str, unknown: list[str]) -> SearchResult:
    if index.popularity is None:
        return SearchResult([], [], reason, unknown)
    top = np.argsort(-index.popularity, kind="stable")[:k]
    return SearchResult(
        index.item_ids[top].tolist(), index.popularity[top].tolist(), reason, unknown
    )


def search(
    query: str,
    index: CatalogueIndex,
    k: int = 10,
    dense: Callable[[str], np.ndarray] | None = None,
    bm25_weight: float | None = None,
) -> SearchResult:
    """The top `k` items for `query`, with the reason for the answer (see module docstring).

    dense: optional function from the query text to one score per item (e.g. cosine
    similarity from a bi-encoder), so that needs and synonyms find items without sharing
    every word. It is combined with BM25 by reciprocal-rank fusion, or, with
    `bm25_weight`, by a weighted blend of per-query min-max scores (weight on BM25).
    A query none of whose words occurs in any listing still gets the fallback.
    """
    if not isinstance(query, str):
        raise TypeError(f"search expects the query as a string, got {type(query).__name__}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    k = min(k, len(index.item_ids))
    if not query.strip() or not re.search(r"\w", query):
        return _fallback(index, k, "empty_query", [])
    if not _LATIN_OR_DIGIT.search(query):
        return _fallback(index, k, "other_script", query.split())
    tokens = tokenize(query)
    known = index.bm25.known(tokens)
    unknown = [t for t in tokens if t not in index.bm25.vocab]
    if not known:
        return _fallback(index, k, "unknown_words", unknown)
    scores = index.bm25.score(known)
    if dense is not None:
        dense_scores = np.asarray(dense(query), dtype=np.float64)[None, :]
        if bm25_weight is None:  # only listings sharing a word take part in BM25's ranking
            fused = reciprocal_rank_fusion([retrieved_only(scores[None, :]), dense_scores])
        else:
            fused = weighted_blend([scores[None, :], dense_scores], [bm25_weight, 1 - bm25_weight])
        scores = fused[0]
    top = np.argsort(-scores, kind="stable")[:k]
    return SearchResult(index.item_ids[top].tolist(), scores[top].tolist(), "matched", unknown)

"""Product search: BM25, rank fusion, graded (ESCI) metrics and a catalogue search function.

>>> from ecomrec.search import BM25, tokenize
>>> bm25 = BM25().fit([tokenize("red slim case"), tokenize("black phone")])
>>> bm25.score(tokenize("red case")).round(3).tolist()
[0.509, 0.0]

Lesson 06 derives each piece; lesson 08's capstone calls `build_index` and `search`.
"""

from ecomrec.search.bm25 import BM25, tokenize
from ecomrec.search.engine import CatalogueIndex, SearchResult, build_index, search
from ecomrec.search.fusion import (
    minmax_rows,
    reciprocal_rank_fusion,
    retrieved_only,
    weighted_blend,
)
from ecomrec.search.metrics import exact_recall, graded_ndcg, reciprocal_ranks

__all__ = [
    "BM25",
    "CatalogueIndex",
    "SearchResult",
    "build_index",
    "exact_recall",
    "graded_ndcg",
    "minmax_rows",
    "reciprocal_rank_fusion",
    "reciprocal_ranks",
    "retrieved_only",
    "search",
    "tokenize",
    "weighted_blend",
]

"""BM25 (Robertson and Zaragoza, 2009) in the Lucene form, from its formula.

For a query q with terms t and a document d of length |d| (in tokens)::

    score(q, d) = sum_{t in q} IDF(t) * tf(t, d) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))
    IDF(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

N is the number of documents, df(t) how many contain t, avgdl the mean length. k1 sets how
fast repeated terms saturate, b how much long documents are penalised. This is the Lucene
variant that `bm25s` calls method="lucene" (its default): the classic (k1 + 1) factor in the
numerator is left out, which scales every score by the same constant and changes no ranking.
A term repeated in the query counts once per repetition, as in `bm25s`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import sparse

_TOKEN = re.compile(r"[a-z0-9]+")
# a few English function words that carry no product meaning
STOPWORDS = frozenset(
    "a an and are as at be by for from in is it its my of on or so that the this to with".split()
)


def tokenize(text: str, stopwords: frozenset[str] = STOPWORDS) -> list[str]:
    """Lower-case Latin letters and digits split at everything else, stop words dropped.

    >>> tokenize("A slim case, for my Phone-X2!")
    ['slim', 'case', 'phone', 'x2']
    """
    if not isinstance(text, str):
        raise TypeError(f"tokenize expects a string, got {type(text).__name__}")
    return [t for t in _TOKEN.findall(text.lower()) if t not in stopwords]


class BM25:
    """BM25 over a fixed corpus of tokenised documents (`fit`), scoring any tokenised query."""

    def __init__(self, k1: float = 1.5, b: float = 0.75):
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self.k1, self.b = float(k1), float(b)

    def fit(self, docs: Sequence[Sequence[str]]) -> BM25:
        if len(docs) == 0:
            raise ValueError("BM25.fit needs at least one document")
        vocab: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        lengths = np.zeros(len(docs))
        for d, doc in enumerate(docs):
            counts = Counter(doc)
            lengths[d] = len(doc)
            for term, tf in counts.items():
                rows.append(d)
                cols.append(vocab.setdefault(term, len(vocab)))
                tfs.append(tf)
        n_docs, n_terms = len(docs), len(vocab)
        tf = sparse.csr_matrix((tfs, (rows, cols)), shape=(n_docs, n_terms), dtype=np.float64)
        df = np.bincount(cols, minlength=n_terms).astype(np.float64)
        self.vocab, self.n_docs = vocab, n_docs
        self.avgdl = float(lengths.mean()) if lengths.mean() > 0 else 1.0
        self.idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
        # the weight of every (document, term) pair, once: queries then only add columns
        norm = self.k1 * (1.0 - self.b + self.b * lengths / self.avgdl)
        w = tf.tocoo()
        values = self.idf[w.col] * w.data / (w.data + norm[w.row])
        self.weights = sparse.csc_matrix((values, (w.row, w.col)), shape=tf.shape)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "weights"):
            raise RuntimeError("call BM25.fit(docs) before scoring")

    def query_vector(self, query: Sequence[str]) -> np.ndarray:
        """How often each vocabulary term occurs in the query (unknown terms are dropped)."""
        self._check_fitted()
        vec = np.zeros(len(self.vocab))
        for term in query:
            j = self.vocab.get(term)
            if j is not None:
                vec[j] += 1.0
        return vec

    def score(self, query: Sequence[str]) -> np.ndarray:
        """BM25 score of every document for one tokenised query, shape (n_docs,)."""
        self._check_fitted()
        return np.asarray(self.weights @ self.query_vector(query)).ravel()

    def score_many(self, queries: Sequence[Sequence[str]]) -> np.ndarray:
        """Scores for many tokenised queries, shape (n_queries, n_docs)."""
        self._check_fitted()
        q = np.stack([self.query_vector(t) for t in queries]) if len(queries) else None
        if q is None:
            return np.zeros((0, self.n_docs))
        return np.asarray((self.weights @ q.T).T)

    def known(self, query: Sequence[str]) -> list[str]:
        """The query's terms that occur in at least one document."""
        self._check_fitted()
        return [t for t in query if t in self.vocab]

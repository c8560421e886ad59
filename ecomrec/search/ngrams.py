"""Hashed word and character n-gram ids: the input of a retrieval model trained from scratch.

A model without pretraining knows no words, so it needs features that generalise a little on
their own: every word of a text (after `ecomrec.search.tokenize`) and every character trigram
of ``<word>`` (fastText's trick: "tumbller" shares "<tu", "tum", "umb", "mbl", ... with
"tumbler"). Each feature is hashed with CRC-32 (stable across runs and machines, unlike
Python's ``hash``) into ``1..n_buckets``; 0 pads the rows to one length.

    >>> ids = hashed_ngram_ids(["red case", ""], n_buckets=1000)
    >>> ids.shape, int((ids[0] > 0).sum()), int((ids[1] > 0).sum())
    ((2, 9), 9, 0)
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from ecomrec.search.bm25 import tokenize


def text_features(text: str, char_n: int = 3) -> list[str]:
    """The words of `text` and the character `char_n`-grams of each ``<word>``.

    >>> text_features("Red cup")
    ['w:red', 'c:<re', 'c:red', 'c:ed>', 'w:cup', 'c:<cu', 'c:cup', 'c:up>']
    """
    if char_n < 1:
        raise ValueError(f"char_n must be at least 1, got {char_n}")
    features = []
    for word in tokenize(text):
        features.append(f"w:{word}")
        marked = f"<{word}>"
        features += [f"c:{marked[i : i + char_n]}" for i in range(len(marked) - char_n + 1)]
    return features


def hashed_ngram_ids(
    texts: Sequence[str], n_buckets: int = 2**15, char_n: int = 3, max_len: int | None = None
) -> np.ndarray:
    """(n_texts, length) int32 ids in ``1..n_buckets`` of each text's features, 0-padded.

    length is the longest text's feature count, or `max_len` (longer texts are cut).
    """
    if n_buckets < 1:
        raise ValueError(f"n_buckets must be at least 1, got {n_buckets}")
    rows = [
        [zlib.crc32(f.encode()) % n_buckets + 1 for f in text_features(t, char_n)] for t in texts
    ]
    length = max((len(r) for r in rows), default=0)
    length = max(1, length if max_len is None else min(max_len, length))
    out = np.zeros((len(rows), length), dtype=np.int32)
    for i, r in enumerate(rows):
        r = r[:length]
        out[i, : len(r)] = r
    return out

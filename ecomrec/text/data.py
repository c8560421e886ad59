"""ShopSim descriptions as a conditional text data set: attributes in, tokens out.

- :class:`AttributeCodec` writes the six attribute values as a short prompt of words, the
  generator's input.
- :func:`held_out_split` keeps some *combinations* of attribute values (e.g. subcategory
  and colour) out of training, so evaluation asks for descriptions of items the model has
  never seen in that combination, while every single value was seen.
- :func:`grammar_references` asks the shop's own description grammar for more real
  descriptions of the same items, so BLEU can use several references per item.
- :func:`encode_descriptions` pads token ids into one tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ecomrec import schema as S
from ecomrec.datasets.catalogue import describe_item  # the grammar that wrote the descriptions
from ecomrec.text.attributes import ATTRIBUTES
from ecomrec.text.tokenizer import Vocabulary, tokenize


class AttributeCodec:
    """Writes an item's attributes as a short *prompt* of words the generator reads.

    Each attribute value is spelled with the same tokens the descriptions use (the brand
    ``Pixon``, the subcategory ``compact phone``, the colour ``beige``, the tier
    ``mid-range``), so that stating an attribute becomes copying a word the model can see;
    a slot id says which attribute a word belongs to and a second index its place within
    the value. :meth:`encode` returns a long tensor (n_items, 3, P): row 0 token ids, row 1
    slot ids (1..6, 0 = padding), row 2 position within the slot.
    """

    def __init__(self, columns: Sequence[str] = ATTRIBUTES) -> None:
        self.columns = tuple(columns)

    def phrases(self, items: pd.DataFrame) -> list[str]:
        """Every attribute value of `items` as text (add them to the vocabulary)."""
        return sorted({str(v) for c in self.columns for v in items[c]})

    def encode(self, items: pd.DataFrame, vocab: Vocabulary) -> torch.Tensor:
        rows = []
        for record in items[list(self.columns)].itertuples(index=False):
            tokens, slots, places = [], [], []
            for slot, value in enumerate(record, start=1):
                ids = vocab.encode(str(value), eos=False)
                tokens += ids
                slots += [slot] * len(ids)
                places += list(range(len(ids)))
            rows.append((tokens, slots, places))
        width = max(len(t) for t, _, _ in rows)
        out = torch.zeros(len(rows), 3, width, dtype=torch.long)
        for i, (tokens, slots, places) in enumerate(rows):
            out[i, 0, : len(tokens)] = torch.tensor(tokens)
            out[i, 1, : len(slots)] = torch.tensor(slots)
            out[i, 2, : len(places)] = torch.tensor(places)
        return out


@dataclass(frozen=True)
class HeldOutSplit:
    """Row positions of the items used for training and for evaluation."""

    train: np.ndarray
    test: np.ndarray
    held_out_pairs: pd.DataFrame  # the attribute combinations never seen in training


def held_out_split(
    items: pd.DataFrame,
    by: Sequence[str] = (S.SUBCATEGORY, S.COLOR),
    share: float = 0.15,
    seed: int = 0,
) -> HeldOutSplit:
    """Hold out a random `share` of the value combinations of the columns `by`.

    Every item with a held-out combination goes to test, every other item to train. The
    draw is repeated (with the next seeds) until each single value of each column of `by`
    still occurs in training, so the test asks for new *combinations* only.
    """
    keys = items[list(by)].astype(str).agg(" | ".join, axis=1)
    combos = np.array(sorted(keys.unique()))
    n_out = round(share * len(combos))
    for attempt in range(100):
        rng = np.random.default_rng(seed + attempt)
        out = set(rng.choice(combos, size=n_out, replace=False))
        is_test = keys.isin(out).to_numpy()
        train = items.loc[~is_test]
        if all(set(train[c]) == set(items[c]) for c in by):
            pairs = items.loc[is_test, list(by)].drop_duplicates().sort_values(list(by))
            return HeldOutSplit(
                np.flatnonzero(~is_test), np.flatnonzero(is_test), pairs.reset_index(drop=True)
            )
    raise RuntimeError("could not hold out combinations while keeping every value in training")


def grammar_references(items: pd.DataFrame, n: int, seed: int = 0) -> list[list[str]]:
    """`n` descriptions per item written by the ShopSim grammar (independent draws)."""
    rng = np.random.default_rng(seed)
    return [[describe_item(row, rng)[1] for _ in range(n)] for _, row in items.iterrows()]


def encode_descriptions(texts: Sequence[str], vocab: Vocabulary) -> torch.Tensor:
    """Long tensor (n, max_len): ``<bos> tokens <eos>`` padded with ``<pad>`` (id 0)."""
    encoded = [vocab.encode(t, bos=True, eos=True) for t in texts]
    out = torch.full((len(encoded), max(len(e) for e in encoded)), vocab.pad_id)
    for i, ids in enumerate(encoded):
        out[i, : len(ids)] = torch.tensor(ids)
    return out


def tokenized(texts: Sequence[str]) -> list[list[str]]:
    """:func:`tokenize` on each text."""
    return [tokenize(t) for t in texts]

"""What every next-item model of the course shares: item embeddings built from the item's
id and attributes, the session flags, a tied output layer and batch scoring.

A next-item model reads a sequence of item embeddings and produces, at every position,
a user state ``u_t`` (a vector of the embedding size). The score of item i is the dot
product with that item's embedding, ``u_t . e_i + b_i``: the same table embeds the
items read and the items scored (a *tied* output layer), so an item's attributes help
both sides and a rarely seen item still gets a sensible vector from its category,
brand and price tier. The interest score of lesson 02 squashes the same dot product
into (0, 1) with a sigmoid (:func:`interest_score`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ecomrec.models.sequences import IGNORE_INDEX, SequenceBatch, query_batch
from ecomrec.scoring import NextItemScorer, ScoringContext


def item_feature_codes(items: pd.DataFrame, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """Integer codes 0..levels-1 of categorical item columns, rows in item-id order.

    Example:
        >>> frame = pd.DataFrame({"item_id": [1, 0], "brand": ["b", "a"]})
        >>> item_feature_codes(frame, ["brand"])["brand"].tolist()
        [0, 1]
    """
    ordered = items.sort_values("item_id")
    return {
        column: pd.factorize(ordered[column].astype(str), sort=True)[0].astype(np.int64)
        for column in columns
    }


class ItemEncoder(nn.Module):
    """Item embedding = id embedding + one embedding per attribute (+ projected text vector).

    Row ``n_items`` of the table is the padding item and is always zero. All embeddings
    start small (``init_std``, 0.05 by default): with large initial vectors the summed
    attribute embeddings dominate and training is slow to separate items.
    """

    def __init__(
        self,
        n_items: int,
        dim: int,
        features: Mapping[str, np.ndarray] | None = None,
        text_vectors: np.ndarray | None = None,
        init_std: float = 0.05,
    ) -> None:
        super().__init__()
        self.n_items = n_items
        self.ids = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
        self.feature_names = list(features or {})
        self.features = nn.ModuleDict()
        for name, codes in (features or {}).items():
            codes = np.asarray(codes, dtype=np.int64)
            if codes.shape != (n_items,):
                raise ValueError(f"feature {name!r} needs one code per item ({n_items})")
            levels = int(codes.max()) + 1
            self.register_buffer(f"codes_{name}", torch.as_tensor(np.r_[codes, levels]))
            self.features[name] = nn.Embedding(levels + 1, dim, padding_idx=levels)
        self.text = None
        if text_vectors is not None:
            text_vectors = np.asarray(text_vectors, dtype=np.float32)
            if text_vectors.shape[0] != n_items:
                raise ValueError("text_vectors needs one row per item")
            padded = np.vstack([text_vectors, np.zeros((1, text_vectors.shape[1]), np.float32)])
            self.register_buffer("text_vectors", torch.as_tensor(padded))
            self.text = nn.Linear(text_vectors.shape[1], dim, bias=False)
        for module in self.modules():
            if isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=init_std)
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        if self.text is not None:
            nn.init.normal_(self.text.weight, std=init_std / np.sqrt(text_vectors.shape[1]))

    def table(self) -> torch.Tensor:
        """The (n_items + 1, dim) embedding of every item, padding row last (zero)."""
        table = self.ids.weight
        for name in self.feature_names:
            table = table + self.features[name](getattr(self, f"codes_{name}"))
        if self.text is not None:
            table = table + self.text(self.text_vectors) * self._not_padding()
        return table

    def _not_padding(self) -> torch.Tensor:
        keep = torch.ones(self.n_items + 1, 1, device=self.ids.weight.device)
        keep[self.n_items] = 0.0
        return keep


def interest_score(user_state: torch.Tensor, item_embeddings: torch.Tensor) -> torch.Tensor:
    """r_ui = sigmoid(h_u . e_i): user u's interest in item i, for every pair.

    `user_state` is (n_users, d) or (d,), `item_embeddings` (n_items, d); the result is
    (n_users, n_items) or (n_items,). One index per entity, one dot product per pair:
    the scalar a sigmoid needs.

    Example:
        >>> interest_score(torch.tensor([1.0, 0.0]), torch.tensor([[2.0, 5.0], [0.0, 1.0]]))
        tensor([0.8808, 0.5000])
    """
    return torch.sigmoid(user_state @ item_embeddings.T)


@torch.no_grad()
def seen_mask(batch: SequenceBatch, n_items: int) -> torch.Tensor:
    """(B, T, n_items) True where the item was read at a position <= t and is not the target at t.

    Built with one scatter of a (B, T, T) index of earlier items, far cheaper than
    summing one-hot vectors.

    Example:
        >>> from ecomrec.models.sequences import next_item_batch
        >>> batch = next_item_batch([np.array([0, 1, 0])], [np.ones(3, dtype=bool)], n_items=3)
        >>> seen_mask(batch, 3).int().tolist()  # item 0 is the target at t=1: not masked
        [[[1, 0, 0], [0, 1, 0]]]
    """
    n_batch, length = batch.items.shape
    earlier = torch.tril(torch.ones(length, length, dtype=torch.bool))  # [t, s]: s <= t
    index = batch.items[:, None, :].expand(n_batch, length, length)
    index = torch.where(earlier, index, torch.full_like(index, n_items))  # later -> padding
    mask = torch.zeros(n_batch, length, n_items + 1, dtype=torch.bool)
    mask.scatter_(2, index, True)
    targets = torch.where(batch.targets >= 0, batch.targets, n_items)[..., None]
    mask.scatter_(2, targets, False)
    return mask[..., :n_items]


class NextItemModel(nn.Module, NextItemScorer):
    """Base of the GRU and self-attention next-item models (a :class:`NextItemScorer`).

    Input at position t: ``e(x_t) + s_in[x_t opened a session] + s_next[next item opens
    one]``. The next-start flag matters: a user who just arrived is served from their
    long-term interests and recent sessions, one in the middle of a session from its
    mission; without the flag the model has to guess which case it is in. Subclasses
    implement :meth:`encode`, which turns the (B, T, d) inputs into (B, T, d) states
    using only positions <= t.
    """

    def __init__(
        self,
        n_items: int,
        dim: int = 64,
        features: Mapping[str, np.ndarray] | None = None,
        text_vectors: np.ndarray | None = None,
        init_std: float = 0.05,
        dropout: float = 0.1,
        mask_seen: bool = True,
    ) -> None:
        super().__init__()
        self.n_items = n_items
        self.dim = dim
        self.mask_seen = mask_seen
        self.item_encoder = ItemEncoder(n_items, dim, features, text_vectors, init_std)
        self.start_flag = nn.Embedding(2, dim)
        self.next_start_flag = nn.Embedding(2, dim)
        nn.init.normal_(self.start_flag.weight, std=init_std)
        nn.init.normal_(self.next_start_flag.weight, std=init_std)
        self.input_dropout = nn.Dropout(dropout)
        self.output_bias = nn.Parameter(torch.zeros(n_items))

    @abstractmethod
    def encode(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, d) inputs -> (B, T, d) user states; position t may only see positions <= t."""

    def states(self, batch: SequenceBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """User states (B, T, d) at every position, and the item table (n_items + 1, d)."""
        table = self.item_encoder.table()
        inputs = (
            table[batch.items]
            + self.start_flag(batch.starts.long())
            + self.next_start_flag(batch.next_starts.long())
        )
        return self.encode(self.input_dropout(inputs), batch.mask), table

    def forward(self, batch: SequenceBatch) -> torch.Tensor:
        """Logits (B, T, n_items) for the next item at every position."""
        states, table = self.states(batch)
        return states @ table[: self.n_items].T + self.output_bias

    def loss(self, batch: SequenceBatch) -> torch.Tensor:
        """Mean full-softmax cross-entropy over the real positions of the batch.

        With ``mask_seen`` the items already read at positions <= t (other than the
        target) are left out of the softmax at t, as they are left out of the ranking at
        evaluation: the model spends no effort pushing down items nobody views twice.
        """
        logits = self(batch)
        if self.mask_seen:
            logits = logits.masked_fill(seen_mask(batch, self.n_items), float("-inf"))
        return nn.functional.cross_entropy(
            logits.reshape(-1, self.n_items), batch.targets.reshape(-1), ignore_index=IGNORE_INDEX
        )

    def last_states(self, batch: SequenceBatch) -> torch.Tensor:
        """(B, d) state at each row's last real position: the user's state for the next item."""
        states, _ = self.states(batch)
        return states[torch.arange(len(batch)), batch.lengths - 1]

    @torch.no_grad()
    def score(
        self, context: ScoringContext, *, max_len: int | None = None, batch_size: int = 512
    ) -> np.ndarray:
        """(len(context), n_items) next-item scores after each history (in eval mode).

        Reads the histories with their session flags and the target's session flag;
        `max_len` keeps only the last `max_len` items of each history (None: all, or the
        model's own ``max_len`` if it has one). With ``mask_seen`` the model never learnt
        to score the items already in a history (they were left out of its softmax), so
        exclude them when ranking, as :func:`ecomrec.splits.seen_items` does.
        """
        sequences, target_starts = context.sequences(self)
        if max_len is None:
            max_len = getattr(self, "max_len", None)
        was_training = self.training
        self.eval()
        table = self.item_encoder.table()[: self.n_items]
        blocks = []
        for begin in range(0, len(sequences), batch_size):
            rows = slice(begin, begin + batch_size)
            batch = query_batch(
                sequences.items[rows],
                sequences.starts[rows],
                np.asarray(target_starts)[rows],
                self.n_items,
                max_len,
            )
            blocks.append((self.last_states(batch) @ table.T + self.output_bias).numpy())
        self.train(was_training)
        return np.concatenate(blocks).astype(np.float64)

"""Dense retrieval helpers: encode each distinct text once, and a query adapter trained with
in-batch negatives (the multiple-negatives ranking loss) on frozen encoder outputs.

The adapter is fine-tuning within a laptop budget: the encoder's document vectors stay fixed
(so the catalogue is encoded once), and the query side learns a residual linear map
``q' = normalise(q + q A)`` starting from ``A = 0`` (the pretrained model exactly). The loss
for a batch of (query, clicked item, hard negative) triples is

    L = -mean_i log softmax_j(scale * q'_i . d_j)[i],  j over every positive and negative of
    the batch,

so every other query's clicked item is a negative for free ("in-batch") and the BM25 hard
negative of each query is one more that keyword search would have confused with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ecomrec.training import epoch_generator


def encode_unique(encoder, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
    """L2-normalised embeddings of `texts`, encoding each distinct text once."""
    unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    vectors = encoder.encode(
        list(unique), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)[inverse]


class QueryAdapter(nn.Module):
    """``q' = normalise(q + q A)``, A initialised to zero; trained with in-batch negatives."""

    def __init__(self, dim: int, scale: float = 20.0):
        super().__init__()
        self.A = nn.Parameter(torch.zeros(dim, dim))
        self.scale = scale

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(q + q @ self.A, dim=-1)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        q, pos, neg = batch
        return in_batch_loss(self(q), pos, neg, self.scale)

    def transform(self, q: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self(torch.as_tensor(q)).numpy()


def in_batch_loss(
    q: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor | None = None, scale: float = 20.0
) -> torch.Tensor:
    """Multiple-negatives ranking loss: row i of q must pick pos[i] among pos (and neg)."""
    candidates = pos if neg is None else torch.cat([pos, neg])
    logits = scale * q @ candidates.T
    return nn.functional.cross_entropy(logits, torch.arange(len(q)))


def triple_batches(
    queries: np.ndarray, positives: np.ndarray, negatives: np.ndarray, batch_size: int, seed: int
):
    """``batches(epoch)`` for `ecomrec.training.train`: shuffled (q, pos, neg) tensor triples."""
    q, p, n = (torch.as_tensor(a) for a in (queries, positives, negatives))

    def batches(epoch: int):
        order = torch.randperm(len(q), generator=epoch_generator(seed, epoch))
        for start in range(0, len(q), batch_size):
            rows = order[start : start + batch_size]
            yield q[rows], p[rows], n[rows]

    return batches

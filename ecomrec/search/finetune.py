"""Fine-tuning every weight of a sentence-transformers bi-encoder on (query, clicked item, hard
negative) triples, with the multiple-negatives ranking loss, in the course's one training loop.

The loss is the one `ecomrec.search.dense.in_batch_loss` writes out: for a batch of B triples,
each query must pick its clicked item among the B clicked items and the B hard negatives,

    L = -mean_i log softmax_j(scale * cos(q_i, d_j))[i],

here computed by ``sentence_transformers.losses.MultipleNegativesRankingLoss`` on the encoder's
own forward pass, so that the gradient reaches every layer (the word-piece embeddings too),
unlike the query adapter, which trains one matrix on frozen vectors.

    >>> from ecomrec.search.finetune import text_triple_batches
    >>> texts = ["q1", "q2", "q3"], ["a", "b", "c"], ["x", "y", "z"]
    >>> batches = text_triple_batches(*texts, batch_size=2, seed=0)
    >>> [len(q) for q, _, _ in batches(1)]
    [2, 1]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ecomrec.training import epoch_generator


class BiEncoderFineTuning(nn.Module):
    """A SentenceTransformer and its multiple-negatives ranking loss, for `ecomrec.training.train`.

    encoder: the model to train in place (every parameter is trainable);
    max_seq_length: tokens kept per text; the cost of a step grows with it, so keep it just
    above the longest query and listing.
    """

    def __init__(self, encoder, scale: float = 20.0, max_seq_length: int | None = None):
        super().__init__()
        from sentence_transformers.sentence_transformer import losses

        if max_seq_length is not None:
            if max_seq_length < 2:
                raise ValueError(f"max_seq_length must be at least 2 tokens, got {max_seq_length}")
            encoder.max_seq_length = max_seq_length
        self.encoder = encoder
        self.objective = losses.MultipleNegativesRankingLoss(encoder, scale=scale)

    def loss(self, batch: tuple[Sequence[str], Sequence[str], Sequence[str]]) -> torch.Tensor:
        queries, positives, negatives = batch
        features = [self.encoder.preprocess(list(t)) for t in (queries, positives, negatives)]
        return self.objective(features, None)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.encoder.parameters() if p.requires_grad)


def text_triple_batches(
    queries: Sequence[str],
    positives: Sequence[str],
    negatives: Sequence[str],
    batch_size: int,
    seed: int,
):
    """``batches(epoch)`` for `ecomrec.training.train`: shuffled (queries, positives,
    negatives) batches of texts, the order seeded from (seed, epoch)."""
    if not len(queries) == len(positives) == len(negatives):
        raise ValueError(
            f"need one positive and one negative per query, got {len(queries)} queries, "
            f"{len(positives)} positives and {len(negatives)} negatives"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    q, p, n = (np.asarray(a, dtype=object) for a in (queries, positives, negatives))

    def batches(epoch: int):
        order = torch.randperm(len(q), generator=epoch_generator(seed, epoch)).numpy()
        for start in range(0, len(q), batch_size):
            rows = order[start : start + batch_size]
            yield q[rows].tolist(), p[rows].tolist(), n[rows].tolist()

    return batches

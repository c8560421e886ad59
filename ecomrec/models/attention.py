"""A small self-attentive next-item model (SASRec-style: Kang & McAuley, 2018).

Each position attends to itself and every earlier position of the sequence, never to a
later one (the causal mask), so the state at t can be trained to predict the item at
t + 1 without seeing it. Attention has no notion of order by itself: a learnt positional
embedding is added to the input of each position.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecomrec.models.base import NextItemModel


def causal_mask(length: int) -> torch.Tensor:
    """(length, length) boolean mask, True where attention is *forbidden* (key after query).

    Example:
        >>> causal_mask(3).int().tolist()
        [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
    """
    return torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)


class AttentionBlock(nn.Module):
    """Pre-norm Transformer block: x + attention(norm(x)), then x + feed-forward(norm(x))."""

    def __init__(self, dim: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, n_heads, dropout=dropout, batch_first=True)
        self.feed_forward_norm = nn.LayerNorm(dim)
        self.feed_forward = nn.Sequential(
            nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        normed = self.attention_norm(x)
        attended, _ = self.attention(normed, normed, normed, attn_mask=mask, need_weights=False)
        x = x + self.dropout(attended)
        return x + self.dropout(self.feed_forward(self.feed_forward_norm(x)))


class SelfAttentionNextItem(NextItemModel):
    """Stack of causal self-attention blocks over the last `max_len` items.

    Right padding needs no key mask: with the causal mask a real position only attends
    to earlier positions, and padding always comes after the real ones.
    """

    def __init__(
        self,
        n_items: int,
        dim: int = 64,
        dropout: float = 0.1,
        n_blocks: int = 2,
        n_heads: int = 2,
        max_len: int = 50,
        init_std: float = 0.05,
        **kwargs: Any,
    ) -> None:
        """`kwargs` go to :class:`NextItemModel` (features, text_vectors, mask_seen)."""
        super().__init__(n_items, dim, dropout=dropout, init_std=init_std, **kwargs)
        self.max_len = max_len
        self.positions = nn.Embedding(max_len, dim)
        nn.init.normal_(self.positions.weight, std=init_std)
        self.blocks = nn.ModuleList(AttentionBlock(dim, n_heads, dropout) for _ in range(n_blocks))
        self.final_norm = nn.LayerNorm(dim)

    def encode(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        length = inputs.shape[1]
        if length > self.max_len:
            raise ValueError(
                f"sequence of {length} positions is longer than max_len={self.max_len}"
            )
        x = inputs + self.positions.weight[:length]
        attention_mask = causal_mask(length).to(inputs.device)
        for block in self.blocks:
            x = block(x, attention_mask)
        return self.final_norm(x)

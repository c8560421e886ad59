"""Conditional generators of descriptions and a discriminator over token sequences.

The attributes reach every model as a *prompt* (see :class:`ecomrec.text.AttributeCodec`):
a tensor (B, 3, P) of word ids, slot ids (which attribute, 0 = padding) and positions
within the slot. Prompt words and description words share one embedding table, and the
output layer reuses it (tied weights), so writing the brand amounts to finding the brand
among the prompt words and emitting the same word.

Both generators share one interface, so training and sampling code does not care which
one it drives:

- ``forward(prompt, tokens) -> logits``: teacher forcing. `tokens` (B, T) start with
  ``<bos>``; ``logits[:, t]`` scores the token that follows ``tokens[:, : t + 1]``.
- ``start(prompt) -> state`` and ``step(state, token) -> (logits, state)``: one token
  at a time, for sampling.

:class:`ConditionalGRU` is a GRU language model that attends over the prompt at every step
(Luong-style attention). :class:`TransformerGenerator` is a decoder-only Transformer that
reads the prompt as a prefix and the description after it under a causal mask.
:class:`SequenceDiscriminator` reads a description and the prompt and says how likely the
pair is real.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

N_SLOTS = 7  # six attributes + padding
MAX_SLOT_WORDS = 4


class PromptEmbedding(nn.Module):
    """Prompt (B, 3, P) -> (B, P, dim): word + slot + position-in-slot embeddings, and a
    padding mask (B, P) that is True where there is no word."""

    def __init__(self, words: nn.Embedding) -> None:
        super().__init__()
        self.words = words
        dim = words.embedding_dim
        self.slots = nn.Embedding(N_SLOTS, dim)
        self.places = nn.Embedding(MAX_SLOT_WORDS, dim)

    def forward(self, prompt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, slots, places = prompt[:, 0], prompt[:, 1], prompt[:, 2]
        x = (
            self.words(tokens)
            + self.slots(slots)
            + self.places(places.clamp(max=MAX_SLOT_WORDS - 1))
        )
        return x, slots == 0


class ConditionalGRU(nn.Module):
    """GRU language model with attention over the attribute prompt.

    The initial state is computed from the mean prompt embedding. At step t the GRU state
    ``h_t`` queries the prompt, ``c_t = sum_j softmax_j(q(h_t) . k_j) v_j`` with keys that
    know each word's slot and values that are the plain word embeddings, and the next-token
    logits are ``E o_t + b`` with ``o_t = W [h_t; c_t]`` and ``E`` the shared embedding
    table: attending to the brand in the prompt puts the brand's own embedding into
    ``o_t``.
    """

    def __init__(
        self, vocab_size: int, dim: int = 96, hidden_dim: int = 128, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.prompt = PromptEmbedding(self.embed)
        self.init_hidden = nn.Linear(dim, hidden_dim)
        self.gru = nn.GRU(dim, hidden_dim, batch_first=True)
        self.query = nn.Linear(hidden_dim, dim)
        self.mix = nn.Linear(hidden_dim + dim, dim)
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        self.dropout = nn.Dropout(dropout)

    def _memory(self, prompt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        keys, pad = self.prompt(prompt)
        values = self.embed(prompt[:, 0])
        return keys, values, pad

    def _readout(self, h: torch.Tensor, memory: tuple) -> torch.Tensor:
        keys, values, pad = memory  # h: (B, T, H)
        scores = self.query(h) @ keys.transpose(1, 2) / math.sqrt(keys.shape[2])
        weights = torch.softmax(scores.masked_fill(pad.unsqueeze(1), -torch.inf), dim=2)
        o = self.mix(torch.cat([h, weights @ values], dim=2))
        return self.dropout(o) @ self.embed.weight.T + self.bias

    def start(self, prompt: torch.Tensor) -> tuple:
        memory = self._memory(prompt)
        keys, _, pad = memory
        mean = (keys * (~pad).unsqueeze(2)).sum(1) / (~pad).sum(1, keepdim=True).clamp(min=1)
        return memory, torch.tanh(self.init_hidden(mean)).unsqueeze(0)

    def forward(self, prompt: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        memory, h0 = self.start(prompt)
        output, _ = self.gru(self.dropout(self.embed(tokens)), h0)
        return self._readout(output, memory)

    def step(self, state: tuple, token: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        memory, h = state
        output, h = self.gru(self.embed(token).unsqueeze(1), h)
        return self._readout(output, memory)[:, 0], (memory, h)


class TransformerGenerator(nn.Module):
    """Decoder-only Transformer: ``prompt words <bos> w_1 .. w_T`` under a causal mask.

    Prompt words carry slot embeddings, description words learned position embeddings;
    the output layer is tied to the word embeddings. Pre-norm layers (``norm_first``)
    train stably at this size without a learning-rate warm-up.
    """

    def __init__(
        self,
        vocab_size: int,
        dim: int = 64,
        heads: int = 4,
        layers: int = 2,
        ff_dim: int = 128,
        max_len: int = 48,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.prompt = PromptEmbedding(self.embed)
        self.position = nn.Embedding(max_len, dim)
        layer = nn.TransformerEncoderLayer(
            dim, heads, ff_dim, dropout, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, vocab_size)

    def forward(self, prompt: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"at most {self.max_len} tokens, got {tokens.shape[1]}")
        p, pad = self.prompt(prompt)
        x = self.embed(tokens) + self.position(torch.arange(tokens.shape[1]))
        n_prompt, length = p.shape[1], p.shape[1] + tokens.shape[1]
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
        # the prompt's padding is masked for every query; a prompt word may see the others
        no_pad = torch.zeros(len(tokens), tokens.shape[1], dtype=torch.bool)
        key_pad = torch.cat([pad, no_pad], dim=1)
        causal[:n_prompt, :n_prompt] = False
        hidden = self.blocks(torch.cat([p, x], dim=1), mask=causal, src_key_padding_mask=key_pad)
        return self.out(self.norm(hidden[:, n_prompt:]))

    def start(self, prompt: torch.Tensor) -> tuple:
        return prompt, torch.empty(len(prompt), 0, dtype=torch.long)

    def step(self, state: tuple, token: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        # No key/value cache: the sequence is recomputed at each step, cheap at this length.
        prompt, tokens = state
        tokens = torch.cat([tokens, token.unsqueeze(1)], dim=1)
        return self.forward(prompt, tokens)[:, -1], (prompt, tokens)


class SequenceDiscriminator(nn.Module):
    """Real or generated? A GRU reads the description; its last state, together with an
    attention read of the prompt, gives a logit.

    Seeing the prompt lets it catch a fluent description of the wrong item, so adversarial
    training also rewards stating the right attributes.
    """

    def __init__(self, vocab_size: int, dim: int = 64, hidden_dim: int = 128) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.prompt = PromptEmbedding(self.embed)
        self.gru = nn.GRU(dim, hidden_dim, batch_first=True)
        self.query = nn.Linear(hidden_dim, dim)
        self.head = nn.Sequential(
            nn.Linear(hidden_dim + dim, hidden_dim), nn.LeakyReLU(0.2), nn.Linear(hidden_dim, 1)
        )

    def forward(self, prompt: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (B,) for `tokens` (B, T) padded with 0 after ``<eos>``."""
        output, _ = self.gru(self.embed(tokens))
        lengths = (tokens != 0).sum(dim=1).clamp(min=1)
        last = output[torch.arange(len(tokens)), lengths - 1]
        keys, pad = self.prompt(prompt)
        scores = (self.query(last).unsqueeze(1) * keys).sum(2).masked_fill(pad, -torch.inf)
        read = (F.softmax(scores, dim=1).unsqueeze(2) * keys).sum(1)
        return self.head(torch.cat([last, read], dim=1)).squeeze(1)

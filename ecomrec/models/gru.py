"""Recurrent models: the RNN cell from its formula, and a GRU next-item model (GRU4Rec-style).

The simple recurrent cell updates a hidden state from the previous state and the input::

    h_t = tanh(W_h [h_{t-1}; x_t] + b_h)

where ``[h; x]`` stacks the two vectors, so ``W_h`` has shape (hidden, hidden + input).
``torch.nn.RNNCell`` computes the same thing with the matrix split in two,
``tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``; :func:`formula_weights` converts.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecomrec.models.base import NextItemModel


def rnn_cell_step(
    h_prev: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """One step of h_t = tanh(W_h [h_{t-1}; x_t] + b_h), batched over rows.

    Args:
        h_prev: (B, hidden) previous states; x: (B, input) inputs;
        weight: (hidden, hidden + input) W_h; bias: (hidden,) b_h.
    """
    return torch.tanh(torch.cat([h_prev, x], dim=1) @ weight.T + bias)


def formula_weights(cell: nn.RNNCell) -> tuple[torch.Tensor, torch.Tensor]:
    """(W_h, b_h) of the formula from a ``torch.nn.RNNCell``.

    W_h = [W_hh | W_ih] (the state's columns first, as in [h_{t-1}; x_t]) and b_h = b_ih + b_hh.
    """
    weight = torch.cat([cell.weight_hh, cell.weight_ih], dim=1)
    bias = cell.bias_ih + cell.bias_hh if cell.bias else torch.zeros(cell.hidden_size)
    return weight.detach(), bias.detach()


class GRUNextItem(NextItemModel):
    """GRU over the user's item sequence; the state at t scores the item at t + 1.

    A GRU is causal by construction (step t never reads a later input), so right padding
    needs no mask: padded steps come after every real one and their states are ignored.
    """

    def __init__(self, n_items: int, dim: int = 64, dropout: float = 0.1, **kwargs: Any) -> None:
        """`kwargs` go to :class:`NextItemModel` (features, text_vectors, init_std, mask_seen)."""
        super().__init__(n_items, dim, dropout=dropout, **kwargs)
        self.gru = nn.GRU(dim, dim, batch_first=True)
        self.output_dropout = nn.Dropout(dropout)

    def encode(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        states, _ = self.gru(inputs)
        return self.output_dropout(states)

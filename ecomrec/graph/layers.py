"""Message-passing layers written from their formulas, and the source article's edge-blind network.

Every encoder here has the same call, ``encoder(x, adjacency) -> [h1, ..., hL]`` (the
output of each layer), so the link-prediction code treats them alike:

- :class:`GraphConv`: ``H' = M H W^T + b`` for a propagation matrix M. With M = A (the raw
  adjacency) this is the source article's formula ``h_v' = sum_{u in N(v)} W h_u + b``; with
  M = D^-1/2 (A + I) D^-1/2 it is the GCN layer of Kipf and Welling.
- :class:`SAGEConv`: GraphSAGE with mean aggregation,
  ``h_v' = W_self h_v + W_nb mean_{N(v)} h_u + b``.
- :class:`FeatureMLP`: the source article's "GNN", a stack of dense layers. It accepts an adjacency
  for the common interface and never reads it: it is not a graph network.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ecomrec.graph.adjacency import propagate


class GraphConv(nn.Module):
    """One message-passing layer ``H' = M (H W^T) + b`` (no activation).

    The weight W is shared by every edge, which is what lets the layer run on graphs of
    any size; the propagation matrix M decides who talks to whom and how loudly.
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_dim)) if bias else None

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        out = propagate(adjacency, self.linear(x))  # M (H W^T): cheaper than (M H) W^T
        return out + self.bias if self.bias is not None else out


class SAGEConv(nn.Module):
    """GraphSAGE layer (mean aggregator): ``W_self h_v + W_nb (D^-1 A H)_v + b``.

    Pass the row-normalised adjacency from :func:`ecomrec.graph.mean_adjacency`. Unlike the
    GCN, a node's own state and its neighbours' mean get separate weights.
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.self_linear = nn.Linear(in_dim, out_dim, bias=True)
        self.neighbour_linear = nn.Linear(in_dim, out_dim, bias=False)

    def forward(self, x: torch.Tensor, mean_adjacency: torch.Tensor) -> torch.Tensor:
        return self.self_linear(x) + propagate(mean_adjacency, self.neighbour_linear(x))


class _Encoder(nn.Module):
    """Layers with ReLU (and dropout) between them; the last layer stays linear."""

    propagation: str | None = None  # which MessageGraph matrix the layers read

    def __init__(self, layers: Sequence[nn.Module], dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.dropout = dropout

    def _layer(self, layer: nn.Module, h: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        return layer(h, adjacency)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor | None) -> list[torch.Tensor]:
        outputs = []
        h = x
        for index, layer in enumerate(self.layers):
            h = nn.functional.dropout(h, self.dropout, self.training)
            h = self._layer(layer, h, adjacency)
            if index < len(self.layers) - 1:
                h = torch.relu(h)
            outputs.append(h)
        return outputs

    def embed(self, x: torch.Tensor, adjacency: torch.Tensor | None) -> torch.Tensor:
        """The last layer's output: one embedding per node."""
        return self.forward(x, adjacency)[-1]


def _dims(in_dim: int, hidden_dims: Sequence[int]) -> list[tuple[int, int]]:
    dims = [in_dim, *hidden_dims]
    if len(dims) < 2:
        raise ValueError("hidden_dims needs at least one layer width")
    return list(zip(dims[:-1], dims[1:], strict=True))


class GCN(_Encoder):
    """Graph convolutional network: GraphConv layers on the normalised adjacency."""

    propagation = "normalized"

    def __init__(self, in_dim: int, hidden_dims: Sequence[int], dropout: float = 0.0) -> None:
        super().__init__([GraphConv(a, b) for a, b in _dims(in_dim, hidden_dims)], dropout)


class GraphSAGE(_Encoder):
    """GraphSAGE (mean aggregator) layers on the row-normalised adjacency."""

    propagation = "mean"

    def __init__(self, in_dim: int, hidden_dims: Sequence[int], dropout: float = 0.0) -> None:
        super().__init__([SAGEConv(a, b) for a, b in _dims(in_dim, hidden_dims)], dropout)


class FeatureMLP(_Encoder):
    """The source article's "GNN": dense layers on each node's own features. Ignores `adjacency`."""

    propagation = None

    def __init__(self, in_dim: int, hidden_dims: Sequence[int], dropout: float = 0.0) -> None:
        super().__init__([nn.Linear(a, b) for a, b in _dims(in_dim, hidden_dims)], dropout)

    def _layer(self, layer: nn.Module, h: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        return layer(h)  # the adjacency is never read: edges cannot matter


def dot_scores(h: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """Logit of an edge (u, v) as the dot product ``h_u . h_v``; `pairs` is (2, n)."""
    return (h[pairs[0]] * h[pairs[1]]).sum(dim=-1)


def layer_combined_logits(
    layers: Sequence[torch.Tensor],
    pairs: torch.Tensor,
    alphas: torch.Tensor | Sequence[float],
    a: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """The source article's relationship score before the sigmoid.

    The score is ``a * sum_l alpha_l h_u^(l) . h_v^(l)``.

    ``sigmoid`` of it is ``r_uv``. It equals the dot product of the concatenated,
    ``sqrt(alpha_l)``-scaled layer embeddings, so every layer's view of the pair counts.
    """
    if len(layers) != len(alphas):
        raise ValueError(f"{len(layers)} layers but {len(alphas)} weights")
    total = sum(alpha * dot_scores(h, pairs) for alpha, h in zip(alphas, layers, strict=True))
    return a * total


def layer_combination(
    layers: Sequence[torch.Tensor], alphas: torch.Tensor | Sequence[float]
) -> torch.Tensor:
    """LightGCN's final embedding ``sum_l alpha_l h^(l)`` (combine first, then score)."""
    if len(layers) != len(alphas):
        raise ValueError(f"{len(layers)} layers but {len(alphas)} weights")
    return sum(alpha * h for alpha, h in zip(alphas, layers, strict=True))


class LayerCombinedScore(nn.Module):
    """Learnable ``a`` and layer weights ``alpha`` (a softmax, so they sum to 1)."""

    def __init__(self, n_layers: int) -> None:
        super().__init__()
        self.alpha_logits = nn.Parameter(torch.zeros(n_layers))
        self.log_a = nn.Parameter(torch.zeros(()))

    @property
    def alphas(self) -> torch.Tensor:
        return torch.softmax(self.alpha_logits, dim=0)

    def forward(self, layers: Sequence[torch.Tensor], pairs: torch.Tensor) -> torch.Tensor:
        return layer_combined_logits(layers, pairs, self.alphas, self.log_a.exp())


class CommonNeighbourScore(nn.Module):
    """Pair readout with a common-neighbour term (in the spirit of Neural Common Neighbour).

    ``logit(u, v) = MLP([h_u * h_v, sum_{w in N(u) ∩ N(v)} h_w])``. The dot product of two
    smoothed embeddings cannot count the friends u and v share; this readout passes
    messages from exactly those shared friends to the pair.

    With ``n_items > 0`` a third input sums learnt item vectors over the items one user
    of the pair viewed and the other bought (messages from the user-item graph).
    """

    def __init__(self, dim: int, hidden: int = 64, n_items: int = 0, item_dim: int = 16) -> None:
        super().__init__()
        self.items = nn.Embedding(n_items, item_dim) if n_items else None
        if self.items is not None:
            nn.init.normal_(self.items.weight, std=0.1)
        in_dim = 2 * dim + (item_dim if n_items else 0)
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, h: torch.Tensor, pairs: torch.Tensor, graph) -> torch.Tensor:
        index = pairs.numpy()
        # the sum of h_w over each pair's shared neighbours w: (n_pairs, dim)
        parts = [h[pairs[0]] * h[pairs[1]], propagate(graph.common_neighbours(index), h)]
        if self.items is not None:
            parts.append(propagate(graph.shared_items(index), self.items.weight))
        return self.mlp(torch.cat(parts, dim=1)).squeeze(-1)


DECODERS = ("dot", "layers", "common")


class LinkPredictor(nn.Module):
    """An encoder plus a decoder that turns node pairs into edge logits.

    Decoders: ``"dot"`` scores ``h_u . h_v`` with the last layer; ``"layers"`` is the
    source article's layer-combined score (:class:`LayerCombinedScore`); ``"common"`` adds
    the shared-neighbour readout (:class:`CommonNeighbourScore`). The graph is a
    :class:`ecomrec.graph.MessageGraph`; each encoder reads the matrix it needs from it.
    """

    def __init__(self, encoder: _Encoder, decoder: str = "dot", n_items: int = 0) -> None:
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        self.encoder = encoder
        self.decoder = decoder
        self.combine = LayerCombinedScore(len(encoder.layers)) if decoder == "layers" else None
        out_dim = _out_dim(encoder.layers[-1])
        self.common = (
            CommonNeighbourScore(out_dim, n_items=n_items) if decoder == "common" else None
        )

    def forward(self, x: torch.Tensor, graph, pairs: torch.Tensor) -> torch.Tensor:
        kind = self.encoder.propagation
        layers = self.encoder(x, None if kind is None else graph.matrix(kind))
        if self.combine is not None:
            return self.combine(layers, pairs)
        if self.common is not None:
            return self.common(layers[-1], pairs, graph)
        return dot_scores(layers[-1], pairs)


def _out_dim(layer: nn.Module) -> int:
    if isinstance(layer, nn.Linear):
        return layer.out_features
    if isinstance(layer, GraphConv):
        return layer.linear.out_features
    return layer.self_linear.out_features

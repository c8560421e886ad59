"""Adjacency matrices for message passing, dense or ``torch.sparse``.

The GCN of Kipf and Welling propagates with the symmetric normalised adjacency with
self-loops,

    Â = D̃^{-1/2} (A + I) D̃^{-1/2},   D̃_vv = 1 + deg(v),

so that a node keeps its own state (the self-loop) and a hub's many neighbours do not
blow up its sum (each message u -> v is scaled by 1 / sqrt(d̃_u d̃_v)).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


def _both_directions(edges: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique directed (row, col) pairs of an undirected edge list, self-loops dropped."""
    edges = np.asarray(edges, dtype=np.int64)
    if edges.ndim != 2 or edges.shape[0] != 2:
        raise ValueError(f"edges must have shape (2, n_edges), got {edges.shape}")
    if edges.size and (edges.min() < 0 or edges.max() >= n_nodes):
        raise ValueError(f"node ids must be in 0..{n_nodes - 1}")
    rows = np.concatenate([edges[0], edges[1]])
    cols = np.concatenate([edges[1], edges[0]])
    keep = rows != cols
    flat = np.unique(rows[keep] * n_nodes + cols[keep])
    return flat // n_nodes, flat % n_nodes


def _matrix(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_nodes: int, sparse: bool
) -> torch.Tensor:
    index = torch.as_tensor(np.stack([rows, cols]), dtype=torch.int64)
    matrix = torch.sparse_coo_tensor(
        index,
        torch.as_tensor(values, dtype=torch.float32),
        (n_nodes, n_nodes),
        check_invariants=False,  # indices are checked above; this also silences a warning
    ).coalesce()
    return matrix if sparse else matrix.to_dense()


def adjacency_matrix(
    edges: np.ndarray, n_nodes: int, *, self_loops: bool = False, sparse: bool = False
) -> torch.Tensor:
    """The 0/1 symmetric adjacency matrix A (plus I with `self_loops`) as float32.

    Example:
        >>> adjacency_matrix(np.array([[0], [1]]), 3).tolist()
        [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    rows, cols = _both_directions(edges, n_nodes)
    if self_loops:
        rows = np.concatenate([rows, np.arange(n_nodes)])
        cols = np.concatenate([cols, np.arange(n_nodes)])
    return _matrix(rows, cols, np.ones(len(rows)), n_nodes, sparse)


def normalized_adjacency(
    edges: np.ndarray, n_nodes: int, *, self_loops: bool = True, sparse: bool = False
) -> torch.Tensor:
    """Symmetric normalised adjacency ``D^-1/2 (A [+ I]) D^-1/2`` as float32.

    With ``self_loops=True`` (the GCN's choice) every degree is at least 1. Without
    self-loops (LightGCN's choice) an isolated node has degree 0 and its row stays zero.

    Example (path 0 - 1 - 2, degrees with self-loops 2, 3, 2):
        >>> m = normalized_adjacency(np.array([[0, 1], [1, 2]]), 3)
        >>> round(float(m[0, 1]), 4), round(float(m[1, 1]), 4)  # 1/sqrt(2*3), 1/3
        (0.4082, 0.3333)
    """
    rows, cols = _both_directions(edges, n_nodes)
    if self_loops:
        rows = np.concatenate([rows, np.arange(n_nodes)])
        cols = np.concatenate([cols, np.arange(n_nodes)])
    degree = np.bincount(rows, minlength=n_nodes).astype(np.float64)
    inv_sqrt = np.zeros(n_nodes)
    inv_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    values = inv_sqrt[rows] * inv_sqrt[cols]
    return _matrix(rows, cols, values, n_nodes, sparse)


def mean_adjacency(edges: np.ndarray, n_nodes: int, *, sparse: bool = True) -> torch.Tensor:
    """Row-normalised adjacency ``D^-1 A``: row v averages v's neighbours (GraphSAGE-mean).

    Isolated nodes get a zero row (an empty mean is taken as zero).

    Example:
        >>> mean_adjacency(np.array([[0, 0], [1, 2]]), 3, sparse=False)[0].tolist()
        [0.0, 0.5, 0.5]
    """
    rows, cols = _both_directions(edges, n_nodes)
    degree = np.bincount(rows, minlength=n_nodes).astype(np.float64)
    return _matrix(rows, cols, 1.0 / degree[rows], n_nodes, sparse)


def bipartite_normalized_adjacency(
    user_item: np.ndarray, n_users: int, n_items: int, *, sparse: bool = True
) -> torch.Tensor:
    """LightGCN's propagation matrix on the user-item graph, without self-loops.

    Nodes ``0..n_users-1`` are users and ``n_users..n_users+n_items-1`` items; an edge
    joins a user to each item they interacted with (duplicates collapse). Entry (u, i)
    is ``1 / sqrt(|N(u)| |N(i)|)``.
    """
    user_item = np.asarray(user_item, dtype=np.int64)
    if user_item.size and (user_item[1].min() < 0 or user_item[1].max() >= n_items):
        raise ValueError(f"item ids must be in 0..{n_items - 1}")
    edges = np.stack([user_item[0], user_item[1] + n_users])
    return normalized_adjacency(edges, n_users + n_items, self_loops=False, sparse=sparse)


def propagate(adjacency: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``adjacency @ x`` for a dense or a sparse adjacency."""
    if adjacency.is_sparse:
        return torch.sparse.mm(adjacency, x)
    return adjacency @ x


class MessageGraph:
    """The graph messages travel on: undirected edges ``(2, n)`` over `n_nodes` nodes.

    Matrices are built on first use and cached: ``matrix("normalized")`` (GCN, with
    self-loops), ``matrix("mean")`` (GraphSAGE), ``matrix("adjacency")`` (raw 0/1), all
    ``torch.sparse``; :meth:`common_neighbours` gives, for node pairs, who they share.
    Optional 0/1 user-item matrices `viewed` and `bought` ``(n_nodes, n_items)`` (see
    :func:`ecomrec.graph.user_item_matrix`) let :meth:`shared_items` say which items one
    user of a pair viewed and the other bought.
    """

    def __init__(
        self,
        edges: np.ndarray,
        n_nodes: int,
        viewed: sp.csr_matrix | None = None,
        bought: sp.csr_matrix | None = None,
    ) -> None:
        self.edges = np.asarray(edges, dtype=np.int64)
        self.n_nodes = n_nodes
        self.viewed = viewed
        self.bought = bought
        self._cache: dict[str, torch.Tensor] = {}
        self._csr: sp.csr_matrix | None = None

    def __repr__(self) -> str:
        return f"MessageGraph({self.n_nodes} nodes, {self.edges.shape[1]} edges)"

    def matrix(self, kind: str) -> torch.Tensor:
        if kind not in self._cache:
            builders = {
                "normalized": lambda: normalized_adjacency(self.edges, self.n_nodes, sparse=True),
                "mean": lambda: mean_adjacency(self.edges, self.n_nodes, sparse=True),
                "adjacency": lambda: adjacency_matrix(self.edges, self.n_nodes, sparse=True),
            }
            if kind not in builders:
                raise ValueError(f"kind must be one of {sorted(builders)}, got {kind!r}")
            self._cache[kind] = builders[kind]()
        return self._cache[kind]

    def common_neighbours(self, pairs: np.ndarray) -> torch.Tensor:
        """Sparse 0/1 matrix ``(n_pairs, n_nodes)``: row p marks the shared neighbours of pair p."""
        if self._csr is None:
            rows, cols = _both_directions(self.edges, self.n_nodes)
            shape = (self.n_nodes, self.n_nodes)
            self._csr = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape)
        pairs = np.asarray(pairs, dtype=np.int64)
        shared = self._csr[pairs[0]].multiply(self._csr[pairs[1]]).tocoo()
        index = torch.as_tensor(np.stack([shared.row, shared.col]), dtype=torch.int64)
        return torch.sparse_coo_tensor(
            index,
            torch.as_tensor(shared.data, dtype=torch.float32),
            (pairs.shape[1], self.n_nodes),
            check_invariants=False,
        )

    def shared_items(self, pairs: np.ndarray) -> torch.Tensor:
        """Sparse ``(n_pairs, n_items)``: items one user of the pair viewed and the other bought.

        Entry 2 when it went both ways. Needs `viewed` and `bought`.
        """
        if self.viewed is None or self.bought is None:
            raise ValueError("this MessageGraph was built without viewed/bought matrices")
        pairs = np.asarray(pairs, dtype=np.int64)
        u, v = pairs
        shared = (
            self.viewed[u].multiply(self.bought[v]) + self.viewed[v].multiply(self.bought[u])
        ).tocoo()
        index = torch.as_tensor(np.stack([shared.row, shared.col]), dtype=torch.int64)
        return torch.sparse_coo_tensor(
            index,
            torch.as_tensor(shared.data, dtype=torch.float32),
            (pairs.shape[1], self.viewed.shape[1]),
            check_invariants=False,
        )

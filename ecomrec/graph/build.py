"""Graphs and node features built from ShopSim's observable tables.

Edge lists are NumPy arrays of shape ``(2, n_edges)``. An undirected graph stores each
edge once with ``u < v`` (:func:`friendship_edges`); message passing needs both
directions, which :mod:`ecomrec.graph.adjacency` adds.

Node features come from observable data only (what users viewed, their demographics):
the truth files are for evaluation and plots, never for model input.
"""

from __future__ import annotations

from itertools import combinations

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse

from ecomrec import schema as S


def undirected_edges(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Unique undirected edges ``(2, n)`` with ``u < v``, sorted; self-loops dropped.

    Example:
        >>> undirected_edges(np.array([2, 0, 1, 1]), np.array([0, 2, 1, 3])).tolist()
        [[0, 1], [2, 3]]
    """
    a = np.asarray(a, dtype=np.int64).ravel()
    b = np.asarray(b, dtype=np.int64).ravel()
    if a.shape != b.shape:
        raise ValueError("both endpoint arrays must have the same length")
    keep = a != b
    pairs = np.stack([np.minimum(a, b)[keep], np.maximum(a, b)[keep]])
    if pairs.shape[1] == 0:
        return pairs
    return np.unique(pairs, axis=1)


def friendship_edges(friendships: pd.DataFrame) -> np.ndarray:
    """The friendship graph as unique undirected edges ``(2, n_edges)``, ``u < v``."""
    return undirected_edges(friendships[S.USER_A].to_numpy(), friendships[S.USER_B].to_numpy())


def friendship_graph(friendships: pd.DataFrame, n_users: int) -> nx.Graph:
    """A networkx graph with every user as a node (friendless users included)."""
    graph = nx.Graph()
    graph.add_nodes_from(range(n_users))
    graph.add_edges_from(friendship_edges(friendships).T.tolist())
    return graph


def user_item_edges(interactions: pd.DataFrame) -> np.ndarray:
    """Unique (user, item) pairs ``(2, n)`` of a log, sorted by user then item."""
    pairs = interactions[[S.USER, S.ITEM]].drop_duplicates().to_numpy(dtype=np.int64)
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    return pairs[order].T.copy()


def user_item_matrix(
    interactions: pd.DataFrame, n_users: int, n_items: int
) -> scipy.sparse.csr_matrix:
    """0/1 sparse matrix ``(n_users, n_items)``: 1 where the user interacted with the item."""
    users = interactions[S.USER].to_numpy(dtype=np.int64)
    items = interactions[S.ITEM].to_numpy(dtype=np.int64)
    matrix = scipy.sparse.csr_matrix(
        (np.ones(len(users), dtype=np.float32), (users, items)), shape=(n_users, n_items)
    )
    matrix.data[:] = 1.0  # repeated interactions count once
    return matrix


def co_purchase_graph(events: pd.DataFrame, items: pd.DataFrame, min_users: int = 1) -> nx.Graph:
    """Item graph: an edge joins two items bought by the same user.

    The edge attribute ``weight`` counts the users who bought both; edges with fewer than
    `min_users` buyers are dropped. Every item is a node, with its ``category`` attribute.
    """
    purchases = events[events[S.EVENT_TYPE] == "purchase"][[S.USER, S.ITEM]].drop_duplicates()
    weights: dict[tuple[int, int], int] = {}
    for basket in purchases.groupby(S.USER)[S.ITEM]:
        bought = sorted(basket[1].tolist())
        for pair in combinations(bought, 2):
            weights[pair] = weights.get(pair, 0) + 1
    graph = nx.Graph()
    graph.add_nodes_from(
        (int(item), {"category": category})
        for item, category in zip(items[S.ITEM], items[S.CATEGORY], strict=True)
    )
    graph.add_weighted_edges_from((u, v, w) for (u, v), w in weights.items() if w >= min_users)
    return graph


def user_features(
    users: pd.DataFrame,
    items: pd.DataFrame,
    interactions: pd.DataFrame,
) -> tuple[np.ndarray, list[str]]:
    """Observable user features for graph models: one row per user, float32.

    Columns: the share of the user's views in each category, the share in each price
    tier, log-activity, standardised age, gender and city tier one-hot. Users without
    views get zero shares. Built only from `interactions` (pass the part of the log the
    model may know) and the public users table.

    Returns:
        (features, column names)
    """
    n_users = len(users)
    categories = sorted(items[S.CATEGORY].unique())
    category_of = pd.Categorical(items.sort_values(S.ITEM)[S.CATEGORY], categories=categories)
    tier_of = pd.Categorical(
        items.sort_values(S.ITEM)[S.PRICE_TIER].astype(str), categories=list(S.PRICE_TIERS)
    )
    user = interactions[S.USER].to_numpy(dtype=np.int64)
    item = interactions[S.ITEM].to_numpy(dtype=np.int64)

    def shares(codes: np.ndarray, n_values: int) -> np.ndarray:
        counts = np.zeros((n_users, n_values))
        np.add.at(counts, (user, codes[item]), 1.0)
        total = counts.sum(axis=1, keepdims=True)
        return np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)

    category_share = shares(np.asarray(category_of.codes, dtype=np.int64), len(categories))
    tier_share = shares(np.asarray(tier_of.codes, dtype=np.int64), len(S.PRICE_TIERS))
    activity = np.log1p(np.bincount(user, minlength=n_users).astype(np.float64))
    ordered = users.sort_values(S.USER)
    age = ordered[S.AGE].to_numpy(dtype=np.float64)
    genders = sorted(ordered[S.GENDER].unique())
    tiers = sorted(ordered[S.CITY_TIER].unique())
    gender = (ordered[S.GENDER].to_numpy()[:, None] == np.array(genders)[None, :]).astype(float)
    city = (ordered[S.CITY_TIER].to_numpy()[:, None] == np.array(tiers)[None, :]).astype(float)

    def standardised(x: np.ndarray) -> np.ndarray:
        return (x - x.mean()) / (x.std() if x.std() > 0 else 1.0)

    features = np.column_stack(
        [
            category_share,
            tier_share,
            standardised(activity),
            standardised(age),
            gender,
            city,
        ]
    ).astype(np.float32)
    names = (
        [f"category:{c}" for c in categories]
        + [f"price_tier:{t}" for t in S.PRICE_TIERS]
        + ["log_views", "age"]
        + [f"gender:{g}" for g in genders]
        + [f"city_tier:{t}" for t in tiers]
    )
    return features, names


def assortativity(edges: np.ndarray, labels: np.ndarray) -> float:
    """Newman's assortativity coefficient of a categorical node label on an undirected graph.

    ``r = (sum_i e_ii - sum_i a_i^2) / (1 - sum_i a_i^2)``, where ``e_ij`` is the share of
    edge ends joining label i to label j and ``a_i`` the share of ends with label i. 1 means
    every edge joins equal labels, 0 what random wiring would give. Same value as
    ``networkx.attribute_assortativity_coefficient``, much faster for shuffle baselines.

    Example:
        >>> assortativity(np.array([[0, 2], [1, 3]]), np.array([0, 0, 1, 1]))
        1.0
    """
    edges = np.asarray(edges, dtype=np.int64)
    codes = np.unique(np.asarray(labels), return_inverse=True)[1].ravel()
    n_labels = int(codes.max()) + 1
    ends = np.concatenate([codes[edges], codes[edges[::-1]]], axis=1)  # both orientations
    mixing = np.zeros((n_labels, n_labels))
    np.add.at(mixing, (ends[0], ends[1]), 1.0)
    mixing /= mixing.sum()
    expected = float(np.sum(mixing.sum(axis=0) * mixing.sum(axis=1)))
    return float((np.trace(mixing) - expected) / (1.0 - expected))

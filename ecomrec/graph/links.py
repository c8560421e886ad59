"""Link prediction: held-out edge splits, negative sampling, metrics, batches and an objective.

The protocol that keeps the evaluation honest:

1. Split the true edges into train / valid / test (:func:`split_edges`).
2. Build the message-passing graph from the **train edges only**: a held-out edge must
   not carry messages, or the model would be told the answer it is asked to predict.
3. Evaluate on held-out edges against the same number of sampled non-edges
   (:func:`sample_negative_edges` excludes every true edge), with AUC and average
   precision (:func:`link_prediction_metrics`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from ecomrec import schema as S
from ecomrec.compare import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    Comparison,
    check_bootstrap_settings,
    from_resamples,
)
from ecomrec.graph.adjacency import MessageGraph
from ecomrec.metrics import auc
from ecomrec.training import TrainResult, train


@dataclass(frozen=True)
class EdgeSplit:
    """Undirected edges ``(2, n)`` with ``u < v``, disjoint between the three parts."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    def __repr__(self) -> str:
        return (
            f"EdgeSplit(train={self.train.shape[1]}, valid={self.valid.shape[1]}, "
            f"test={self.test.shape[1]} edges)"
        )


def split_edges(
    edges: np.ndarray, valid_fraction: float = 0.05, test_fraction: float = 0.1, seed: int = 0
) -> EdgeSplit:
    """Hold out random edges for validation and test; the rest is the training graph.

    Example:
        >>> split = split_edges(np.array([[0, 0, 1, 2], [1, 2, 2, 3]]), 0.25, 0.25, seed=0)
        >>> [part.shape[1] for part in (split.train, split.valid, split.test)]
        [2, 1, 1]
    """
    edges = np.asarray(edges, dtype=np.int64)
    if edges.ndim != 2 or edges.shape[0] != 2:
        raise ValueError(f"edges must have shape (2, n_edges), got {edges.shape}")
    if not (0 <= valid_fraction and 0 <= test_fraction and valid_fraction + test_fraction < 1):
        raise ValueError("fractions must be non-negative and sum to less than 1")
    n = edges.shape[1]
    n_valid, n_test = round(n * valid_fraction), round(n * test_fraction)
    order = np.random.default_rng(seed).permutation(n)
    test, valid, train = np.split(order, [n_test, n_test + n_valid])
    return EdgeSplit(
        train=edges[:, np.sort(train)], valid=edges[:, np.sort(valid)], test=edges[:, np.sort(test)]
    )


def split_edges_by_time(
    friendships: pd.DataFrame, valid_fraction: float = 0.05, test_fraction: float = 0.1
) -> EdgeSplit:
    """Hold out the newest friendships (by ``created_at``): predict them from the older graph.

    The oldest friendships form the training graph, the next ones the validation edges and
    the newest `test_fraction` the test edges (ties in ``created_at`` broken by the user
    ids, so the split is the same on any machine). A friendship listed twice keeps its
    first date.

    Example:
        >>> f = pd.DataFrame({S.USER_A: [0, 1, 2, 0], S.USER_B: [1, 2, 3, 3],
        ...                   S.CREATED_AT: pd.to_datetime(["2024-03-01", "2024-01-01",
        ...                                                 "2024-02-01", "2024-04-01"])})
        >>> split = split_edges_by_time(f, 0.25, 0.25)
        >>> split.train.tolist(), split.valid.tolist(), split.test.tolist()
        ([[1, 2], [2, 3]], [[0], [1]], [[0], [3]])
    """
    missing = {S.USER_A, S.USER_B, S.CREATED_AT} - set(friendships.columns)
    if missing:
        raise ValueError(
            f"friendships need the columns {sorted(missing)} to be split by time "
            "(load them with ecomrec.datasets.load_shopsim)"
        )
    if not (0 <= valid_fraction and 0 <= test_fraction and valid_fraction + test_fraction < 1):
        raise ValueError("fractions must be non-negative and sum to less than 1")
    a, b = friendships[S.USER_A].to_numpy(), friendships[S.USER_B].to_numpy()
    frame = pd.DataFrame(
        {
            "u": np.minimum(a, b),
            "v": np.maximum(a, b),
            "t": pd.to_datetime(friendships[S.CREATED_AT]).to_numpy(),
        }
    )
    frame = frame[frame.u != frame.v].sort_values(["t", "u", "v"], kind="stable")
    frame = frame.drop_duplicates(["u", "v"], keep="first")
    edges = frame[["u", "v"]].to_numpy(dtype=np.int64).T
    n = edges.shape[1]
    n_valid, n_test = round(n * valid_fraction), round(n * test_fraction)
    train, valid, test = np.split(edges, [n - n_valid - n_test, n - n_test], axis=1)
    return EdgeSplit(train=train, valid=valid, test=test)


def _keys(edges: np.ndarray, n_nodes: int) -> np.ndarray:
    """One integer per undirected pair (order of the endpoints does not matter)."""
    edges = np.asarray(edges, dtype=np.int64)
    return np.minimum(edges[0], edges[1]) * n_nodes + np.maximum(edges[0], edges[1])


def sample_negative_edges(
    n_nodes: int,
    n_samples: int,
    exclude: np.ndarray | None = None,
    rng: np.random.Generator | int = 0,
) -> np.ndarray:
    """Uniform random node pairs that are not edges: ``(2, n_samples)`` with ``u < v``.

    Pairs in `exclude` (an edge list, either orientation), self-pairs and repeats are
    rejected and redrawn. For evaluation pass every true edge; for training pass only the
    training edges (the model must not be told which pairs are held-out friendships).
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    if n_samples > n_nodes * (n_nodes - 1) // 2 - (0 if exclude is None else exclude.shape[1]):
        raise ValueError("asked for more non-edges than the graph has")
    forbidden = (
        np.empty(0, dtype=np.int64) if exclude is None else np.unique(_keys(exclude, n_nodes))
    )
    chosen = np.empty(0, dtype=np.int64)
    while chosen.size < n_samples:
        draw = rng.integers(0, n_nodes, size=(2, 2 * (n_samples - chosen.size) + 16))
        draw = draw[:, draw[0] != draw[1]]
        keys = _keys(draw, n_nodes)
        keys = keys[~np.isin(keys, forbidden)]
        _, first = np.unique(keys, return_index=True)  # drop repeats within the draw
        keys = keys[np.sort(first)]
        keys = keys[~np.isin(keys, chosen)]
        chosen = np.concatenate([chosen, keys[: n_samples - chosen.size]])
    return np.stack([chosen // n_nodes, chosen % n_nodes])


def average_precision(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Average precision: ``sum_n (R_n - R_{n-1}) P_n`` over the distinct score thresholds.

    The area under the precision-recall curve without interpolation; tied scores enter
    together. Same value as ``sklearn.metrics.average_precision_score``.

    Example:
        >>> average_precision(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
        0.8333333333333333
    """
    y_true = np.asarray(y_true).ravel().astype(bool)
    y_score = np.asarray(y_score, dtype=np.float64).ravel()
    if y_true.shape != y_score.shape:
        raise ValueError("y_true and y_score must have the same length")
    if not y_true.any():
        raise ValueError("average precision needs at least one positive")
    order = np.argsort(-y_score, kind="stable")
    sorted_scores, hits = y_score[order], y_true[order]
    last_of_threshold = np.r_[np.flatnonzero(np.diff(sorted_scores)), hits.size - 1]
    true_positives = np.cumsum(hits)[last_of_threshold]
    precision = true_positives / (last_of_threshold + 1)
    recall = true_positives / true_positives[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def link_prediction_metrics(positive_scores: np.ndarray, negative_scores: np.ndarray) -> dict:
    """AUC and average precision of edge scores against non-edge scores."""
    positive_scores = np.asarray(positive_scores, dtype=np.float64).ravel()
    negative_scores = np.asarray(negative_scores, dtype=np.float64).ravel()
    y_true = np.r_[np.ones(positive_scores.size), np.zeros(negative_scores.size)]
    y_score = np.r_[positive_scores, negative_scores]
    return {"auc": auc(y_true, y_score), "ap": average_precision(y_true, y_score)}


def auc_bootstrap(
    positives_a: np.ndarray,
    negatives_a: np.ndarray,
    positives_b: np.ndarray,
    negatives_b: np.ndarray,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> Comparison:
    """Is link predictor A's AUC above B's? A paired bootstrap over the test pairs.

    Both models score the same held-out edges (`positives_*`) and the same sampled non-edges
    (`negatives_*`), in the same order. Each resample draws the edges and the non-edges with
    replacement, the same draw for both models, and recomputes both AUCs; the interval is the
    spread of ``auc_a / auc_b - 1`` over the resamples. ``n_users`` of the returned
    :class:`ecomrec.compare.Comparison` counts the test pairs (edges plus non-edges).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> pos, neg = rng.normal(1, 1, 500), rng.normal(0, 1, 500)
        >>> auc_bootstrap(pos + 1, neg, pos, neg, seed=0).a_beats_b
        True
        >>> auc_bootstrap(pos, neg, pos, neg, seed=0).significant  # never beats itself
        False
    """
    arrays = [
        np.asarray(a, dtype=np.float64).ravel()
        for a in (positives_a, negatives_a, positives_b, negatives_b)
    ]
    pos_a, neg_a, pos_b, neg_b = arrays
    if pos_a.shape != pos_b.shape or neg_a.shape != neg_b.shape:
        raise ValueError(
            "both models must score the same pairs: got positives "
            f"{pos_a.shape} and {pos_b.shape}, negatives {neg_a.shape} and {neg_b.shape}"
        )
    if len(pos_a) < 2 or len(neg_a) < 2:
        raise ValueError("an AUC bootstrap needs at least 2 positive and 2 negative pairs")
    if not all(np.isfinite(a).all() for a in arrays):
        raise ValueError("scores must be finite")
    check_bootstrap_settings(confidence, n_resamples)
    labels = np.r_[np.ones(len(pos_a)), np.zeros(len(neg_a))]
    auc_a = auc(labels, np.r_[pos_a, neg_a])
    auc_b = auc(labels, np.r_[pos_b, neg_b])
    rng = np.random.default_rng(seed)
    relative = np.empty(n_resamples)
    for r in range(n_resamples):
        p = rng.integers(0, len(pos_a), len(pos_a))
        n = rng.integers(0, len(neg_a), len(neg_a))
        relative[r] = auc(labels, np.r_[pos_a[p], neg_a[n]]) / auc(
            labels, np.r_[pos_b[p], neg_b[n]]
        )
    return from_resamples(auc_a, auc_b, relative - 1, confidence, len(labels))


def link_scores(
    model: torch.nn.Module, x: torch.Tensor, graph: MessageGraph, pairs: np.ndarray
) -> np.ndarray:
    """Edge logits of `pairs` ``(2, n)`` from a :class:`LinkPredictor`, in eval mode."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(x, graph, torch.as_tensor(pairs, dtype=torch.int64))
    model.train(was_training)
    return logits.numpy().astype(np.float64)


def evaluate_link_predictor(
    model: torch.nn.Module,
    x: torch.Tensor,
    graph: MessageGraph,
    positives: np.ndarray,
    negatives: np.ndarray,
) -> dict[str, float]:
    """AUC and AP of held-out edges against sampled non-edges."""
    return link_prediction_metrics(
        link_scores(model, x, graph, positives), link_scores(model, x, graph, negatives)
    )


class LinkObjective(nn.Module):
    """Binary cross-entropy of a link predictor: ``loss(batch)`` for :func:`ecomrec.training.train`.

    `model` is any module called as ``model(x, graph, pairs)`` that returns one logit per
    pair; a batch is ``(graph, pairs, labels)`` from :func:`link_batches`.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.x = x  # a plain attribute: the node features are data, not weights

    def loss(self, batch: tuple[MessageGraph, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        graph, pairs, labels = batch
        return nn.functional.binary_cross_entropy_with_logits(
            self.model(self.x, graph, pairs), labels
        )


def link_batches(
    train_edges: np.ndarray,
    n_nodes: int,
    target_fraction: float = 0.3,
    viewed=None,
    bought=None,
    seed: int = 0,
) -> Callable[[int], list[tuple[MessageGraph, torch.Tensor, torch.Tensor]]]:
    """The batch source of full-batch link prediction: ``batches(epoch)`` is one batch.

    Each epoch hides a random `target_fraction` of the training edges from the message
    graph and asks for them among as many random non-edges (drawn anew, excluding the
    training edges only): training then looks like the test, where the edge to predict
    never carries a message. With ``target_fraction=0`` every training edge is both a
    message and a target. The draws come from a generator seeded with (seed, epoch), so
    PyTorch and Keras fed from the same source train on the same batches.
    `viewed` and `bought` (user-item matrices) are handed to every :class:`MessageGraph`.
    """
    if not 0.0 <= target_fraction < 1.0:
        raise ValueError("target_fraction must be in [0, 1)")
    n_edges = train_edges.shape[1]
    n_targets = max(1, round(target_fraction * n_edges)) if target_fraction > 0 else n_edges
    labels = torch.cat([torch.ones(n_targets), torch.zeros(n_targets)])
    full_graph = (
        MessageGraph(train_edges, n_nodes, viewed, bought) if target_fraction == 0 else None
    )

    def batches(epoch: int):
        rng = np.random.default_rng([seed, epoch])
        if full_graph is None:
            order = rng.permutation(n_edges)
            targets = train_edges[:, order[:n_targets]]
            graph = MessageGraph(train_edges[:, order[n_targets:]], n_nodes, viewed, bought)
        else:
            targets, graph = train_edges, full_graph
        negatives = sample_negative_edges(n_nodes, n_targets, train_edges, rng)
        pairs = torch.as_tensor(np.concatenate([targets, negatives], axis=1))
        return [(graph, pairs, labels)]

    return batches


def train_link_predictor(
    model: nn.Module,
    x: torch.Tensor,
    train_edges: np.ndarray,
    valid_edges: np.ndarray,
    valid_negatives: np.ndarray,
    *,
    epochs: int,
    target_fraction: float = 0.3,
    lr: float = 0.01,
    weight_decay: float = 0.0,
    eval_every: int = 5,
    viewed=None,
    bought=None,
    seed: int = 0,
    time_limit: float | None = None,
    progress: bool = True,
    name: str = "link prediction",
) -> TrainResult:
    """Full-batch link prediction with :func:`ecomrec.training.train`: one Adam step per epoch.

    The batches come from :func:`link_batches` and the loss from :class:`LinkObjective`.
    Every `eval_every` epochs (and after the last) the validation AUC and AP (``valid_auc``,
    ``valid_ap``) are measured on the full training graph; the model keeps the weights of
    the best validation AUC. Training runs exactly `epochs` epochs; `time_limit` is only a
    safety net that raises an error.
    """
    full_graph = MessageGraph(train_edges, x.shape[0], viewed, bought)

    def validate(objective: LinkObjective) -> dict[str, float]:
        metrics = evaluate_link_predictor(
            objective.model, x, full_graph, valid_edges, valid_negatives
        )
        return {f"valid_{key}": value for key, value in metrics.items()}

    return train(
        LinkObjective(model, x),
        link_batches(train_edges, x.shape[0], target_fraction, viewed, bought, seed),
        epochs,
        lr=lr,
        weight_decay=weight_decay,
        validate=validate,
        monitor="valid_auc",
        validate_every=eval_every,
        seed=seed,
        time_limit=time_limit,
        name=name,
        progress=progress,
    )

"""Stage two: learned rankers over each target's candidates, and their losses.

- :class:`LambdaMART`: gradient-boosted trees with LightGBM's ``lambdarank`` objective,
  the strong non-neural reference;
- :class:`DCNRanker`: a deep ranker with explicit feature crosses (DCN-v2, Wang et al.,
  2021), trained with :func:`listwise_softmax_loss` through :func:`ecomrec.training.train`.

Both read a :class:`~ecomrec.ranking.features.FeatureTable` (``(n_targets, k, n_features)``)
and return one score per candidate. :func:`full_catalogue_scores` turns those into scores
for the whole catalogue, every non-candidate below every candidate, so that the course's
full-catalogue metrics apply unchanged.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ecomrec.training import epoch_generator


# --------------------------------------------------------------------------- losses
def listwise_softmax_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over lists of ``-sum_i y_i log softmax(s)_i / sum_i y_i`` (ListNet with one-hot top).

    scores, labels: (n_lists, list_length); every list needs at least one positive label.
    """
    if scores.shape != labels.shape or scores.ndim != 2:
        raise ValueError(
            f"scores {tuple(scores.shape)} and labels {tuple(labels.shape)} must be "
            "the same (n_lists, list_length) shape"
        )
    positives = labels.sum(dim=1)
    if bool((positives <= 0).any()):
        raise ValueError("every list needs a positive label: drop the lists without one")
    log_p = torch.log_softmax(scores, dim=1)
    return (-(labels * log_p).sum(dim=1) / positives).mean()


def pairwise_logistic_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean of ``log(1 + exp(-(s_pos - s_neg)))`` over every (positive, negative) pair of a list.

    Pairs are formed within each list only (RankNet's loss with hard labels); lists
    without a positive or without a negative contribute no pair. Raises if no list has one.
    """
    if scores.shape != labels.shape or scores.ndim != 2:
        raise ValueError(
            f"scores {tuple(scores.shape)} and labels {tuple(labels.shape)} must be "
            "the same (n_lists, list_length) shape"
        )
    diff = scores[:, :, None] - scores[:, None, :]  # [l, i, j] = s_i - s_j
    pair = (labels[:, :, None] > labels[:, None, :]).to(scores.dtype)
    n_pairs = pair.sum()
    if float(n_pairs) == 0:
        raise ValueError("no list has both a positive and a negative: there is no pair to rank")
    return (nn.functional.softplus(-diff) * pair).sum() / n_pairs


# --------------------------------------------------------------------------- training lists
def training_lists(
    values: np.ndarray, labels: np.ndarray, n_negatives: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Lists for training: each target's positive and `n_negatives` of its other candidates.

    Targets whose candidates miss the true item are dropped (nothing to learn from them);
    negatives are drawn without replacement from (seed). Returns
    ``(n_lists, 1 + n_negatives, n_features)`` values and ``(n_lists, 1 + n_negatives)`` labels,
    the positive first.
    """
    if values.shape[:2] != labels.shape:
        raise ValueError(f"values {values.shape} and labels {labels.shape} do not line up")
    if n_negatives < 1 or n_negatives >= labels.shape[1]:
        raise ValueError(f"n_negatives must be in 1..{labels.shape[1] - 1}, got {n_negatives}")
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(labels.sum(axis=1) > 0)
    picks = np.empty((len(rows), 1 + n_negatives), dtype=np.int64)
    for out, row in enumerate(rows):
        positive = int(np.flatnonzero(labels[row] > 0)[0])
        negatives = np.flatnonzero(labels[row] == 0)
        picks[out] = np.r_[positive, rng.choice(negatives, n_negatives, replace=False)]
    return values[rows[:, None], picks], labels[rows[:, None], picks]


def full_catalogue_scores(candidates: np.ndarray, scores: np.ndarray, n_items: int) -> np.ndarray:
    """(n, n_items) scores: the candidates' own, every other item below the lowest candidate."""
    if candidates.shape != scores.shape:
        raise ValueError(f"candidates {candidates.shape} and scores {scores.shape} differ")
    scores = np.asarray(scores, dtype=np.float64)
    floor = scores.min(axis=1, keepdims=True) - 1.0
    out = np.repeat(floor, n_items, axis=1)
    np.put_along_axis(out, candidates, scores, axis=1)
    return out


# --------------------------------------------------------------------------- LambdaMART
class LambdaMART:
    """LightGBM's LambdaMART (objective ``lambdarank``) on candidate lists, one thread, seeded.

    Trained for exactly `n_estimators` boosting rounds (no early stopping), deterministic.
    """

    def __init__(
        self,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 20,
        seed: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.seed = seed

    def __repr__(self) -> str:
        return (
            f"LambdaMART(n_estimators={self.n_estimators}, learning_rate={self.learning_rate}, "
            f"num_leaves={self.num_leaves}, seed={self.seed})"
        )

    def fit(self, values: np.ndarray, labels: np.ndarray, names=None) -> LambdaMART:
        """Fit on (n_lists, list_length, n_features) values and (n_lists, list_length) labels."""
        import lightgbm

        if values.ndim != 3 or values.shape[:2] != labels.shape:
            raise ValueError(
                f"values {values.shape} must be (n_lists, length, n_features) "
                f"matching labels {labels.shape}"
            )
        n_lists, length, n_features = values.shape
        self.model_ = lightgbm.LGBMRanker(
            objective="lambdarank",
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            num_threads=1,
            seed=self.seed,
            deterministic=True,
            force_row_wise=True,
            verbose=-1,
        )
        self.model_.fit(
            values.reshape(-1, n_features), labels.reshape(-1), group=[length] * n_lists
        )
        self.names_ = list(names) if names is not None else None
        return self

    def predict(self, values: np.ndarray) -> np.ndarray:
        """(n, k) scores of (n, k, n_features) candidate features."""
        if not hasattr(self, "model_"):
            raise RuntimeError("LambdaMART must be fit before it can predict")
        n, k, n_features = values.shape
        return self.model_.predict(values.reshape(-1, n_features), num_threads=1).reshape(n, k)

    def importances(self) -> np.ndarray:
        """Total split gain of each feature."""
        return self.model_.booster_.feature_importance(importance_type="gain")


# --------------------------------------------------------------------------- DCN-v2
class CrossLayer(nn.Module):
    """One DCN-v2 cross layer: ``x_{l+1} = x_0 * (W x_l + b) + x_l`` (elementwise product)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim)

    def forward(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x0 * self.linear(x) + x


class DCNRanker(nn.Module):
    """DCN-v2 over standardised candidate features: a cross network beside an MLP, one score.

    ``score = w^T [cross(x); mlp(x)] + b`` with ``x`` the features standardised by the
    training lists' mean and deviation (:meth:`fit_scaler`). ``loss((values, labels))`` is
    :func:`listwise_softmax_loss` over each list's scores.
    """

    def __init__(
        self, n_features: int, n_cross: int = 2, hidden: tuple[int, ...] = (64, 32)
    ) -> None:
        super().__init__()
        self.n_features = n_features
        self.cross = nn.ModuleList(CrossLayer(n_features) for _ in range(n_cross))
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.deep = nn.Sequential(*layers)
        self.head = nn.Linear(n_features + width, 1)
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))

    def fit_scaler(self, values: np.ndarray) -> DCNRanker:
        flat = torch.as_tensor(values.reshape(-1, self.n_features), dtype=torch.float32)
        self.mean.copy_(flat.mean(dim=0))
        self.std.copy_(flat.std(dim=0).clamp_min(1e-6))
        return self

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        x0 = (values - self.mean) / self.std
        x = x0
        for layer in self.cross:
            x = layer(x0, x)
        return self.head(torch.cat([x, self.deep(x0)], dim=-1)).squeeze(-1)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        values, labels = batch
        return listwise_softmax_loss(self(values), labels)

    def predict(self, values: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """(n, k) scores of (n, k, n_features) candidate features (eval mode, no gradients)."""
        self.eval()
        out = []
        with torch.no_grad():
            for begin in range(0, len(values), batch_size):
                chunk = torch.as_tensor(values[begin : begin + batch_size], dtype=torch.float32)
                out.append(self(chunk).numpy())
        return np.concatenate(out).astype(np.float64)


def list_batches(values: np.ndarray, labels: np.ndarray, batch_size: int, seed: int):
    """``batches(epoch)``: the training lists in a seeded random order, `batch_size` per batch."""
    x = torch.as_tensor(values, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.float32)

    def batches(epoch: int):
        order = torch.randperm(len(x), generator=epoch_generator(seed, epoch))
        for begin in range(0, len(order), batch_size):
            rows = order[begin : begin + batch_size]
            yield x[rows], y[rows]

    return batches

"""Lesson 02's sequence models behind the :class:`ecomrec.baselines.Recommender` interface.

Lesson 02 builds the training windows, the batches and the training run in full. Later
lessons need the trained model, not the walk-through: :class:`SequenceRecommender` does the
same steps in ``fit`` (windows of at most ``max_len + 1`` items from each user's log, batches
seeded by the epoch, :func:`ecomrec.training.train` for exactly ``epochs`` epochs) and scores
any :class:`~ecomrec.scoring.ScoringContext`, so ``score_recommender`` treats it like a
baseline.

Example::

    gru = SequenceRecommender(items=data.items, epochs=9, seed=2026)
    scores = score_recommender(gru, split, "valid", data.n_items, data.n_users)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ecomrec import schema as S
from ecomrec.baselines import Recommender
from ecomrec.models.attention import SelfAttentionNextItem
from ecomrec.models.base import NextItemModel, item_feature_codes
from ecomrec.models.gru import GRUNextItem
from ecomrec.models.sequences import UserSequences, iterate_batches, training_windows
from ecomrec.scoring import ScoringContext
from ecomrec.training import TrainResult, epoch_generator, train

KINDS = ("gru", "self-attention")
ITEM_FEATURES = (S.CATEGORY, S.BRAND, S.PRICE_TIER)


class SequenceRecommender(Recommender):
    """A GRU or self-attention next-item model, trained on a log as lesson 02 trains it.

    Args:
        kind: ``"gru"`` (:class:`GRUNextItem`) or ``"self-attention"``
            (:class:`SelfAttentionNextItem`, two blocks of two heads as in lesson 02).
        items: the item table; its category, brand and price-tier columns become item
            features (None: item ids only).
        dim, max_len, batch_size, lr, dropout: lesson 02's settings by default.
        epochs: the number of training epochs, exactly (no early stopping: ``fit`` sees no
            validation targets). Lesson 02's GRU peaked on validation at epoch 9.
        seed: seeds the initial weights and every epoch's batches.

    After ``fit``: ``model_`` (the trained :class:`NextItemModel`) and ``training_`` (its
    :class:`~ecomrec.training.TrainResult`).
    """

    def __init__(
        self,
        kind: str = "gru",
        items: pd.DataFrame | None = None,
        dim: int = 64,
        epochs: int = 9,
        max_len: int = 50,
        batch_size: int = 64,
        lr: float = 3e-3,
        dropout: float | None = None,
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        self.kind, self.items, self.dim, self.epochs = kind, items, dim, epochs
        self.max_len, self.batch_size, self.lr, self.dropout = max_len, batch_size, lr, dropout
        self.seed, self.progress = seed, progress

    def _features(self, n_items: int) -> dict[str, np.ndarray] | None:
        if self.items is None:
            return None
        missing = [c for c in (S.ITEM, *ITEM_FEATURES) if c not in self.items.columns]
        if missing:
            raise ValueError(f"items lacks the columns {missing}: pass the dataset's item table")
        if len(self.items) != n_items:
            raise ValueError(f"items has {len(self.items)} rows but the catalogue has {n_items}")
        return item_feature_codes(self.items.sort_values(S.ITEM), list(ITEM_FEATURES))

    def _build(self, n_items: int) -> NextItemModel:
        features = self._features(n_items)
        torch.manual_seed(self.seed)
        if self.kind == "gru":
            return GRUNextItem(
                n_items, dim=self.dim, features=features, dropout=self.dropout or 0.1
            )
        return SelfAttentionNextItem(
            n_items,
            dim=self.dim,
            features=features,
            max_len=self.max_len,
            n_blocks=2,
            n_heads=2,
            dropout=self.dropout or 0.2,
        )

    def fit(
        self, train_interactions: pd.DataFrame, n_items: int, n_users: int | None = None
    ) -> SequenceRecommender:
        """Train on the log `train_interactions` (user, item, session, timestamp columns)."""
        sequences = UserSequences.from_interactions(train_interactions)
        windows, flags = training_windows(sequences, self.max_len)
        if not windows:
            raise ValueError("the log has no user with two or more interactions to learn from")
        self.model_ = self._build(n_items)

        def batches(epoch: int):
            generator = epoch_generator(self.seed, epoch)
            return iterate_batches(windows, flags, n_items, self.batch_size, generator)

        self.training_: TrainResult = train(
            self.model_,
            batches,
            self.epochs,
            lr=self.lr,
            seed=self.seed,
            name="GRU" if self.kind == "gru" else self.kind,
            progress=self.progress,
        )
        self.n_items = n_items
        return self

    def score(self, context: ScoringContext) -> np.ndarray:
        """(len(context), n_items) scores after each history (session flags required)."""
        self._check_fitted()
        return self.model_.score(context, max_len=self.max_len)

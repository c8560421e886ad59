"""Neural models of the course, shown in full in lesson 02 and imported by later lessons.

- :mod:`ecomrec.models.sequences`: user sequences with session flags, padded and masked batches.
- :mod:`ecomrec.models.base`: item embeddings from ids and attributes, the tied-output
  next-item model base class, the interest score ``sigmoid(h_u . e_i)``.
- :mod:`ecomrec.models.gru`: the RNN cell from its formula, the GRU next-item model.
- :mod:`ecomrec.models.attention`: the causal self-attention (SASRec-style) next-item model.
- :mod:`ecomrec.models.click`: past-only click features, the click MLP, calibration bins.
- :mod:`ecomrec.models.recommender`: :class:`SequenceRecommender`, lesson 02's GRU or
  self-attention model trained on a log behind the baselines' ``fit``/``score`` interface.

Every model here owns its objective (``model.loss(batch)``) and is trained by the course's one
loop, :func:`ecomrec.training.train`.
"""

from ecomrec.models.attention import SelfAttentionNextItem, causal_mask
from ecomrec.models.base import ItemEncoder, NextItemModel, interest_score, item_feature_codes
from ecomrec.models.click import ClickMLP, calibration_table, click_features
from ecomrec.models.gru import GRUNextItem, formula_weights, rnn_cell_step
from ecomrec.models.recommender import SequenceRecommender
from ecomrec.models.sequences import (
    UserSequences,
    iterate_batches,
    next_item_batch,
    pad_right,
    query_batch,
    training_windows,
)

__all__ = [
    "ClickMLP",
    "GRUNextItem",
    "ItemEncoder",
    "NextItemModel",
    "SelfAttentionNextItem",
    "SequenceRecommender",
    "UserSequences",
    "calibration_table",
    "causal_mask",
    "click_features",
    "formula_weights",
    "interest_score",
    "item_feature_codes",
    "iterate_batches",
    "next_item_batch",
    "pad_right",
    "query_batch",
    "rnn_cell_step",
    "training_windows",
]

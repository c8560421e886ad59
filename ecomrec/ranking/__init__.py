"""Two-stage recommendation: candidate sources, then a learned ranker (lesson 05).

- :mod:`ecomrec.ranking.targets`: the targets and what is known before each
  (:class:`RankingTargets`, :func:`training_targets`);
- :mod:`ecomrec.ranking.statistics`: popularity, co-occurrence, Markov, category lifts and
  friends' purchases estimated from the log (:class:`ShopStatistics`);
- :mod:`ecomrec.ranking.candidates`: the candidate sources, their union and its recall;
- :mod:`ecomrec.ranking.features`: features of (target, candidate) pairs in named groups;
- :mod:`ecomrec.ranking.rankers`: LambdaMART (LightGBM), the DCN-v2 deep ranker and the
  listwise and pairwise losses.
"""

from ecomrec.ranking.candidates import (
    SOURCE_NAMES,
    candidate_mass,
    candidate_recall,
    mass_curve,
    merge_candidates,
    recall_curve,
    source_scores,
    top_candidates,
    union_order,
)
from ecomrec.ranking.features import (
    FEATURE_GROUPS,
    FEATURE_NAMES,
    SEQUENCE_MODEL_GROUP,
    FeatureTable,
    candidate_table,
    ranking_features,
    sequence_model_features,
)
from ecomrec.ranking.rankers import (
    DCNRanker,
    LambdaMART,
    full_catalogue_scores,
    list_batches,
    listwise_softmax_loss,
    pairwise_logistic_loss,
    training_lists,
)
from ecomrec.ranking.statistics import ShopStatistics
from ecomrec.ranking.targets import RankingTargets, training_targets

__all__ = [
    "FEATURE_GROUPS",
    "FEATURE_NAMES",
    "SEQUENCE_MODEL_GROUP",
    "SOURCE_NAMES",
    "DCNRanker",
    "FeatureTable",
    "LambdaMART",
    "RankingTargets",
    "ShopStatistics",
    "candidate_mass",
    "candidate_recall",
    "candidate_table",
    "full_catalogue_scores",
    "list_batches",
    "listwise_softmax_loss",
    "mass_curve",
    "merge_candidates",
    "pairwise_logistic_loss",
    "ranking_features",
    "sequence_model_features",
    "recall_curve",
    "source_scores",
    "top_candidates",
    "training_lists",
    "training_targets",
    "union_order",
]

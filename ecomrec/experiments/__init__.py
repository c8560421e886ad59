"""Online experiments on ShopSim: A/B statistics and interleaving (:mod:`ecomrec.experiments.ab`)
and off-policy evaluation (:mod:`ecomrec.experiments.ope`).

Lesson 08 deploys course models in :class:`ecomrec.environment.ShopEnvironment` and reads
the result with these functions; every estimate can be set beside the exact truth.
"""

from ecomrec.experiments.ab import (
    Effect,
    SRMResult,
    TeamDraftPolicy,
    cuped,
    difference_in_means,
    hash_assign,
    interleaving_preference,
    power,
    ratio_difference,
    sample_size,
    srm_test,
    team_draft,
)
from ecomrec.experiments.ope import (
    Estimate,
    direct_method,
    doubly_robust,
    importance_weights,
    ips,
    policy_probabilities,
    snips,
)

__all__ = [
    "Effect",
    "Estimate",
    "SRMResult",
    "TeamDraftPolicy",
    "cuped",
    "difference_in_means",
    "direct_method",
    "doubly_robust",
    "hash_assign",
    "importance_weights",
    "interleaving_preference",
    "ips",
    "policy_probabilities",
    "power",
    "ratio_difference",
    "sample_size",
    "snips",
    "srm_test",
    "team_draft",
]

"""Online experiments on ShopSim: A/B statistics and interleaving (:mod:`ecomrec.experiments.ab`).

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

__all__ = [
    "Effect",
    "SRMResult",
    "TeamDraftPolicy",
    "cuped",
    "difference_in_means",
    "hash_assign",
    "interleaving_preference",
    "power",
    "ratio_difference",
    "sample_size",
    "srm_test",
    "team_draft",
]

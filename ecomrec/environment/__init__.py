"""ShopSim as an environment: deploy a policy to simulated users and measure it online.

- :class:`ShopEnvironment` continues the shipped ShopSim world (same users, same truth)
  and runs policies on it (:meth:`ShopEnvironment.run` returns a :class:`RunLog`);
- :class:`Policy` and its adapters: :class:`RecommenderPolicy` (any fitted course model),
  :class:`RandomPolicy`, :class:`OraclePolicy`, and :class:`RankerPolicy` (lesson 05's two-stage
  ranker as a policy);
- :class:`BatchTruth`: the truth's next-view distribution and funnel for many users at once.
"""

from ecomrec.environment.model_policies import RankerPolicy, observation_targets
from ecomrec.environment.policies import (
    Observation,
    OraclePolicy,
    Policy,
    RandomPolicy,
    RecommenderPolicy,
    top_k_unseen,
)
from ecomrec.environment.shop import (
    RunLog,
    ShopEnvironment,
    default_position_bias,
    validate_slates,
)
from ecomrec.environment.truth_batch import BatchTruth

__all__ = [
    "BatchTruth",
    "Observation",
    "OraclePolicy",
    "Policy",
    "RandomPolicy",
    "RankerPolicy",
    "RecommenderPolicy",
    "RunLog",
    "ShopEnvironment",
    "default_position_bias",
    "observation_targets",
    "top_k_unseen",
    "validate_slates",
]

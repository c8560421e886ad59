"""Online experiments and off-policy evaluation (lesson 08)."""

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
    "Estimate",
    "direct_method",
    "doubly_robust",
    "importance_weights",
    "ips",
    "policy_probabilities",
    "snips",
]

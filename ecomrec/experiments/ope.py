"""Off-policy evaluation: what would a new policy's click rate be, judged from another policy's log?

A logging policy pi_0 showed action ``a_i`` in context ``x_i`` with a recorded probability (its
*propensity*) ``p_i = pi_0(a_i | x_i)`` and saw reward ``r_i`` (a click). A target policy pi would
have shown ``a_i`` with probability ``pi(a_i | x_i)``. Reweighting each logged reward by
``w_i = pi(a_i | x_i) / p_i`` turns the log into an unbiased sample of pi's reward, as long as
pi_0 gave every action pi may take a positive probability. Three estimators of ``V(pi) = E[r]``
under pi:

- :func:`ips` (inverse propensity scoring, Horvitz and Thompson 1952): ``mean(w * r)``; unbiased,
  but its variance grows with the weights.
- :func:`snips` (self-normalised IPS, Swaminathan and Joachims 2015): ``sum(w * r) / sum(w)``;
  slightly biased for small logs, much less variable when a few weights are large. It equals IPS
  exactly when the weights average 1.
- :func:`doubly_robust` (Dudik, Langford and Li 2011): a reward model ``q(x, a)`` (the *direct
  method*) plus the IPS correction of its error, ``mean(v_i + w_i * (r_i - q_i))`` with
  ``v_i = sum_a pi(a | x_i) q(x_i, a)``; unbiased when either the propensities or the model are
  right, and with a perfect model only the context, not the reward noise, varies.

Each returns an :class:`Estimate` with an interval, either analytic (normal approximation with
the per-impression terms' standard error; the delta method for SNIPS) or a bootstrap over
impressions.

>>> rng = np.random.default_rng(0)
>>> p = np.full(10_000, 0.5)                 # a coin chose between two actions
>>> target = rng.integers(0, 2, 10_000).astype(float)  # pi picks the logged action or not
>>> clicks = rng.random(10_000) < 0.1
>>> round(ips(clicks, p, target).value, 2)
0.1
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np

from ecomrec.compare import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, check_bootstrap_settings

INTERVALS = ("analytic", "bootstrap")
"""How an :class:`Estimate`'s interval is computed."""


@dataclass(frozen=True)
class Estimate:
    """An off-policy estimate of a policy's mean reward, with its interval.

    Attributes:
        estimator: "IPS", "SNIPS", "DR" or "DM".
        value: the point estimate.
        low, high: the interval at ``confidence``.
        confidence: e.g. 0.95.
        interval: "analytic" or "bootstrap".
        n: the number of logged impressions.
        max_weight: the largest importance weight (large ones make IPS noisy).
        mean_weight: the weights' average (1 in expectation; far from 1 flags a problem).
    """

    estimator: str
    value: float
    low: float
    high: float
    confidence: float
    interval: str
    n: int
    max_weight: float
    mean_weight: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0

    def covers(self, truth: float) -> bool:
        """True when the interval contains `truth`."""
        return self.low <= truth <= self.high

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def _vector(name: str, values: np.ndarray, n: int | None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-d (one value per logged impression), got {array.shape}")
    if n is not None and len(array) != n:
        raise ValueError(
            f"{name} has {len(array)} values but rewards has {n}: pass one value per logged "
            "impression, in the log's order"
        )
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def importance_weights(
    logging_propensity: np.ndarray, target_probability: np.ndarray
) -> np.ndarray:
    """``pi(a_i | x_i) / pi_0(a_i | x_i)`` after checking both are probabilities.

    Args:
        logging_propensity: (n,) the logging policy's probability of each logged action; every
            one must be in (0, 1] (a zero propensity means the action could not have been
            logged, so the log is wrong or the propensity was not recorded).
        target_probability: (n,) the target policy's probability of the same action, in [0, 1].

    Raises:
        ValueError: on a wrong shape, a propensity outside (0, 1], or a target probability
            outside [0, 1].
    """
    p = _vector("logging_propensity", logging_propensity, None)
    pi = _vector("target_probability", target_probability, len(p))
    if len(p) == 0:
        raise ValueError("the log is empty: off-policy evaluation needs at least one impression")
    bad = (p <= 0) | (p > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"logging_propensity must be in (0, 1]; impression {i} has {float(p[i])!r} "
            f"({int(bad.sum())} bad in all). A propensity is the probability the logging "
            "policy gave the action it showed: zero means it could never have been shown, "
            "above 1 is not a probability (a score or a count was logged instead)."
        )
    bad = (pi < 0) | (pi > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"target_probability must be in [0, 1]; impression {i} has {float(pi[i])!r}: pass the "
            "target policy's probability of the logged action, not its score."
        )
    return pi / p


def _check_interval(interval: str, confidence: float, n_resamples: int) -> None:
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {INTERVALS}, got {interval!r}")
    if interval == "bootstrap":
        check_bootstrap_settings(confidence, n_resamples)
    elif not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _bootstrap(stat, n: int, confidence: float, n_resamples: int, seed: int) -> tuple[float, float]:
    """Percentile interval of ``stat(rows)`` over resamples of the impressions."""
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    chunk = max(1, min(n_resamples, 2_000_000 // max(n, 1)))  # bounds memory at ~16 MB
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        values[start : start + size] = stat(rng.integers(0, n, size=(size, n)))
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def _mean_estimate(
    name: str,
    terms: np.ndarray,
    weights: np.ndarray,
    interval: str,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> Estimate:
    """An estimator that is the mean of per-impression terms (IPS, DR, DM)."""
    n = len(terms)
    value = float(terms.mean())
    if interval == "analytic":
        se = float(terms.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
        low, high = value - _z(confidence) * se, value + _z(confidence) * se
    else:
        low, high = _bootstrap(
            lambda rows: terms[rows].mean(axis=1), n, confidence, n_resamples, seed
        )
    return Estimate(
        name, value, low, high, confidence, interval, n, float(weights.max()), float(weights.mean())
    )


def ips(
    rewards: np.ndarray,
    logging_propensity: np.ndarray,
    target_probability: np.ndarray,
    *,
    interval: str = "analytic",
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """Inverse propensity scoring: ``mean(w_i * r_i)``, ``w_i = pi(a_i|x_i) / pi_0(a_i|x_i)``.

    Args:
        rewards: (n,) the logged rewards (clicks as 0/1, or any finite number).
        logging_propensity: (n,) the logging policy's probability of each logged action.
        target_probability: (n,) the target policy's probability of the same action.
        interval: "analytic" (normal approximation) or "bootstrap" (over impressions).
        confidence: the interval's coverage.
        n_resamples, seed: the bootstrap's size and seed.
    """
    r = _vector("rewards", rewards, None)
    w = importance_weights(logging_propensity, target_probability)
    if len(w) != len(r):
        raise ValueError(f"rewards has {len(r)} values but the propensities have {len(w)}")
    _check_interval(interval, confidence, n_resamples)
    return _mean_estimate("IPS", w * r, w, interval, confidence, n_resamples, seed)


def snips(
    rewards: np.ndarray,
    logging_propensity: np.ndarray,
    target_probability: np.ndarray,
    *,
    interval: str = "analytic",
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """Self-normalised IPS: ``sum(w_i * r_i) / sum(w_i)``.

    The analytic interval is the delta method's: the standard error of
    ``mean(w_i * (r_i - V)) / mean(w)``. Same arguments as :func:`ips`.

    Raises:
        ValueError: also when every weight is zero (the target policy never takes a logged
            action, so the log says nothing about it).
    """
    r = _vector("rewards", rewards, None)
    w = importance_weights(logging_propensity, target_probability)
    if len(w) != len(r):
        raise ValueError(f"rewards has {len(r)} values but the propensities have {len(w)}")
    _check_interval(interval, confidence, n_resamples)
    if w.sum() <= 0:
        raise ValueError(
            "every importance weight is 0: the target policy never takes an action the log "
            "contains, so no estimate is possible from this log"
        )
    n = len(r)
    value = float((w * r).sum() / w.sum())
    if interval == "analytic":
        influence = w * (r - value) / w.mean()
        se = float(influence.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
        low, high = value - _z(confidence) * se, value + _z(confidence) * se
    else:

        def stat(rows: np.ndarray) -> np.ndarray:
            total = w[rows].sum(axis=1)
            return (w * r)[rows].sum(axis=1) / np.where(total > 0, total, 1.0)

        low, high = _bootstrap(stat, n, confidence, n_resamples, seed)
    return Estimate(
        "SNIPS", value, low, high, confidence, interval, n, float(w.max()), float(w.mean())
    )


def doubly_robust(
    rewards: np.ndarray,
    logging_propensity: np.ndarray,
    target_probability: np.ndarray,
    reward_model_logged: np.ndarray,
    reward_model_target: np.ndarray,
    *,
    interval: str = "analytic",
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """Doubly robust: ``mean(v_i + w_i * (r_i - q_i))``.

    Args:
        rewards, logging_propensity, target_probability: as for :func:`ips`.
        reward_model_logged: (n,) the reward model's prediction ``q(x_i, a_i)`` for each
            logged action (fit it on other data, or cross-fit, so its errors are not the
            log's own noise).
        reward_model_target: (n,) the direct method's value of the target policy in each
            logged context, ``v_i = sum_a pi(a | x_i) q(x_i, a)``.
        interval, confidence, n_resamples, seed: as for :func:`ips`.
    """
    r = _vector("rewards", rewards, None)
    w = importance_weights(logging_propensity, target_probability)
    if len(w) != len(r):
        raise ValueError(f"rewards has {len(r)} values but the propensities have {len(w)}")
    q = _vector("reward_model_logged", reward_model_logged, len(r))
    v = _vector("reward_model_target", reward_model_target, len(r))
    _check_interval(interval, confidence, n_resamples)
    return _mean_estimate("DR", v + w * (r - q), w, interval, confidence, n_resamples, seed)


def direct_method(
    reward_model_target: np.ndarray,
    *,
    interval: str = "analytic",
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """The direct method: ``mean(v_i)``, the reward model's value of the target policy.

    Its interval covers only the contexts' sampling noise, not the model's bias.
    """
    v = _vector("reward_model_target", reward_model_target, None)
    if len(v) == 0:
        raise ValueError("the log is empty")
    _check_interval(interval, confidence, n_resamples)
    ones = np.ones_like(v)
    return _mean_estimate("DM", v, ones, interval, confidence, n_resamples, seed)


def policy_probabilities(action_distribution: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """``pi(a_i | x_i)``: each row's probability of its logged action.

    Args:
        action_distribution: (n, n_actions) the policy's distribution over actions in each
            logged context (rows sum to 1).
        actions: (n,) the logged action indices.

    Raises:
        ValueError: on a wrong shape, rows that are not distributions, or unknown actions.
    """
    dist = np.asarray(action_distribution, dtype=np.float64)
    actions = np.asarray(actions)
    if dist.ndim != 2 or actions.ndim != 1 or len(dist) != len(actions):
        raise ValueError(
            "action_distribution must be (n, n_actions) and actions (n,), got "
            f"{dist.shape} and {actions.shape}"
        )
    if not np.issubdtype(actions.dtype, np.integer):
        raise ValueError(f"actions must be integer indices, got dtype {actions.dtype}")
    if (actions < 0).any() or (actions >= dist.shape[1]).any():
        raise ValueError(f"actions must be in 0..{dist.shape[1] - 1}")
    if (dist < 0).any() or not np.allclose(dist.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("each row of action_distribution must be a probability distribution")
    return dist[np.arange(len(actions)), actions]

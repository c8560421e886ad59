"""Off-policy estimators (ecomrec.experiments.ope) on simulated logs whose truth is known."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from ecomrec.experiments import ope
from ecomrec.experiments.ope import (
    direct_method,
    doubly_robust,
    importance_weights,
    ips,
    policy_probabilities,
    snips,
)

N_ACTIONS = 5


def _bandit(seed: int, n: int = 4000):
    """A contextual bandit with 3 context types and known click rates; uniform logging."""
    rng = np.random.default_rng(seed)
    rates = np.array(
        [
            [0.02, 0.05, 0.10, 0.20, 0.08],
            [0.15, 0.03, 0.04, 0.06, 0.30],
            [0.05, 0.05, 0.25, 0.02, 0.1],
        ]
    )
    target = np.array(
        [[0.1, 0.1, 0.2, 0.5, 0.1], [0.6, 0.1, 0.1, 0.1, 0.1], [0.0, 0.0, 0.9, 0.1, 0.0]]
    )
    logging = np.array([[0.2] * 5, [0.1, 0.1, 0.3, 0.3, 0.2], [0.3, 0.3, 0.1, 0.2, 0.1]])
    context = rng.integers(0, 3, n)
    u = rng.random(n)
    action = (u[:, None] > np.cumsum(logging[context], axis=1)).sum(axis=1)
    clicks = (rng.random(n) < rates[context, action]).astype(float)
    truth = float((target * rates).sum(axis=1).mean())  # contexts are uniform
    return {
        "context": context,
        "action": action,
        "clicks": clicks,
        "p": logging[context, action],
        "pi": target[context, action],
        "rates": rates,
        "target": target,
        "truth": truth,
    }


def test_doctests() -> None:
    assert doctest.testmod(ope).failed == 0


def test_ips_and_dr_are_unbiased_over_repeated_logs() -> None:
    estimates = {"IPS": [], "SNIPS": [], "DR": []}
    for seed in range(200):
        log = _bandit(seed, n=2000)
        noisy_model = log["rates"] * 1.5  # a biased reward model: DR must still be unbiased
        q = noisy_model[log["context"], log["action"]]
        v = (log["target"] * noisy_model)[log["context"]].sum(axis=1)
        estimates["IPS"].append(ips(log["clicks"], log["p"], log["pi"]).value)
        estimates["SNIPS"].append(snips(log["clicks"], log["p"], log["pi"]).value)
        estimates["DR"].append(doubly_robust(log["clicks"], log["p"], log["pi"], q, v).value)
    truth = _bandit(0)["truth"]
    for name, values in estimates.items():
        values = np.array(values)
        # the mean over 200 logs is within 3 standard errors of the truth
        assert abs(values.mean() - truth) < 3 * values.std() / np.sqrt(len(values)), name
    dm_bias = (log["target"] * log["rates"] * 1.5).sum(axis=1).mean() - truth
    assert dm_bias > 0.02  # the direct method alone would be far off


def test_intervals_cover_the_truth_about_95_percent() -> None:
    covered = {"analytic": 0, "bootstrap": 0}
    n_logs = 60
    for seed in range(n_logs):
        log = _bandit(1000 + seed, n=1500)
        for kind in covered:
            est = ips(log["clicks"], log["p"], log["pi"], interval=kind, n_resamples=300, seed=seed)
            covered[kind] += est.covers(log["truth"])
    for kind, count in covered.items():
        assert 0.85 * n_logs <= count <= n_logs, kind


def test_snips_equals_ips_when_weights_average_one() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.45, 500)
    pi = rng.uniform(0.0, 1.0, 500) * p
    pi *= len(pi) / (pi / p).sum()  # rescale so mean(pi / p) == 1 exactly
    assert np.all(pi <= 1)
    r = rng.random(500) < 0.3
    assert importance_weights(p, pi).mean() == pytest.approx(1.0)
    assert snips(r, p, pi).value == pytest.approx(ips(r, p, pi).value, rel=1e-12)


def test_snips_differs_from_ips_otherwise_and_stays_in_reward_range() -> None:
    log = _bandit(5, n=300)
    s, i = snips(log["clicks"], log["p"], log["pi"]), ips(log["clicks"], log["p"], log["pi"])
    assert s.value != i.value
    assert 0 <= s.value <= 1
    assert s.mean_weight == pytest.approx(i.mean_weight)


def test_dr_with_a_perfect_reward_model_has_no_variance_from_rewards() -> None:
    """Deterministic rewards and the exact model: the IPS correction is 0, DR is the DM value
    whatever actions were logged, so its spread over logs of the same contexts is zero."""
    base = _bandit(0, n=1000)
    context, rates, target = base["context"], base["rates"], base["target"]
    v = (target * rates)[context].sum(axis=1)
    values = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        action = rng.integers(0, N_ACTIONS, len(context))
        p = np.full(len(context), 1 / N_ACTIONS)
        rewards = rates[context, action]  # the expected reward itself: no noise
        values.append(doubly_robust(rewards, p, target[context, action], rewards, v).value)
    assert np.ptp(values) < 1e-12
    assert values[0] == pytest.approx(direct_method(v).value)
    ips_values = []
    for seed in range(20):
        action = np.random.default_rng(seed).integers(0, N_ACTIONS, len(context))
        rewards = rates[context, action]
        ips_values.append(ips(rewards, np.full(len(context), 0.2), target[context, action]).value)
    assert np.std(ips_values) > 1e-3  # IPS still varies with the logged actions


def test_bootstrap_and_analytic_intervals_agree_roughly() -> None:
    log = _bandit(7, n=3000)
    a = snips(log["clicks"], log["p"], log["pi"])
    b = snips(log["clicks"], log["p"], log["pi"], interval="bootstrap", n_resamples=500)
    assert a.value == b.value
    assert b.half_width == pytest.approx(a.half_width, rel=0.3)
    assert a.low < a.value < a.high


def test_policy_probabilities() -> None:
    dist = np.array([[0.2, 0.8], [1.0, 0.0]])
    assert policy_probabilities(dist, np.array([1, 1])).tolist() == [0.8, 0.0]
    with pytest.raises(ValueError, match="probability distribution"):
        policy_probabilities(np.array([[0.5, 0.6]]), np.array([0]))
    with pytest.raises(ValueError, match="must be in 0..1"):
        policy_probabilities(dist, np.array([0, 2]))
    with pytest.raises(ValueError, match=r"\(n, n_actions\)"):
        policy_probabilities(dist, np.array([0]))


@pytest.mark.parametrize(
    ("p", "pi", "match"),
    [
        ([0.5, 0.0], [0.5, 0.5], r"impression 1 has 0\.0"),
        ([0.5, 1.5], [0.5, 0.5], "above 1 is not a probability"),
        ([0.5, -0.1], [0.5, 0.5], r"in \(0, 1\]"),
        ([0.5, np.nan], [0.5, 0.5], "NaN"),
        ([0.5, 0.5], [0.5, 2.0], "target_probability must be in"),
        ([0.5, 0.5], [0.5], "has 1 values but"),
        ([[0.5, 0.5]], [0.5], "must be 1-d"),
        ([], [], "empty"),
    ],
)
def test_bad_propensities_are_rejected(p, pi, match) -> None:
    with pytest.raises(ValueError, match=match):
        importance_weights(np.array(p, dtype=float), np.array(pi, dtype=float))


def test_bad_arguments_are_rejected() -> None:
    r, p, pi = np.array([1.0, 0.0]), np.array([0.5, 0.5]), np.array([0.5, 0.5])
    with pytest.raises(ValueError, match="rewards has 3 values"):
        ips(np.array([1.0, 0.0, 1.0]), p, pi)
    with pytest.raises(ValueError, match="interval must be one of"):
        ips(r, p, pi, interval="exact")
    with pytest.raises(ValueError, match="at least 100 resamples"):
        ips(r, p, pi, interval="bootstrap", n_resamples=10)
    with pytest.raises(ValueError, match="every importance weight is 0"):
        snips(r, p, np.zeros(2))
    with pytest.raises(ValueError, match="reward_model_logged has 1 values"):
        doubly_robust(r, p, pi, np.array([0.1]), np.array([0.1, 0.2]))

"""Assignment 08 (nbgrader source notebook): the solutions against the library and SciPy, the
readout's data and model answer.

The structure every assignment shares (points, cell roles, solution passes, stub fails, wrong
answers such as the SRM test with k degrees of freedom, CUPED's theta over var(y), IPS with
inverted weights, SNIPS divided by n, a one-sided sample size) is
tests/test_assignment_structure.py's, with this assignment's facts in tests/assignments/a08.py.
Here: the students' functions agree with ``ecomrec.experiments`` and ``scipy.stats``, and the
model answer of the readout quotes the numbers the fixed experiment produces.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from assignments.a08 import ASSIGNMENT
from assignments.spec import base_namespace
from nbsource import cell as _cell
from scipy import stats

from ecomrec.experiments import ips, snips


@pytest.fixture(scope="module")
def base() -> dict:
    return base_namespace(ASSIGNMENT)


def test_srm_agrees_with_scipy(base):
    rng = np.random.default_rng(0)
    for k in (2, 3, 7):
        shares = rng.dirichlet(np.ones(k))
        counts = rng.multinomial(10_000, shares)
        expected = stats.chisquare(counts, 10_000 * shares).pvalue
        assert base["srm_p_value"](counts, shares) == pytest.approx(expected, rel=1e-10)


def test_ips_and_snips_agree_with_the_library(base):
    rng = np.random.default_rng(1)
    p = rng.uniform(0.05, 1.0, 1_000)
    pi = rng.uniform(0.0, 1.0, 1_000)
    r = (rng.random(1_000) < 0.2).astype(float)
    assert base["ips_estimate"](r, p, pi) == pytest.approx(ips(r, p, pi).value, rel=1e-12)
    assert base["snips_estimate"](r, p, pi) == pytest.approx(snips(r, p, pi).value, rel=1e-12)


def test_cuped_matches_the_regression_adjusted_difference_when_theta_is_pooled(base):
    """CUPED's effect equals the treatment coefficient of y - theta (x - mean x) on a constant and
    the treatment flag: a plain difference of means of the adjusted metric."""
    rng = np.random.default_rng(2)
    x = rng.normal(10, 3, 400)
    treated = rng.random(400) < 0.5
    y = 1.0 + 0.9 * x + 0.5 * treated + rng.normal(0, 1, 400)
    effect, se = base["cuped_estimate"](y, x, treated)
    theta = np.polyfit(x, y, 1)[0]  # the pooled OLS slope is cov(x, y) / var(x)
    adjusted = y - theta * (x - x.mean())
    design = np.column_stack([np.ones(400), treated])
    coefficient = np.linalg.lstsq(design, adjusted, rcond=None)[0][1]
    assert effect == pytest.approx(coefficient, rel=1e-9)
    plain = math.sqrt(y[treated].var(ddof=1) / treated.sum() + y[~treated].var(ddof=1) / 200)
    assert se < 0.5 * plain


def _exact_power(m: int, std: float, effect: float, alpha: float) -> float:
    """The two-sided z-test's power with m users per group."""
    shift = effect / (std * math.sqrt(2 / m))
    z = stats.norm.ppf(1 - alpha / 2)
    return stats.norm.sf(z - shift) + stats.norm.cdf(-z - shift)


def test_sample_size_gives_the_power_it_promises(base):
    """The normal-approximation size: the exact power of the z-test at that size is at least
    the power asked for, and one user fewer per group falls short of it."""
    for std, effect, alpha, power in [(1.0, 0.1, 0.05, 0.8), (12.0, 0.7, 0.01, 0.9)]:
        n = base["sample_size_per_group"](std, effect, alpha=alpha, power=power)
        assert _exact_power(n, std, effect, alpha) >= power
        assert _exact_power(n - 1, std, effect, alpha) < power + 1e-3


def _readout_numbers(base) -> dict[str, float]:
    e = base["experiment"]
    t = (e["variant"] == "treatment").to_numpy()
    y, x, r = (e[c].to_numpy(dtype=float) for c in ("revenue", "pre_revenue", "returned"))
    plain = y[t].mean() - y[~t].mean()
    plain_se = math.sqrt(y[t].var(ddof=1) / t.sum() + y[~t].var(ddof=1) / (~t).sum())
    cuped, cuped_se = base["cuped_estimate"](y, x, t)
    rise = r[t].mean() - r[~t].mean()
    rise_se = math.sqrt(r[t].var(ddof=1) / t.sum() + r[~t].var(ddof=1) / (~t).sum())
    return {
        "n_control": int((~t).sum()),
        "n_treatment": int(t.sum()),
        "srm": base["srm_p_value"]([(~t).sum(), t.sum()], [0.5, 0.5]),
        "plain_low": plain - 1.96 * plain_se,
        "plain_high": plain + 1.96 * plain_se,
        "cuped": cuped,
        "cuped_low": cuped - 1.96 * cuped_se,
        "cuped_high": cuped + 1.96 * cuped_se,
        "reduction": 1 - (cuped_se / plain_se) ** 2,
        "rise_low": rise - 1.96 * rise_se,
        "rise": rise,
        "rise_high": rise + 1.96 * rise_se,
        "n_needed": base["sample_size_per_group"](r.std(), 0.003),
    }


def test_the_readout_experiment_poses_the_intended_decision(base):
    """Clean split; revenue significant only with CUPED; the guardrail's interval straddles
    the +0.5-point limit, so 'ship' is not supported."""
    n = _readout_numbers(base)
    assert n["srm"] > 0.1
    assert n["plain_low"] < 0 < n["cuped_low"]
    assert 0.3 < n["reduction"] < 0.6
    assert 0 < n["rise_low"] and n["rise_low"] < 0.005 < n["rise_high"]


def test_the_model_answer_quotes_the_experiment(base):
    n = _readout_numbers(base)
    answer = _cell(ASSIGNMENT.read(), "written_answer").source
    expected = [
        f"{n['n_control']:,} control and {n['n_treatment']:,} treatment",
        f"p = {n['srm']:.2f}",
        f"+{n['cuped']:.2f} (95% interval +{n['cuped_low']:.2f} to +{n['cuped_high']:.2f})",
        f"−{-n['plain_low']:.2f} to +{n['plain_high']:.2f}",
        f"falls by {n['reduction']:.0%}",
        f"+{100 * n['rise']:.2f} points (95% interval +{100 * n['rise_low']:.2f} to",
        f"about {round(n['n_needed'], -3):,.0f} users per group",
    ]
    for text in expected:
        assert text in answer, text
    assert re.search(r"Do not ship", answer)

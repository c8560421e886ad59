"""A/B statistics against independent computations: formulas by hand, scipy, simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ecomrec.experiments import (
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


def test_hash_assign_is_stable_balanced_and_salted():
    users = np.arange(20000)
    a = hash_assign(users, "exp-1")
    assert np.array_equal(a, hash_assign(users, "exp-1"))
    assert set(np.unique(a)) == {0, 1}
    # a fair coin per user: the share of arm 1 within 4 standard errors of 1/2
    assert abs(a.mean() - 0.5) < 4 * np.sqrt(0.25 / len(users))
    b = hash_assign(users, "exp-2")
    # another salt is independent of the first: agreement about 1/2
    assert abs((a == b).mean() - 0.5) < 4 * np.sqrt(0.25 / len(users))
    c = hash_assign(users, "exp-3", weights=(0.1, 0.3, 0.6))
    np.testing.assert_allclose(np.bincount(c) / len(users), [0.1, 0.3, 0.6], atol=0.015)
    # the arm of a user never depends on who else is assigned
    assert hash_assign([123], "exp-1")[0] == a[123]
    with pytest.raises(ValueError, match="weights"):
        hash_assign(users, "x", weights=(1.0,))


def test_difference_in_means_matches_welch_and_covers():
    rng = np.random.default_rng(0)
    c, t = rng.exponential(2.0, 3000), rng.exponential(2.2, 2500)
    effect = difference_in_means(c, t)
    se = np.sqrt(c.var(ddof=1) / len(c) + t.var(ddof=1) / len(t))
    assert effect.difference == pytest.approx(t.mean() - c.mean())
    assert effect.standard_error == pytest.approx(se)
    assert effect.ci_high - effect.ci_low == pytest.approx(2 * 1.959964 * se, rel=1e-5)
    welch = stats.ttest_ind(t, c, equal_var=False)
    assert effect.p_value == pytest.approx(welch.pvalue, rel=0.02, abs=1e-6)
    # coverage of the 95% interval over repeated experiments with a known effect of 0.3
    covered = 0
    reps = 1000
    for _ in range(reps):
        x, y = rng.normal(1.0, 1.0, 400), rng.normal(1.3, 1.5, 400)
        e = difference_in_means(x, y)
        covered += e.ci_low <= 0.3 <= e.ci_high
    assert abs(covered / reps - 0.95) < 4 * np.sqrt(0.95 * 0.05 / reps)
    with pytest.raises(ValueError, match="at least 2"):
        difference_in_means([1.0], [1.0, 2.0])


def test_ratio_difference_delta_method_matches_the_spread_over_experiments():
    rng = np.random.default_rng(1)

    def arm(n, ctr):
        impressions = rng.poisson(8, n) + 1
        user_ctr = np.clip(rng.normal(ctr, 0.05, n), 0, 1)  # users differ: clustered clicks
        return rng.binomial(impressions, user_ctr), impressions

    estimates, ses = [], []
    for _ in range(400):
        cn, cd = arm(500, 0.10)
        tn, td = arm(500, 0.12)
        e = ratio_difference(cn, cd, tn, td)
        estimates.append(e.difference)
        ses.append(e.standard_error)
        assert e.control_mean == pytest.approx(cn.sum() / cd.sum())
    assert np.mean(estimates) == pytest.approx(0.02, abs=0.002)
    assert np.mean(ses) == pytest.approx(np.std(estimates, ddof=1), rel=0.12)


def test_srm_test_matches_pearson_chi_square():
    result = srm_test([50_600, 49_400])
    expected = stats.chisquare([50_600, 49_400])
    assert result.chi2 == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.alarm()  # 50.6% / 49.4% of 100,000 users is an SRM
    assert not srm_test([5_030, 4_970]).alarm()
    weighted = srm_test([1_000, 3_000], shares=[1, 3])
    assert weighted.chi2 == pytest.approx(0.0)
    with pytest.raises(ValueError, match="shares"):
        srm_test([10, 20], shares=[1.0])
    # under a correct split the p-value is uniform: about 5% fall below 0.05
    rng = np.random.default_rng(2)
    p = [srm_test(np.bincount(rng.integers(0, 2, 1000), minlength=2)).p_value for _ in range(800)]
    assert abs(np.mean(np.array(p) < 0.05) - 0.05) < 4 * np.sqrt(0.05 * 0.95 / 800)


def test_cuped_is_the_regression_adjustment_and_keeps_the_effect():
    rng = np.random.default_rng(3)
    x = rng.gamma(2.0, 5.0, 4000)
    y = 0.8 * x + rng.normal(0, 4.0, 4000)
    adjusted, theta = cuped(y, x)
    slope = np.polyfit(x, y, 1)[0]
    assert theta == pytest.approx(slope)
    assert adjusted.mean() == pytest.approx(y.mean())
    corr = np.corrcoef(x, y)[0, 1]
    assert adjusted.var(ddof=1) == pytest.approx(y.var(ddof=1) * (1 - corr**2), rel=1e-9)
    # over repeated experiments the adjusted estimate is unbiased and tighter
    raw, adj = [], []
    for _ in range(300):
        x = rng.gamma(2.0, 5.0, 1000)
        arm = rng.integers(0, 2, 1000)
        y = 0.8 * x + rng.normal(0, 4.0, 1000) + 0.5 * arm
        a, _ = cuped(y, x)
        raw.append(y[arm == 1].mean() - y[arm == 0].mean())
        adj.append(a[arm == 1].mean() - a[arm == 0].mean())
    assert np.mean(adj) == pytest.approx(0.5, abs=3 * np.std(adj) / np.sqrt(300))
    assert np.var(adj) < 0.5 * np.var(raw)
    with pytest.raises(ValueError, match="constant"):
        cuped([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])


def test_sample_size_and_power_by_formula_and_by_simulation():
    # n = 2 (1.959964 + 0.841621)^2 / 0.1^2 = 1569.8
    assert sample_size(1.0, 0.1) == 1570
    assert power(1570, 1.0, 0.1) == pytest.approx(0.8, abs=0.002)
    assert power(10, 1.0, 0.0) == pytest.approx(0.05)
    rng = np.random.default_rng(4)
    n = sample_size(2.0, 0.25)
    hits = sum(
        difference_in_means(rng.normal(0, 2.0, n), rng.normal(0.25, 2.0, n)).p_value < 0.05
        for _ in range(600)
    )
    assert abs(hits / 600 - 0.8) < 4 * np.sqrt(0.8 * 0.2 / 600)
    with pytest.raises(ValueError, match="effect"):
        sample_size(1.0, 0.0)


def test_team_draft_interleaving():
    rng = np.random.default_rng(5)
    n, k = 300, 6
    a = np.stack([rng.permutation(20) for _ in range(n)])
    b = np.stack([rng.permutation(20) for _ in range(n)])
    slates, teams = team_draft(a, b, k, rng)
    assert slates.shape == teams.shape == (n, k)
    for row in range(n):
        assert len(set(slates[row])) == k
        picks_a = (teams[row] == 0).sum()
        assert abs(2 * picks_a - k) <= 1 or k % 2  # balanced teams
        for team, ranking in ((0, a[row]), (1, b[row])):
            mine = slates[row][teams[row] == team]
            where = [list(ranking).index(x) for x in mine]
            assert where == sorted(where)  # each team picks in its own order
    # who picks first is a fair coin
    assert abs((teams[:, 0] == 0).mean() - 0.5) < 4 * np.sqrt(0.25 / n)
    same, _ = team_draft(a, a, k, rng)
    np.testing.assert_array_equal(same, a[:, :k])
    with pytest.raises(ValueError, match="rankings"):
        team_draft(a[:, :3], b[:, :3], k, rng)


def test_interleaving_preference_is_a_paired_mean():
    wins_a = np.array([0, 1, 2, 0, 1, 3])
    wins_b = np.array([1, 1, 3, 2, 1, 3])
    e = interleaving_preference(wins_a, wins_b)
    d = wins_b - wins_a
    assert e.difference == pytest.approx(d.mean())
    assert e.standard_error == pytest.approx(d.std(ddof=1) / np.sqrt(len(d)))


def test_team_draft_policy_credits_the_better_ranker():
    from ecomrec.datasets import load_shopsim
    from ecomrec.environment import OraclePolicy, RandomPolicy, ShopEnvironment
    from ecomrec.experiments import TeamDraftPolicy

    data = load_shopsim()
    env = ShopEnvironment(data)
    policy = TeamDraftPolicy(RandomPolicy(data.n_items, seed=1), OraclePolicy(), seed=2)
    log = env.run(policy, days=3, users=np.arange(500), seed=1)
    wins_random, wins_oracle = policy.credit(log)
    assert wins_random.sum() + wins_oracle.sum() == (log.click_slot >= 0).sum()
    assert wins_oracle.sum() > 5 * wins_random.sum()
    teams = policy.teams(log)
    assert np.abs((teams == 0).sum(axis=1) - (teams == 1).sum(axis=1)).max() <= 1

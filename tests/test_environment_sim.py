"""ShopSim as an environment: the same truth as the simulator, exact expectations, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from ecomrec.baselines import Markov, Popularity
from ecomrec.datasets import load_shopsim
from ecomrec.environment import (
    OraclePolicy,
    Policy,
    RandomPolicy,
    RecommenderPolicy,
    ShopEnvironment,
    top_k_unseen,
    validate_slates,
)


@pytest.fixture(scope="module")
def data():
    return load_shopsim()


@pytest.fixture(scope="module")
def env(data):
    return ShopEnvironment(data)


@pytest.fixture(scope="module")
def markov(data):
    return RecommenderPolicy(Markov().fit(data.interactions, data.n_items), "markov")


def test_batch_truth_is_the_simulators_truth(env):
    """The vectorised mixture equals ShopSimTruth.next_item_distribution on random states."""
    rng = np.random.default_rng(7)
    n, n_items = 60, env.n_items
    users = rng.integers(0, env.n_users, n)
    seen = np.zeros((n, n_items), dtype=bool)
    recent = np.full((n, 3), -1, dtype=np.int64)
    mission = np.full(n, -1, dtype=np.int64)
    counts, recents = [], []
    for row in range(n):
        seen[row, rng.choice(n_items, rng.integers(0, 60), replace=False)] = True
        last = [int(x) for x in rng.integers(0, n_items, rng.integers(0, 4))]
        recents.append(last)
        recent[row, : len(last)] = last[::-1]
        if rng.random() < 0.7:
            mission[row] = rng.integers(0, n_items)
        counts.append({int(i): 1.0 + (i % 2) for i in rng.integers(0, n_items, rng.integers(0, 4))})
    batch = env.batch.next_item_distribution(users, seen, recent, mission, counts)
    for row in range(n):
        expected = env.truth.next_item_distribution(
            int(users[row]),
            np.flatnonzero(seen[row]),
            recents[row],
            None if mission[row] < 0 else int(mission[row]),
            counts[row],
        )
        np.testing.assert_allclose(batch[row], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(batch.sum(axis=1), 1.0, atol=1e-12)


def test_funnel_matches_the_simulators_formula(env):
    from ecomrec.datasets.simulator import _sigmoid

    truth = env.truth
    for user, item in [(0, 5), (17, 900), (2999, 1499)]:
        fit = truth.affinity(user, item)
        p_click, p_cart, p_buy = env.batch.funnel(np.array([user]), np.array([item]))
        pain = truth.price_sensitivity[user] * env.batch.relative_price[item]
        assert p_click[0] == pytest.approx(_sigmoid(-2.0 + 0.9 * fit + truth.click_bias[user]))
        assert p_cart[0] == pytest.approx(_sigmoid(-0.5 + 0.5 * fit))
        assert p_buy[0] == pytest.approx(_sigmoid(-0.5 + 0.4 * fit - 1.5 * pain))


def test_expected_clicks_match_a_long_simulation(env, markov):
    """Realised clicks, per slot and in total, agree with the exact expectations."""
    log = env.run(markov, days=14, users=np.arange(1500), seed=3, record_probabilities=True)
    n = len(log)
    assert n > 5000
    clicks = log.click_slot >= 0
    expected = log.expected_clicks
    se = np.sqrt((expected * (1 - expected)).sum()) / n
    assert abs(clicks.mean() - expected.mean()) < 4 * se
    # each slot's click count against its exact expectation (a binomial sum)
    per_slot = env.click_probabilities(log.probabilities.astype(np.float64), log.slates)
    for slot in range(env.k):
        p = per_slot[:, slot]
        observed = (log.click_slot == slot).sum()
        assert abs(observed - p.sum()) < 4 * np.sqrt((p * (1 - p)).sum()) + 1
    # the recorded expectation is the exact one of the recorded state
    again = env.expected(log.user, log.probabilities.astype(np.float64), log.slates)
    np.testing.assert_allclose(again["expected_clicks"], expected, rtol=1e-5)
    # purchases through the slate: a sum of Bernoulli draws with the recorded chances
    p_buy = log.expected_purchases
    assert abs(log.rec_purchase.sum() - p_buy.sum()) < 4 * np.sqrt(p_buy.sum()) + 1
    # better slates, more clicks: the oracle beats Markov beats random, exactly
    assert 0 < expected.mean() < 1


def test_policies_rank_as_the_truth_says(env, data, markov):
    users = np.arange(600)
    values = {}
    for policy in [
        RandomPolicy(env.n_items, seed=1),
        RecommenderPolicy(Popularity().fit(data.interactions, data.n_items), "popularity"),
        markov,
        OraclePolicy(),
    ]:
        log = env.run(policy, days=7, users=users, seed=5)
        values[policy.name] = log.expected_clicks.mean()
    assert values["random"] < values["popularity"] < values["markov"] < values["oracle"]


def test_same_seed_same_log_and_the_world_is_not_changed(env, markov):
    users = np.arange(400)
    a = env.run(markov, days=5, users=users, seed=11)
    b = env.run(markov, days=5, users=users, seed=11)
    c = env.run(markov, days=5, users=users, seed=12)
    for name in a.columns:
        np.testing.assert_array_equal(a.columns[name], b.columns[name])
    assert len(a) != len(c) or not np.array_equal(a.organic_item, c.organic_item)
    summary = a.per_user()
    assert list(summary.index) == list(users)
    assert summary["impressions"].sum() == len(a)
    assert summary["clicks"].sum() == (a.click_slot >= 0).sum()


def test_ab_assignment_runs_each_arm_with_its_policy(env, data, markov):
    pop = RecommenderPolicy(Popularity().fit(data.interactions, data.n_items), "popularity")
    arms = np.arange(env.n_users) % 2
    log = env.run([pop, markov], assignment=arms, days=5, users=np.arange(800), seed=2)
    np.testing.assert_array_equal(log.arm, arms[log.user])
    top = np.argsort(-pop.model.counts_)[:30]
    # popularity shows popular items to its arm; Markov shows others too
    assert np.isin(log.slates[log.arm == 0], top).mean() > 0.9
    assert np.isin(log.slates[log.arm == 1], top).mean() < 0.5
    with pytest.raises(ValueError, match="assignment"):
        env.run([pop, markov], days=1)
    with pytest.raises(ValueError, match="arms outside"):
        env.run([pop, markov], assignment=arms + 1, days=1)


class _Fixed(Policy):
    def __init__(self, make):
        self.make = make
        self.name = "fixed"

    def slates(self, observation, k):
        return self.make(len(observation), k)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda n, k: np.zeros((n, k), dtype=np.int64), "twice"),
        (lambda n, k: np.tile(np.arange(k) + 1495, (n, 1)), "unknown item"),
        (lambda n, k: np.tile(np.arange(k - 1), (n, 1)), "shape"),
        (lambda n, k: np.tile(np.arange(k), (n + 1, 1)), "shape"),
        (lambda n, k: np.tile(np.arange(k, dtype=float), (n, 1)), "integers"),
        (lambda n, k: np.tile(np.arange(k) - 1, (n, 1)), "unknown item"),
    ],
)
def test_bad_slates_are_rejected_with_a_clear_error(env, make, message):
    with pytest.raises(ValueError, match=message):
        env.run(_Fixed(make), days=1, users=np.arange(50), seed=0)


def test_validate_slates_and_top_k_unseen():
    good = validate_slates(np.array([[3, 1, 2]]), 1, 3, 10)
    assert good.dtype == np.int64
    with pytest.raises(ValueError, match="twice"):
        validate_slates([[1, 1, 2]], 1, 3, 10)
    scores = np.array([[5.0, 4.0, 3.0, 2.0, 1.0]])
    assert top_k_unseen(scores, [np.array([0, 2])], 2).tolist() == [[1, 3]]


def test_unfitted_model_and_daily_refresh(env, data):
    with pytest.raises(ValueError, match="fit it"):
        RecommenderPolicy(Markov())
    with pytest.raises(ValueError, match="refresh"):
        RecommenderPolicy(Popularity().fit(data.interactions, data.n_items), refresh="hourly")

    lengths = {"realtime": [], "daily": []}

    class Spy(Markov):
        def __init__(self, key):
            super().__init__()
            self.key = key

        def score(self, context):
            lengths[self.key].extend(len(h) for h in context.histories)
            return super().score(context)

    for key in lengths:
        model = Spy(key).fit(data.interactions, data.n_items)
        env.run(RecommenderPolicy(model, refresh=key), days=3, users=np.arange(300), seed=4)
    # the same impressions; the nightly model knows less of each history
    assert len(lengths["realtime"]) == len(lengths["daily"])
    assert sum(lengths["daily"]) < sum(lengths["realtime"])


def test_friend_counts_kept_until_they_change_match_the_purchase_log(env):
    # the run's cache of friends' purchases answers exactly as PurchaseLog.friends_bought,
    # while time moves on and friends keep buying
    from ecomrec.datasets.social import PurchaseLog
    from ecomrec.environment.shop import _FriendCounts

    log = PurchaseLog(env.n_users)
    log.times = list(env._purchases.times)
    log.items = list(env._purchases.items)
    counts = _FriendCounts(log, env.friends, env.window)
    reference = PurchaseLog(env.n_users)
    reference.times = [list(t) for t in env._purchases.times]
    reference.items = [list(i) for i in env._purchases.items]
    rng = np.random.default_rng(0)
    users = rng.choice(env.n_users, size=200, replace=False)
    time = env.start_time
    for _ in range(60):
        time += int(rng.integers(600, 6 * 3600))
        got = counts(users, np.full(len(users), time))
        want = [reference.friends_bought(env.friends[u], time, env.window) for u in users]
        assert got == want
        for buyer in rng.choice(env.n_users, size=20, replace=False):
            when, item = time + int(rng.integers(0, 7200)), int(rng.integers(env.n_items))
            if not reference.times[buyer] or reference.times[buyer][-1] <= when:
                counts.add(int(buyer), when, item)
                reference.add(int(buyer), when, item)
    # the world's own purchase lists were copied before the run wrote to them
    assert env._purchases.times == PurchaseLog.from_events(env.data.events, env.n_users).times

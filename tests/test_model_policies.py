"""RankerPolicy: lesson 05's two stages deployed in the ShopSim environment."""

from __future__ import annotations

import numpy as np
import pytest

from ecomrec.datasets import load_shopsim
from ecomrec.environment import Observation, ShopEnvironment
from ecomrec.environment.model_policies import RankerPolicy, observation_targets
from ecomrec.ranking import (
    RankingTargets,
    ShopStatistics,
    candidate_table,
    full_catalogue_scores,
)
from ecomrec.scoring import ScoringContext


class FirstFeature:
    """A stand-in ranker: the score is one named feature (here co-occurrence)."""

    def __init__(self, column: int) -> None:
        self.column = column

    def predict(self, values: np.ndarray) -> np.ndarray:
        return values[:, :, self.column].astype(np.float64)


@pytest.fixture(scope="module")
def world():
    data = load_shopsim()
    stats = ShopStatistics(data.interactions, data.items, data.events, data.friendships)
    return data, stats


def _observation(histories, starts, target_starts=None, users=(3, 5), times=(8_000_000, 8_000_100)):
    histories = [np.asarray(h, dtype=np.int64) for h in histories]
    context = ScoringContext(
        np.asarray(users),
        histories,
        [np.asarray(s, dtype=bool) for s in starts],
        np.zeros(len(users), dtype=bool) if target_starts is None else np.asarray(target_starts),
    )
    return Observation(
        context=context,
        seen=histories,
        day_start_lengths=np.array([len(h) for h in histories]),
        times=np.asarray(times),
    )


def test_observation_targets_numbers_sessions_from_the_start_flags():
    obs = _observation([[1, 2, 3, 4], [7]], [[True, False, True, False], [True]])
    targets = observation_targets(obs)
    assert isinstance(targets, RankingTargets)
    assert targets.history_sessions[0].tolist() == [0, 0, 1, 1]
    assert targets.sessions.tolist() == [1, 0]  # the impression continues the last session
    assert targets.items.tolist() == [-1, -1]
    assert targets.times.tolist() == [8_000_000, 8_000_100]
    # the session's first view is the mission; the impression is never a session start
    assert targets.mission_items().tolist() == [3, 7]
    assert not targets.session_starts().any()


def test_observation_targets_opens_a_new_session_when_the_target_starts_one():
    obs = _observation([[1, 2], [7]], [[True, False], [True]], target_starts=[True, False])
    targets = observation_targets(obs)
    assert targets.sessions.tolist() == [1, 0]
    assert targets.mission_items().tolist() == [-1, 7]


def test_observation_targets_needs_session_flags():
    histories = [np.array([1, 2])]
    obs = Observation(
        context=ScoringContext(np.array([0]), histories),
        seen=histories,
        day_start_lengths=np.array([2]),
        times=np.array([1]),
    )
    with pytest.raises(ValueError, match="session-start flags"):
        observation_targets(obs)


def test_ranker_policy_shows_the_rankers_top_candidates(world):
    data, stats = world
    histories = [[10, 11, 12], [40, 41]]
    obs = _observation(histories, [[True, False, False], [True, False]])
    names = candidate_table(stats, observation_targets(obs), 50).names
    ranker = FirstFeature(names.index("cooccurrence"))
    policy = RankerPolicy(stats, ranker, n_candidates=50)
    slates = policy.slates(obs, 10)
    assert slates.shape == (2, 10)
    for row, history in enumerate(histories):
        assert len(set(slates[row])) == 10
        assert not set(slates[row]) & set(history)  # never a seen item
    # the same as scoring lesson 05's candidate table by hand
    table = candidate_table(stats, observation_targets(obs), 50)
    by_hand = full_catalogue_scores(table.candidates, ranker.predict(table.values), data.n_items)
    np.testing.assert_allclose(policy.scores(obs), by_hand)
    for row in range(2):
        assert set(slates[row]) <= set(table.candidates[row])
        shown = by_hand[row, slates[row]]
        assert (np.diff(shown) <= 0).all()  # best first


def test_ranker_policy_checks_its_arguments(world):
    _, stats = world
    with pytest.raises(TypeError, match="predict"):
        RankerPolicy(stats, object())
    with pytest.raises(ValueError, match="n_candidates"):
        RankerPolicy(stats, FirstFeature(0), n_candidates=0)


def test_ranker_policy_runs_in_the_environment(world):
    data, stats = world
    env = ShopEnvironment(data, slate_size=5)
    probe = _observation([[1, 2]], [[True, False]], users=(0,), times=(0,))
    names = candidate_table(stats, observation_targets(probe), 30).names
    policy = RankerPolicy(stats, FirstFeature(names.index("cooccurrence")), n_candidates=30)
    users = np.arange(40)
    log = env.run(policy, days=2, users=users, seed=3)
    assert len(log) > 0
    assert log.slates.shape == (len(log), 5)
    assert (log.expected_clicks > 0).all() and (log.expected_clicks < 1).all()
    again = env.run(policy, days=2, users=users, seed=3)
    np.testing.assert_array_equal(log.slates, again.slates)  # deterministic

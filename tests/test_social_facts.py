"""One definition of "friends' purchases in the window before t", shared by the simulator,
the oracle and lesson 04's social recommender (ecomrec.datasets.social)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecomrec import schema as S
from ecomrec.datasets import SimConfig, simulate
from ecomrec.datasets.social import PurchaseLog, friend_lists, seconds_since_start
from ecomrec.graph import friend_purchase_counts
from ecomrec.oracle import oracle_probabilities


@pytest.fixture(scope="module")
def small_shop():
    return simulate(SimConfig(seed=3, n_users=200, n_items=150, days=30))


def counts_by_merging(events, friendships, targets, n_items, window_days):
    """The rule written independently of the library, with pandas joins."""
    buys = events.loc[events[S.EVENT_TYPE] == "purchase", [S.USER, S.ITEM, S.TIMESTAMP]]
    buys = buys.assign(**{S.TIMESTAMP: pd.to_datetime(buys[S.TIMESTAMP])})
    a, b = friendships[S.USER_A].to_numpy(), friendships[S.USER_B].to_numpy()
    pairs = pd.DataFrame({S.USER: np.r_[a, b], "friend": np.r_[b, a]}).drop_duplicates()
    rows = pd.DataFrame(
        {
            "row": np.arange(len(targets)),
            S.USER: targets[S.USER].to_numpy(),
            "t": pd.to_datetime(targets[S.TIMESTAMP]).to_numpy(),
        }
    )
    bought = rows.merge(pairs, on=S.USER).merge(
        buys.rename(columns={S.USER: "friend"}), on="friend"
    )
    keep = (bought[S.TIMESTAMP] < bought["t"]) & (
        bought[S.TIMESTAMP] >= bought["t"] - pd.Timedelta(days=window_days)
    )
    counts = np.zeros((len(targets), n_items))
    np.add.at(counts, (bought.loc[keep, "row"], bought.loc[keep, S.ITEM].astype(int)), 1.0)
    return counts


def test_simulator_and_oracle_agree_on_every_view(small_shop):
    # the simulator drew each view from a distribution that includes friends' purchases;
    # the oracle recomputes it from the tables with the shared rule
    events = small_shop.tables["events"]
    views = events[events[S.EVENT_TYPE] == "view"]
    probs = oracle_probabilities(events, small_shop.tables["friendships"], small_shop.truth, views)
    got = probs[np.arange(len(views)), views[S.ITEM].to_numpy()]
    np.testing.assert_allclose(got, small_shop.view_probability[views.index], rtol=1e-12)


def test_lesson_counts_agree_with_an_independent_join(small_shop):
    events, friendships = small_shop.tables["events"], small_shop.tables["friendships"]
    views = events[events[S.EVENT_TYPE] == "view"]
    window = small_shop.truth.params.friend_window_days
    ours = friend_purchase_counts(events, friendships, views, 150, window_days=window)
    np.testing.assert_array_equal(ours, counts_by_merging(events, friendships, views, 150, window))
    assert ours.sum() > 100, "the small shop must have friend purchases to compare"


def test_window_edges_and_repeated_edges():
    events = pd.DataFrame(
        {
            S.USER: [1, 1, 1, 2],
            S.ITEM: [4, 5, 6, 4],
            S.EVENT_TYPE: ["purchase"] * 4,
            S.TIMESTAMP: pd.to_datetime(
                ["2026-01-01 00:00:00", "2026-01-01 00:00:10", "2026-01-01 00:00:20",
                 "2026-01-01 00:00:05"]
            ),
        }
    )  # fmt: skip
    friendships = pd.DataFrame({S.USER_A: [0, 0, 0], S.USER_B: [1, 1, 2]})  # 0-1 twice
    target = pd.DataFrame({S.USER: [0], S.TIMESTAMP: pd.to_datetime(["2026-01-01 00:00:20"])})
    friends = friend_lists(friendships, 3)
    assert friends[0].tolist() == [1, 2]  # a repeated edge is one friend
    log = PurchaseLog.from_events(events, 3)
    (t,) = seconds_since_start(target[S.TIMESTAMP])
    # [t - 10, t): the purchase 10 s before counts, the one at t does not
    assert log.friends_bought(friends[0], t, window=10) == {5: 1.0}
    assert log.friends_bought(friends[0], t, window=None) == {4: 2.0, 5: 1.0}
    counts = friend_purchase_counts(events, friendships, target, 7, window_days=10 / 86400)
    assert counts.tolist() == [[0, 0, 0, 0, 0, 1, 0]]


def test_purchases_out_of_order_are_refused():
    log = PurchaseLog(2)
    log.add(0, 50, 1)
    with pytest.raises(ValueError, match="in time order"):
        log.add(0, 40, 2)

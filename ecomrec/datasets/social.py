"""Who is friends with whom, and what they bought: one definition for the simulator, the
oracle and the lessons.

ShopSim's social influence works like this: when user u views an item at time t, the
items u's friends purchased in the ``friend_window_days`` before t (at or after
``t - window``, strictly before ``t``) get extra probability, once per purchase. The
simulator draws views from that rule, the oracle recomputes it from the shipped tables,
and lesson 04 builds a recommender on it; all three call :meth:`PurchaseLog.friends_bought`.

Times are whole seconds since :data:`ecomrec.schema.SIMULATION_START`.

Example:
    >>> log = PurchaseLog(n_users=3)
    >>> log.add(user=1, time=100, item=7)
    >>> log.add(user=2, time=150, item=7)
    >>> log.add(user=2, time=400, item=5)
    >>> log.friends_bought([1, 2], time=400, window=300)  # item 5 at t=400 is not before 400
    {7: 2.0}
    >>> log.friends_bought([1, 2], time=400, window=280)  # the purchase at 100 is too old
    {7: 1.0}
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ecomrec import schema as S


def seconds_since_start(timestamps: pd.Series) -> np.ndarray:
    """Whole seconds from :data:`ecomrec.schema.SIMULATION_START` (int64), rounded down."""
    delta = pd.to_datetime(timestamps) - S.SIMULATION_START
    return (delta // pd.Timedelta(seconds=1)).to_numpy().astype(np.int64)


def friend_lists(friendships: pd.DataFrame, n_users: int) -> list[np.ndarray]:
    """Each user's friends as a sorted int array without repeats (the graph is undirected).

    Example:
        >>> edges = pd.DataFrame({S.USER_A: [0, 0, 1], S.USER_B: [2, 1, 2]})
        >>> [f.tolist() for f in friend_lists(edges, 4)]
        [[1, 2], [0, 2], [0, 1], []]
    """
    a = friendships[S.USER_A].to_numpy(dtype=np.int64)
    b = friendships[S.USER_B].to_numpy(dtype=np.int64)
    pairs = np.unique(np.stack([np.r_[a, b], np.r_[b, a]], axis=1), axis=0).reshape(-1, 2)
    if len(pairs) and (pairs.min() < 0 or pairs.max() >= n_users):
        raise ValueError(f"friendships name users outside 0..{n_users - 1}: pass a larger n_users")
    bounds = np.searchsorted(pairs[:, 0], np.arange(n_users + 1))
    return [pairs[bounds[u] : bounds[u + 1], 1] for u in range(n_users)]


class PurchaseLog:
    """Every user's purchases in time order, to ask what a group of users bought recently.

    Grow it one purchase at a time (:meth:`add`, as the simulator does while it runs) or
    read it from an events table (:meth:`from_events`).
    """

    def __init__(self, n_users: int) -> None:
        self.times: list[list[int]] = [[] for _ in range(n_users)]
        self.items: list[list[int]] = [[] for _ in range(n_users)]

    def add(self, user: int, time: int, item: int) -> None:
        """Record that `user` bought `item` at `time`; a user's purchases come in time order."""
        times = self.times[user]
        if times and time < times[-1]:
            raise ValueError(
                f"user {user}'s purchase at {time} s comes before their last one at {times[-1]} s: "
                "add each user's purchases in time order"
            )
        times.append(int(time))
        self.items[user].append(int(item))

    @classmethod
    def from_events(cls, events: pd.DataFrame, n_users: int) -> PurchaseLog:
        """The ``purchase`` rows of an events table (user, item, timestamp)."""
        buys = events[events[S.EVENT_TYPE] == "purchase"]
        order = np.lexsort((seconds_since_start(buys[S.TIMESTAMP]), buys[S.USER].to_numpy()))
        log = cls(n_users)
        users = buys[S.USER].to_numpy(dtype=np.int64)[order]
        times = seconds_since_start(buys[S.TIMESTAMP])[order]
        items = buys[S.ITEM].to_numpy(dtype=np.int64)[order]
        if len(users) and (users.min() < 0 or users.max() >= n_users):
            raise ValueError(f"purchases by users outside 0..{n_users - 1}: pass a larger n_users")
        bounds = np.searchsorted(users, np.arange(n_users + 1))
        for user in range(n_users):
            log.times[user] = times[bounds[user] : bounds[user + 1]].tolist()
            log.items[user] = items[bounds[user] : bounds[user + 1]].tolist()
        return log

    def friends_bought(
        self, friends: Iterable[int], time: float, window: float | None
    ) -> dict[int, float]:
        """Item -> number of purchases by `friends` in ``[time - window, time)``.

        `window` is in seconds; None counts every purchase before `time`.
        """
        counts: dict[int, float] = {}
        for friend in friends:
            times = self.times[friend]
            end = bisect_left(times, time)
            begin = 0 if window is None else bisect_left(times, time - window, 0, end)
            for item in self.items[friend][begin:end]:
                counts[item] = counts.get(item, 0.0) + 1.0
        return counts

"""The oracle: rank items by the simulator's true next-view probabilities.

Nothing can predict ShopSim's next view better on average than the
distribution it was sampled from, so the oracle's NDCG@10 is the ceiling every
model in the course is reported against ("GRU reaches 45% of the oracle").
It reads the evaluation-only truth; models never may.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ecomrec import schema as S
from ecomrec.datasets.social import PurchaseLog, friend_lists, seconds_since_start
from ecomrec.datasets.truth import ShopSimTruth


def oracle_probabilities(
    events: pd.DataFrame,
    friendships: pd.DataFrame,
    truth: ShopSimTruth,
    targets: pd.DataFrame,
) -> np.ndarray:
    """True probability of every item for each target view, given everything before it.

    events: the full ShopSim events table (views and purchases are used);
    targets: rows of the interactions table (user_id, session_id, timestamp),
    e.g. `split.test`. Returns an array of shape (len(targets), n_items).
    """
    views = events[events[S.EVENT_TYPE] == "view"].sort_values([S.USER, S.TIMESTAMP])
    view_user = views[S.USER].to_numpy()
    view_item = views[S.ITEM].to_numpy()
    view_session = views[S.SESSION].to_numpy()
    view_time = seconds_since_start(views[S.TIMESTAMP])
    bounds = np.searchsorted(view_user, np.arange(truth.n_users + 1))

    purchases = PurchaseLog.from_events(events, truth.n_users)
    friends = friend_lists(friendships, truth.n_users)
    window = int(truth.params.friend_window_days * 86400)
    out = np.empty((len(targets), truth.n_items))
    t_users = targets[S.USER].to_numpy()
    t_sessions = targets[S.SESSION].to_numpy()
    t_times = seconds_since_start(targets[S.TIMESTAMP])
    for row, (u, sid, t) in enumerate(zip(t_users, t_sessions, t_times, strict=True)):
        lo, hi = bounds[u], bounds[u + 1]
        before = lo + np.searchsorted(view_time[lo:hi], t, side="left")
        seen = view_item[lo:before]
        same_session = np.flatnonzero(view_session[lo:before] == sid)
        mission = int(seen[same_session[0]]) if len(same_session) else None
        counts = purchases.friends_bought(friends[u], int(t), window)
        out[row] = truth.next_item_distribution(
            int(u), seen, [int(i) for i in seen[-3:]], mission, counts
        )
    return out

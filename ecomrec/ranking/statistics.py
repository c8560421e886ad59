"""What the shop's log says about items, estimated once and shared by sources and features.

:class:`ShopStatistics` is fitted on a log of views (the statistics log: everything known
before the targets, minus the targets themselves) plus the item table, the friendships and
the purchases. It holds:

- item attributes as integer codes (category, brand, price tier, department);
- popularity: views per item in the log;
- co-occurrence and Markov models (:mod:`ecomrec.baselines`) fitted on the log;
- ``category_lift[a, b]``: how much more often a view of category ``b`` follows a view of
  category ``a`` in the same session than ``b``'s overall share, the diagonal set to 0.
  Lifts well above 1 are the complements (phone -> case) the log reveals; the simulator's
  complement table is never read;
- the purchase log and the friend lists, to ask what a user's friends bought in the
  ``friend_window_days`` before a target (``PurchaseLog.friends_bought`` of
  :mod:`ecomrec.datasets.social`, which only counts purchases strictly before that time).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ecomrec import schema as S
from ecomrec.baselines import ItemCooccurrence, Markov
from ecomrec.datasets.catalogue import CATEGORIES
from ecomrec.datasets.social import PurchaseLog, friend_lists
from ecomrec.models.base import item_feature_codes


class ShopStatistics:
    """Item codes, popularity, co-occurrence, Markov, category lifts and friends' purchases.

    Example:
        >>> from ecomrec.datasets import load_shopsim
        >>> data = load_shopsim()
        >>> stats = ShopStatistics(data.interactions, data.items, data.events, data.friendships)
        >>> stats.category_lift.shape == (stats.n_categories, stats.n_categories)
        True
    """

    def __init__(
        self,
        log: pd.DataFrame,
        items: pd.DataFrame,
        events: pd.DataFrame,
        friendships: pd.DataFrame,
        friend_window_days: float = 30.0,
    ) -> None:
        if friend_window_days <= 0:
            raise ValueError(f"friend_window_days must be positive, got {friend_window_days}")
        codes = item_feature_codes(items, [S.CATEGORY, S.BRAND, S.PRICE_TIER])
        self.n_items = len(items)
        self.item_category = codes[S.CATEGORY]
        self.item_brand = codes[S.BRAND]
        # price tiers in their natural order (budget < mid-range < premium), not alphabetical
        tier_of = {tier: rank for rank, tier in enumerate(S.PRICE_TIERS)}
        ordered = items.sort_values(S.ITEM)
        self.item_tier = ordered[S.PRICE_TIER].map(tier_of).to_numpy(dtype=np.int64)
        # the department of each category comes from the public catalogue (not the truth)
        department_of = {c.name: c.department for c in CATEGORIES}
        departments = ordered[S.CATEGORY].map(department_of)
        if departments.isna().any():
            unknown = sorted(set(ordered.loc[departments.isna(), S.CATEGORY]))
            raise ValueError(f"categories {unknown} are not in the ShopSim catalogue")
        self.item_department = pd.factorize(departments, sort=True)[0].astype(np.int64)
        self.n_departments = int(self.item_department.max()) + 1
        self.n_categories = int(self.item_category.max()) + 1
        self.n_brands = int(self.item_brand.max()) + 1
        self.popularity = np.bincount(
            log[S.ITEM].to_numpy(dtype=np.int64), minlength=self.n_items
        ).astype(np.float64)
        self.cooccurrence = ItemCooccurrence().fit(log, self.n_items)
        self.markov = Markov().fit(log, self.n_items)
        self.category_lift = self._category_lift(log)
        n_users = int(max(log[S.USER].max(), events[S.USER].max())) + 1
        if len(friendships):
            n_users = max(n_users, int(friendships[[S.USER_A, S.USER_B]].to_numpy().max()) + 1)
        self.purchases = PurchaseLog.from_events(events, n_users)
        self.friends = friend_lists(friendships, n_users)
        self.friend_window = int(friend_window_days * 86400)

    def _category_lift(self, log: pd.DataFrame) -> np.ndarray:
        ordered = log.sort_values([S.USER, S.TIMESTAMP], kind="stable")
        cats = self.item_category[ordered[S.ITEM].to_numpy(dtype=np.int64)]
        sessions = ordered[S.SESSION].to_numpy()
        same = sessions[1:] == sessions[:-1]
        n = self.n_categories
        counts = np.bincount(cats[:-1][same] * n + cats[1:][same], minlength=n * n)
        counts = counts.reshape(n, n).astype(np.float64)
        np.fill_diagonal(counts, 0.0)  # staying in the category is the mission, not a complement
        share = np.bincount(cats, minlength=n) / max(len(cats), 1)
        row = counts.sum(axis=1, keepdims=True)
        conditional = (counts + 1.0 * share) / (row + 1.0)  # smoothed towards the overall share
        lift = conditional / np.maximum(share, 1e-12)[None, :]
        np.fill_diagonal(lift, 0.0)
        return lift

    def friend_purchases(self, users: np.ndarray, times: np.ndarray) -> list[dict[int, float]]:
        """For each (user, time): item -> friends' purchases in the window before that time."""
        return [
            self.purchases.friends_bought(self.friends[u], int(t), self.friend_window)
            for u, t in zip(users, times, strict=True)
        ]

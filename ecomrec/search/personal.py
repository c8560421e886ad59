"""Searcher profiles from the event log, as features for personalised re-ranking.

For a user u and an item i (brand b, department d, price tier t), with views counted before a
cut-off time only:

* brand affinity = views of b by u / (views of d's items by u + 1): a share of the department;
* tier affinity  = (views of tier t by u + 1) / (views by u + 3): smoothed towards a third;
* popularity     = log(1 + views of i by everyone).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecomrec import schema as S
from ecomrec.datasets.catalogue import CATEGORIES


@dataclass
class SearchProfiles:
    brand_share: np.ndarray  # (n_users, n_items): the user's brand affinity of each item
    tier_share: np.ndarray  # (n_users, n_items): the user's tier affinity of each item
    log_popularity: np.ndarray  # (n_items,)

    @classmethod
    def from_events(
        cls, events: pd.DataFrame, items: pd.DataFrame, n_users: int, before: pd.Timestamp
    ) -> SearchProfiles:
        views = events[(events[S.EVENT_TYPE] == "view") & (events[S.TIMESTAMP] < before)]
        dept_of = {c.name: c.department for c in CATEGORIES}
        item_brand = pd.factorize(items[S.BRAND])[0]
        item_dept = pd.factorize(items[S.CATEGORY].map(dept_of))[0]
        item_tier = items[S.PRICE_TIER].astype(str).map(S.PRICE_TIERS.index).to_numpy()
        u, i = views[S.USER].to_numpy(), views[S.ITEM].to_numpy()
        n_items = len(items)

        def counts(codes: np.ndarray) -> np.ndarray:
            table = np.zeros((n_users, codes.max() + 1))
            np.add.at(table, (u, codes[i]), 1.0)
            return table

        brand, dept, tier = counts(item_brand), counts(item_dept), counts(item_tier)
        total = np.bincount(u, minlength=n_users)[:, None].astype(float)
        brand_share = brand[:, item_brand] / (dept[:, item_dept] + 1.0)
        tier_share = (tier[:, item_tier] + 1.0) / (total + 3.0)
        popularity = np.log1p(np.bincount(i, minlength=n_items).astype(float))
        return cls(brand_share, tier_share, popularity)

    def features(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Brand affinity, tier affinity (n_queries, n_items) and popularity (broadcast)."""
        users = np.asarray(users, dtype=np.int64)
        return self.brand_share[users], self.tier_share[users], self.log_popularity[None, :]

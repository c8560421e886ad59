"""ShopSim's truth for many users at once: the next-view distribution as matrix operations.

:meth:`ecomrec.datasets.truth.ShopSimTruth.next_item_distribution` computes one user's
distribution with a few vector operations; the environment needs it for hundreds of users
per step. :class:`BatchTruth` precomputes every per-user and per-item factor once (about
150 MB for the shipped 3,000 users and 1,500 items) and evaluates the same mixture for a
batch of states in one pass. It is the same formula, not an approximation:
``tests/test_environment_sim.py`` checks the two agree to 1e-12 on random states.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ecomrec.datasets.simulator import funnel_probabilities
from ecomrec.datasets.truth import ShopSimTruth
from ecomrec.schema import PRICE_TIERS


class BatchTruth:
    """Vectorised next-view distributions and funnel probabilities of one ShopSim world.

    Args:
        truth: the latent truth (:func:`ecomrec.datasets.load_truth`).
        relative_price: each item's :func:`ecomrec.datasets.simulator.relative_price`.
    """

    def __init__(self, truth: ShopSimTruth, relative_price: np.ndarray) -> None:
        self.truth = truth
        n_users, n_items = truth.n_users, truth.n_items
        self.n_users, self.n_items = n_users, n_items
        p = truth.params
        self.weights = (
            p.mixture.taste,
            p.mixture.mission,
            p.mixture.complements,
            p.mixture.friends,
        )
        self.recency = tuple(p.complement_recency)
        users = np.arange(n_users)
        tier_pref = np.stack([truth.tier_preference(u) for u in users])  # (n_users, 3)
        fav = truth.favourite_brand[:, truth.item_department]  # (n_users, n_items)
        boost = 1.0 + p.brand_loyalty_boost * truth.brand_loyalty
        self.brand_weight = np.where(truth.item_brand[None, :] == fav, boost[:, None], 1.0)
        self.taste = (
            truth.tastes[:, truth.item_category]
            * tier_pref[:, truth.item_tier]
            * self.brand_weight
            * truth.popularity[None, :]
        )
        same_cat = truth.item_category[:, None] == truth.item_category[None, :]
        tier_w = np.where(
            truth.item_tier[:, None] == truth.item_tier[None, :], 1.0, p.mission_off_tier
        )
        # mission_base[m] = mission scores of a session whose first item is m, before the
        # brand factor; the extra last row (all zeros) stands for "no mission"
        zero = np.zeros((1, n_items))
        self.mission_base = np.vstack([same_cat * tier_w * truth.popularity[None, :], zero])
        # complements work on categories and brands: the score of item i after a recent view
        # j is popularity_i * C[cat_j, cat_i] * (1 + loyalty * [brand_i == brand_j])
        self.n_brands = int(truth.item_brand.max()) + 1
        self.item_group = truth.item_category * self.n_brands + truth.item_brand
        self.loyalty = p.brand_loyalty_boost * truth.brand_loyalty
        n_cat = truth.tastes.shape[1]
        self.fit = (
            np.log(truth.tastes[:, truth.item_category] * n_cat)
            + 0.5 * np.log(tier_pref[:, truth.item_tier] * len(PRICE_TIERS))
            + 0.3 * np.log(self.brand_weight)
        )
        # row gathers (one row per user or item of a batch) need C order; pandas hands over
        # the tastes column-major, and products inherit that order
        for name in ("brand_weight", "taste", "mission_base", "fit"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name)))
        self.relative_price = np.asarray(relative_price, dtype=np.float64)
        if self.relative_price.shape != (n_items,):
            raise ValueError(
                f"relative_price has shape {self.relative_price.shape}, expected ({n_items},)"
            )

    def next_item_distribution(
        self,
        users: np.ndarray,
        seen: np.ndarray,
        recent: np.ndarray,
        mission: np.ndarray,
        friend_counts: Sequence[dict[int, float]] | None = None,
    ) -> np.ndarray:
        """(len(users), n_items) next-view probabilities, one row per state.

        users: (B,) user ids; seen: (B, n_items) booleans, True for items viewed before;
        recent: (B, 3) the last three views, most recent first, -1 where there are fewer;
        mission: (B,) the session's first item, -1 at a session start; friend_counts: B
        dicts item -> friends' purchases in the window (or None for none).
        """
        users = np.asarray(users, dtype=np.int64)
        b = len(users)
        allowed = (~np.asarray(seen, dtype=bool)).astype(np.float64)
        total = np.zeros((b, self.n_items))
        weight_sum = np.zeros(b)
        none = self.n_items  # the all-zero row of mission_base

        def add(weight: float, scores: np.ndarray) -> None:
            # each intent is normalised over the unseen items; one with no mass drops out
            mass = np.einsum("ij,ij->i", scores, allowed)
            coef = np.divide(weight, mass, out=np.zeros(b), where=mass > 0)
            scores *= coef[:, None]
            total[:] += scores
            weight_sum[:] += np.where(mass > 0, weight, 0.0)

        w_taste, w_mission, w_comp, w_friends = self.weights
        add(w_taste, self.taste[users])

        mission = np.asarray(mission, dtype=np.int64)
        if (mission >= 0).any():
            m = np.where(mission >= 0, mission, none)
            scores = self.mission_base[m]
            scores *= self.brand_weight[users]
            add(w_mission, scores)

        recent = np.asarray(recent, dtype=np.int64)
        if (recent[:, 0] >= 0).any():
            n_cat = self.truth.complement_matrix.shape[0]
            plain = np.zeros((b, n_cat))  # weight of each complement category
            branded = np.zeros((b, n_cat, self.n_brands))  # ... on the recent item's brand
            rows = np.arange(b)
            for slot, weight in enumerate(self.recency[: recent.shape[1]]):
                j = recent[:, slot]
                w = np.where(j >= 0, weight, 0.0)[:, None]
                jj = np.maximum(j, 0)
                part = w * self.truth.complement_matrix[self.truth.item_category[jj]]
                plain += part
                branded[rows, :, self.truth.item_brand[jj]] += part
            scores = plain[:, self.truth.item_category]
            scores += self.loyalty[users][:, None] * branded.reshape(b, -1)[:, self.item_group]
            scores *= self.truth.popularity[None, :]
            add(w_comp, scores)

        if friend_counts is not None and any(friend_counts):
            friends = np.zeros((b, self.n_items))
            for row, counts in enumerate(friend_counts):
                if counts:
                    items = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
                    friends[row, items] = np.fromiter(
                        counts.values(), dtype=np.float64, count=len(counts)
                    )
            add(w_friends, friends)

        total *= allowed
        if (weight_sum == 0).any():
            row = int(np.flatnonzero(weight_sum == 0)[0])
            raise ValueError(f"user {users[row]} has no item left to view")
        return total / weight_sum[:, None]

    def funnel(self, users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, ...]:
        """(p_click, p_cart, p_buy) of viewing `items` (any shape, rows matching `users`)."""
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        u = users.reshape(users.shape + (1,) * (items.ndim - users.ndim))
        fit = self.fit[u, items]
        pain = self.truth.price_sensitivity[u] * self.relative_price[items]
        return funnel_probabilities(fit, self.truth.click_bias[u], pain)

    def purchase_probability(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Chance that a view of each item ends in a purchase (click, cart and buy)."""
        p_click, p_cart, p_buy = self.funnel(users, items)
        return p_click * p_cart * p_buy

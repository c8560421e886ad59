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
from itertools import chain

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
        self._brand_items = np.argsort(truth.item_brand, kind="stable")  # items by brand
        self._brand_start = np.searchsorted(
            truth.item_brand[self._brand_items], np.arange(self.n_brands + 1)
        )
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
        return self._distribution(users, seen, recent, mission, friend_counts)

    def mission_scores(self, users: np.ndarray, mission: np.ndarray) -> np.ndarray:
        """(B, n_items) the mission intent's scores before normalising (missions >= 0)."""
        scores = self.mission_base[mission]
        scores *= self.brand_weight[users]
        return scores

    def _distribution(
        self,
        users: np.ndarray,
        seen: np.ndarray,
        recent: np.ndarray,
        mission: np.ndarray,
        friend_counts: Sequence[dict[int, float]] | None = None,
        mission_scores: np.ndarray | None = None,
    ) -> np.ndarray:
        """:meth:`next_item_distribution`, optionally given the rows' :meth:`mission_scores`
        (computed once per session: they depend only on the user and the mission) as a
        fresh array, which it overwrites."""
        users = np.asarray(users, dtype=np.int64)
        b = len(users)
        allowed = (~np.asarray(seen, dtype=bool)).astype(np.float64)
        weight_sum = np.zeros(b)
        none = self.n_items  # the all-zero row of mission_base

        # Each intent is normalised over the unseen items; one with no mass drops out. The
        # arithmetic is the plain formula's, operation for operation (so results are the
        # same to the bit); only terms that are exactly zero are skipped.
        def coefficients(weight: float, mass: np.ndarray) -> np.ndarray:
            positive = mass > 0
            weight_sum[:] += np.where(positive, weight, 0.0)
            return np.divide(weight, mass, out=np.zeros(b), where=positive)

        def add(weight: float, scores: np.ndarray) -> None:
            scores *= coefficients(weight, np.einsum("ij,ij->i", scores, allowed))[:, None]
            total[:] += scores

        w_taste, w_mission, w_comp, w_friends = self.weights
        total = self.taste[users]  # the first intent: 0 + scores is scores
        total *= coefficients(w_taste, np.einsum("ij,ij->i", total, allowed))[:, None]

        mission = np.asarray(mission, dtype=np.int64)
        if mission_scores is not None:
            add(w_mission, mission_scores)  # a fresh copy from the caller, overwritten here
        elif (mission >= 0).any():
            add(w_mission, self.mission_scores(users, np.where(mission >= 0, mission, none)))

        recent = np.asarray(recent, dtype=np.int64)
        if (recent[:, 0] >= 0).any():
            add(w_comp, self._complement_scores(users, recent))

        if friend_counts is not None and any(friend_counts):
            # friends' purchase counts are whole numbers, so their sums are exact in any order
            given = [c if c else {} for c in friend_counts]
            rows = np.repeat(np.arange(b), [len(c) for c in given])
            items = np.fromiter(chain.from_iterable(given), dtype=np.int64, count=len(rows))
            counts = np.fromiter(
                chain.from_iterable(c.values() for c in given), dtype=np.float64, count=len(rows)
            )
            mass = np.bincount(rows, weights=counts * allowed[rows, items], minlength=b)
            coef = coefficients(w_friends, mass)
            total[rows, items] += counts * coef[rows]

        total *= allowed
        if (weight_sum == 0).any():
            row = int(np.flatnonzero(weight_sum == 0)[0])
            raise ValueError(f"user {users[row]} has no item left to view")
        total /= weight_sum[:, None]
        return total

    def _complement_scores(self, users: np.ndarray, recent: np.ndarray) -> np.ndarray:
        """(b, n_items) complement scores after the recent views (before normalising).

        The score of item i is ``popularity_i * (plain[cat_i] + loyalty * branded_i)``:
        ``plain`` sums each recent view's weighted complement row, ``branded_i`` the rows
        of the recent views of item i's brand, in recency order as the plain formula adds
        them. ``branded_i`` is zero except on the recent brands' items, so it is added there.
        """
        b = len(users)
        truth = self.truth
        k = min(len(self.recency), recent.shape[1])
        j = recent[:, :k]
        jj = np.maximum(j, 0)
        weights = np.where(j >= 0, np.asarray(self.recency[:k], dtype=np.float64), 0.0)
        parts = weights[:, :, None] * truth.complement_matrix[truth.item_category[jj]]
        plain = np.zeros((b, truth.complement_matrix.shape[0]))
        for slot in range(k):
            plain += parts[:, slot]
        # column-major, as the plain formula's gather makes it (einsum's sums follow the
        # layout): built as its transpose, (n_items, b) row-major, where gathers are fast
        transposed = np.ascontiguousarray(plain.T)[truth.item_category]
        brands = truth.item_brand[jj]  # (b, k); a view with no item weighs 0 and adds 0
        first = np.ones(brands.shape, dtype=bool)  # each row's brands once (first mention)
        for slot in range(1, k):
            first[:, slot] = (brands[:, slot, None] != brands[:, :slot]).all(axis=1)
        pair_row = np.nonzero(first)[0]
        pair_brand = brands[first]
        sizes = self._brand_start[pair_brand + 1] - self._brand_start[pair_brand]
        flat_row = np.repeat(pair_row, sizes)
        flat_brand = np.repeat(pair_brand, sizes)
        offsets = np.arange(len(flat_row)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        flat_item = self._brand_items[np.repeat(self._brand_start[pair_brand], sizes) + offsets]
        flat_cat = truth.item_category[flat_item]
        brand_term = np.zeros(len(flat_row))
        row_brands = brands[flat_row]
        n_cat = parts.shape[2]
        at = flat_row * (k * n_cat) + flat_cat  # parts[flat_row, 0, flat_cat], flattened
        for slot in range(k):
            same = row_brands[:, slot] == flat_brand
            brand_term += np.where(same, parts.reshape(-1)[at + slot * n_cat], 0.0)
        brand_term *= self.loyalty[users][flat_row]
        transposed.reshape(-1)[flat_item * b + flat_row] += brand_term
        transposed *= truth.popularity[:, None]
        return transposed.T

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

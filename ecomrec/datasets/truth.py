"""The latent truth behind ShopSim and the one function that turns it into a choice.

`ShopSimTruth.next_item_distribution` is the probability that a user views
each item next. The simulator samples every interaction from it, and the
oracle ranks items by it, so the ceiling the course reports is exactly the
process that made the data. The truth is evaluation-only: a model that reads
it is cheating, which is why it ships in its own folder.

The next view mixes four intents (weights in `MixtureWeights`):

* taste: long-term interest in categories, price tiers and favourite brands,
  weighted by item popularity;
* mission: from the second view of a session on, the category and price tier
  of the session's first item (several recent views reveal it together; the
  last one alone may be a complement from another category);
* complements: categories that go with the user's last three views, with the
  brand of the key item favoured by brand-loyal users (which case goes with
  which phone depends on the user);
* friends: what the user's friends purchased in the last `friend_window_days`.

Items the user has already viewed are never viewed again, and intents with no
mass left (no friend purchases, no complements) drop out of the mixture.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ecomrec.datasets.catalogue import CATEGORIES, COMPLEMENTS, DEPARTMENTS
from ecomrec.schema import PRICE_TIERS


@dataclass(frozen=True)
class MixtureWeights:
    taste: float = 0.25
    mission: float = 0.40
    complements: float = 0.20
    friends: float = 0.15


@dataclass(frozen=True)
class TruthParams:
    mixture: MixtureWeights = field(default_factory=MixtureWeights)
    mission_off_tier: float = 0.2  # weight of mission-category items outside the mission tier
    complement_recency: tuple[float, ...] = (1.0, 0.5, 0.25)  # last, second-last, third-last view
    brand_loyalty_boost: float = 12.0  # favourite or matching brand weight = 1 + boost * loyalty
    tier_sharpness: float = 2.5  # how strongly price sensitivity pushes towards cheaper tiers
    friend_window_days: float = 30.0


@dataclass
class ShopSimTruth:
    """Latent parameters of one ShopSim world (all arrays indexed by user_id / item_id)."""

    tastes: np.ndarray  # (n_users, n_categories), rows sum to 1
    segment: np.ndarray  # (n_users,) int index into catalogue.SEGMENTS
    price_sensitivity: np.ndarray  # (n_users,) in [0, 1]
    brand_loyalty: np.ndarray  # (n_users,) in [0, 1]
    favourite_brand: np.ndarray  # (n_users, n_departments) brand index per department
    click_bias: np.ndarray  # (n_users,) logit shift of the click funnel
    popularity: np.ndarray  # (n_items,) positive
    item_category: np.ndarray  # (n_items,) int index into catalogue.CATEGORIES
    item_brand: np.ndarray  # (n_items,) int index into brand_names()
    item_tier: np.ndarray  # (n_items,) int index into schema.PRICE_TIERS
    params: TruthParams = field(default_factory=TruthParams)

    def __post_init__(self) -> None:
        n_cat = len(CATEGORIES)
        self.n_users, self.n_items = len(self.segment), len(self.popularity)
        cat_index = {c.name: i for i, c in enumerate(CATEGORIES)}
        # complement_matrix[a, b] = 1 when category b complements category a
        self.complement_matrix = np.zeros((n_cat, n_cat))
        for key, targets in COMPLEMENTS.items():
            for t in targets:
                self.complement_matrix[cat_index[key], cat_index[t]] = 1.0
        dept_names = list(DEPARTMENTS)
        self.category_department = np.array(
            [dept_names.index(c.department) for c in CATEGORIES], dtype=np.int64
        )
        self.item_department = self.category_department[self.item_category]
        self._taste_cache: dict[int, np.ndarray] = {}

    # ----------------------------------------------------------------- pieces
    def tier_preference(self, user: int) -> np.ndarray:
        """Weight of each price tier for a user: sensitive users lean to cheaper tiers."""
        s = self.price_sensitivity[user]
        logits = -self.params.tier_sharpness * (s - 0.5) * np.arange(len(PRICE_TIERS))
        w = np.exp(logits)
        return w / w.sum()

    def brand_weight(self, user: int) -> np.ndarray:
        """Per-item factor: 1 + boost * loyalty on the user's favourite brand of its department."""
        fav = self.favourite_brand[user][self.item_department]
        boost = 1.0 + self.params.brand_loyalty_boost * self.brand_loyalty[user]
        return np.where(self.item_brand == fav, boost, 1.0)

    def taste_scores(self, user: int) -> np.ndarray:
        """Unnormalised long-term interest of a user in every item (cached per user)."""
        cached = self._taste_cache.get(user)
        if cached is None:
            cached = (
                self.tastes[user][self.item_category]
                * self.tier_preference(user)[self.item_tier]
                * self.brand_weight(user)
                * self.popularity
            )
            self._taste_cache[user] = cached
        return cached

    def affinity(self, user: int, item: int) -> float:
        """How well an item fits a user's long-term taste, 0 = an average fit (log scale)."""
        n_cat = self.tastes.shape[1]
        taste = self.tastes[user, self.item_category[item]] * n_cat
        tier = self.tier_preference(user)[self.item_tier[item]] * len(PRICE_TIERS)
        brand = self.brand_weight(user)[item]
        return float(np.log(taste) + 0.5 * np.log(tier) + 0.3 * np.log(brand))

    # ----------------------------------------------------------- the mixture
    def next_item_distribution(
        self,
        user: int,
        seen: np.ndarray,
        recent: list[int],
        mission_item: int | None,
        friend_counts: dict[int, float] | None = None,
    ) -> np.ndarray:
        """Probability that `user` views each item next.

        seen: items the user viewed before (excluded); recent: the user's last
        views, most recent last (the last three feed the complement intent);
        mission_item: the first item of the current session, or None at a
        session start; friend_counts: item -> number of friends' purchases in
        the window before now.
        """
        p = self.params
        allowed = np.ones(self.n_items, dtype=bool)
        allowed[np.asarray(seen, dtype=np.int64)] = False
        components: list[tuple[float, np.ndarray]] = []

        components.append((p.mixture.taste, self.taste_scores(user)))

        if mission_item is not None:
            cat, tier = self.item_category[mission_item], self.item_tier[mission_item]
            in_cat = self.item_category == cat
            tier_w = np.where(self.item_tier == tier, 1.0, p.mission_off_tier)
            mission = in_cat * tier_w * self.brand_weight(user) * self.popularity
            components.append((p.mixture.mission, mission))

        if recent:
            comp = np.zeros(self.n_items)
            loyalty = self.params.brand_loyalty_boost * self.brand_loyalty[user]
            for weight, j in zip(p.complement_recency, reversed(recent[-3:]), strict=False):
                cats = self.complement_matrix[self.item_category[j]]
                if not cats.any():
                    continue
                same_brand = np.where(self.item_brand == self.item_brand[j], 1.0 + loyalty, 1.0)
                comp += weight * cats[self.item_category] * same_brand * self.popularity
            components.append((p.mixture.complements, comp))

        if friend_counts:
            friends = np.zeros(self.n_items)
            items = np.fromiter(friend_counts.keys(), dtype=np.int64)
            friends[items] = np.fromiter(friend_counts.values(), dtype=np.float64)
            components.append((p.mixture.friends, friends))

        total = np.zeros(self.n_items)
        weight_sum = 0.0
        for weight, scores in components:
            masked = np.where(allowed, scores, 0.0)
            mass = masked.sum()
            if mass > 0:
                total += weight * masked / mass
                weight_sum += weight
        if weight_sum == 0:  # every item seen: cannot happen with the shipped sizes
            raise ValueError(f"user {user} has no item left to view")
        return total / weight_sum

"""ShopSim: a seeded e-commerce world with known ground truth.

`simulate(SimConfig(seed=...))` returns the observable tables (users, items,
events, queries, friendships) and the latent truth that produced them. Every
random draw comes from one `numpy.random.Generator` seeded with `seed`, in a
fixed order, so the same seed gives the same tables; the search queries alone
draw from a stream of their own (`ecomrec.datasets.search`).

How it works, in the order the code runs:

1. Catalogue: items per category with a department brand, colour, material,
   price (log-normal around the category's base price), price tier (the
   category's terciles) and a log-normal popularity (the long tail).
2. Users: a taste segment each; category tastes drawn around the segment's
   departments; price sensitivity; a favourite brand per department with a
   loyalty strength; demographics loosely tied to the segment.
3. Friendships: homophily (most new friends come from the same segment) and
   triadic closure (some are friends of friends).
4. Sessions: each user gets sessions spread over the simulated period; every
   step of every session is processed in global time order, so "friends'
   purchases before now" is exact. Each step draws the viewed item from
   `ShopSimTruth.next_item_distribution`, then runs the funnel view -> click
   -> cart -> purchase with probabilities that depend on the user-item fit
   and on price.
5. Text: titles, and descriptions from a grammar with synonyms and optional
   clauses that state the item's attributes.
6. Search (`ecomrec.datasets.search`): some sessions start with a query of one
   of three kinds written from the intent behind their first item; the clicked
   result follows the user's taste.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ecomrec import schema as S
from ecomrec.datasets.catalogue import (
    CATEGORIES,
    COLORS,
    DEPARTMENTS,
    SEGMENT_DEPARTMENTS,
    SEGMENTS,
    describe_item,
)
from ecomrec.datasets.search import make_queries
from ecomrec.datasets.social import PurchaseLog, friend_lists
from ecomrec.datasets.truth import ShopSimTruth, TruthParams
from ecomrec.schema import SIMULATION_START as START


@dataclass(frozen=True)
class SimConfig:
    seed: int = 2026
    n_users: int = 3000
    n_items: int = 1500
    days: int = 90
    mean_sessions: float = 11.0  # per user, heavy-tailed around this mean
    session_continue: float = 0.6  # chance a session goes on after each view: mean 2.5 views
    max_session_views: int = 12
    mean_new_friends: float = 3.5  # edges each user starts; mean degree is about twice this
    friend_same_segment: float = 0.8
    friend_of_friend: float = 0.35
    query_share: float = 0.3  # share of sessions that start with a search


def brand_names() -> list[str]:
    return [b for brands in DEPARTMENTS.values() for b in brands]


# --------------------------------------------------------------------------- catalogue
def _make_items(cfg: SimConfig, rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    n_cat = len(CATEGORIES)
    brands = brand_names()
    dept_names = list(DEPARTMENTS)
    # every category gets the same share of items, the remainder spread from the first
    per_cat = np.full(n_cat, cfg.n_items // n_cat)
    per_cat[: cfg.n_items % n_cat] += 1
    item_category = np.repeat(np.arange(n_cat), per_cat)

    rows = []
    for item, c in enumerate(item_category):
        cat = CATEGORIES[c]
        dept_brands = DEPARTMENTS[cat.department]
        brand = dept_brands[rng.integers(len(dept_brands))]
        rows.append(
            {
                S.ITEM: item,
                S.CATEGORY: cat.name,
                S.SUBCATEGORY: cat.subcategories[rng.integers(len(cat.subcategories))],
                S.BRAND: brand,
                S.COLOR: COLORS[rng.integers(len(COLORS))],
                S.MATERIAL: cat.materials[rng.integers(len(cat.materials))],
                S.PRICE: round(float(cat.base_price * rng.lognormal(0.0, 0.45)), 2),
            }
        )
    items = pd.DataFrame(rows)
    # price tiers are the terciles within each category
    tiers = np.empty(len(items), dtype=np.int64)
    for _, idx in items.groupby(S.CATEGORY).groups.items():
        prices = items.loc[idx, S.PRICE].to_numpy()
        order = np.argsort(np.argsort(prices, kind="stable"), kind="stable")
        tiers[np.asarray(idx)] = (order * 3) // len(prices)
    items[S.PRICE_TIER] = [S.PRICE_TIERS[t] for t in tiers]
    # latent values are rounded to 6 decimals so the truth files hold them exactly
    popularity = np.round(rng.lognormal(0.0, 1.3, size=cfg.n_items), 6)
    latent = {
        "item_category": item_category,
        "item_brand": np.array([brands.index(b) for b in items[S.BRAND]]),
        "item_tier": tiers,
        "item_department": np.array(
            [dept_names.index(CATEGORIES[c].department) for c in item_category]
        ),
        "popularity": popularity,
    }
    return items, latent


# --------------------------------------------------------------------------- users
def _make_users(
    cfg: SimConfig, rng: np.random.Generator
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    n_cat, dept_names = len(CATEGORIES), list(DEPARTMENTS)
    segment = rng.integers(len(SEGMENTS), size=cfg.n_users)
    tastes = np.empty((cfg.n_users, n_cat))
    for u in range(cfg.n_users):
        lean = SEGMENT_DEPARTMENTS[SEGMENTS[segment[u]]]
        base = np.array([lean.get(c.department, 0.15) for c in CATEGORIES])
        tastes[u] = rng.dirichlet(base * 1.2)
    tastes = np.round(0.98 * tastes + 0.02 / n_cat, 6)  # anyone can be tempted by anything
    favourite = np.stack(
        [rng.integers(len(DEPARTMENTS[d]), size=cfg.n_users) for d in dept_names], axis=1
    )
    # brand indices are global: offset each department's local index
    offsets = np.cumsum([0] + [len(DEPARTMENTS[d]) for d in dept_names[:-1]])
    favourite = favourite + offsets[None, :]
    latent = {
        "tastes": tastes,
        "segment": segment,
        "price_sensitivity": np.round(rng.beta(2.0, 2.0, size=cfg.n_users), 6),
        "brand_loyalty": np.round(rng.beta(2.0, 2.0, size=cfg.n_users), 6),
        "favourite_brand": favourite,
        "click_bias": np.round(rng.normal(0.0, 0.5, size=cfg.n_users), 6),
    }
    age_centre = np.array([30, 32, 42, 35, 33, 34])[segment]
    age = np.clip(np.round(rng.normal(age_centre, 9.0)), 18, 75).astype(int)
    gender = rng.choice(
        np.array(["female", "male", "other"]), p=[0.5, 0.47, 0.03], size=cfg.n_users
    )
    signup_days = rng.integers(30, 3 * 365, size=cfg.n_users)
    users = pd.DataFrame(
        {
            S.USER: np.arange(cfg.n_users),
            S.AGE: age,
            S.GENDER: gender,
            S.CITY_TIER: rng.choice(np.array([1, 2, 3]), p=[0.35, 0.4, 0.25], size=cfg.n_users),
            S.SIGNUP_DATE: (START - pd.to_timedelta(signup_days, unit="D")).strftime("%Y-%m-%d"),
        }
    )
    return users, latent


def _make_friendships(
    cfg: SimConfig, segment: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    n = cfg.n_users
    by_segment = [np.flatnonzero(segment == s) for s in range(len(SEGMENTS))]
    neighbours: list[set[int]] = [set() for _ in range(n)]
    for u in rng.permutation(n):
        for _ in range(rng.poisson(cfg.mean_new_friends)):
            v = -1
            if neighbours[u] and rng.random() < cfg.friend_of_friend:
                friend = sorted(neighbours[u])[rng.integers(len(neighbours[u]))]
                candidates = sorted(neighbours[friend] - neighbours[u] - {u})
                if candidates:
                    v = candidates[rng.integers(len(candidates))]
            if v < 0:
                pool = by_segment[segment[u]] if rng.random() < cfg.friend_same_segment else None
                v = int(pool[rng.integers(len(pool))]) if pool is not None else int(rng.integers(n))
            if v != u:
                neighbours[u].add(v)
                neighbours[v].add(u)
    edges = sorted({(min(u, v), max(u, v)) for u in range(n) for v in neighbours[u]})
    created = START - pd.to_timedelta(rng.integers(1, 720, size=len(edges)), unit="D")
    return pd.DataFrame(
        {
            S.USER_A: [a for a, _ in edges],
            S.USER_B: [b for _, b in edges],
            S.CREATED_AT: created.strftime("%Y-%m-%d"),
        }
    )


# --------------------------------------------------------------------------- behaviour
def _session_schedule(cfg: SimConfig, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """(start second, user, number of views) for every session, sorted by start."""
    sessions = []
    horizon = cfg.days * 86400.0
    activity = rng.lognormal(0.0, 0.6, size=cfg.n_users)
    activity *= cfg.mean_sessions / activity.mean()
    for u in range(cfg.n_users):
        n_sessions = max(3, rng.poisson(activity[u]))  # at least train, valid, test
        starts = np.sort(rng.integers(0, int(horizon) - 7200, size=n_sessions))
        for k in range(1, n_sessions):  # sessions of one user never overlap
            starts[k] = max(starts[k], starts[k - 1] + 7200)
        for s in starts:
            length = 1
            while length < cfg.max_session_views and rng.random() < cfg.session_continue:
                length += 1
            sessions.append((int(s), u, length))
    sessions.sort()
    return sessions


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def funnel_probabilities(fit, click_bias, price_pain):
    """The chances that a view is clicked, a click carted and a cart bought (the funnel).

    fit: :meth:`ShopSimTruth.affinity` of the user and item; click_bias: the user's
    ``truth.click_bias``; price_pain: the user's price sensitivity times the item's
    :func:`relative_price`. Works on scalars (the simulator) and arrays (the environment).
    """
    p_click = _sigmoid(-2.0 + 0.9 * fit + click_bias)
    p_cart = _sigmoid(-0.5 + 0.5 * fit)
    p_buy = _sigmoid(-0.5 + 0.4 * fit - 1.5 * price_pain)
    return p_click, p_cart, p_buy


def relative_price(items: pd.DataFrame) -> np.ndarray:
    """Log of each item's price over its category's median price (the purchase step's input)."""
    cat_median = items.groupby(S.CATEGORY)[S.PRICE].transform("median").to_numpy()
    return np.log(items[S.PRICE].to_numpy() / cat_median)


def _simulate_events(
    cfg: SimConfig,
    truth: ShopSimTruth,
    friends: list[np.ndarray],
    prices_z: np.ndarray,
    rng: np.random.Generator,
    progress: bool = False,
) -> pd.DataFrame:
    sessions = _session_schedule(cfg, rng)
    # every view step in global time order (whole seconds; ties broken by user, then session).
    # Views of one user are at least 90 s apart, more than a whole funnel takes (at most
    # 80 s), so each user's events stay in order.
    steps = []
    for sid, (start, user, length) in enumerate(sessions):
        t = start
        for k in range(length):
            steps.append((t, user, sid, k))
            t += int(rng.integers(90, 400))
    steps.sort()

    window = int(truth.params.friend_window_days * 86400)
    seen: list[list[int]] = [[] for _ in range(cfg.n_users)]
    session_first: dict[int, int] = {}
    purchases = PurchaseLog(cfg.n_users)
    rows = []
    for t, user, sid, k in tqdm(steps, desc="ShopSim views", disable=not progress, unit="view"):
        # a friend's purchase counts once it has happened: one bought after a view that
        # came earlier than this one is still in the future here
        friend_counts = purchases.friends_bought(friends[user], t, window)
        probs = truth.next_item_distribution(
            user,
            np.array(seen[user], dtype=np.int64),
            seen[user][-3:],
            session_first.get(sid) if k > 0 else None,
            friend_counts,
        )
        item = int(np.searchsorted(np.cumsum(probs), rng.random() * probs.sum(), side="right"))
        item = min(item, cfg.n_items - 1)
        if k == 0:
            session_first[sid] = item
        seen[user].append(item)
        rows.append((user, item, sid, t, "view", probs[item]))
        fit = truth.affinity(user, item)
        price_pain = truth.price_sensitivity[user] * prices_z[item]
        p_click, p_cart, p_buy = funnel_probabilities(fit, truth.click_bias[user], price_pain)
        if rng.random() < p_click:
            t_click = t + int(rng.integers(2, 21))
            rows.append((user, item, sid, t_click, "click", np.nan))
            if rng.random() < p_cart:
                t_cart = t_click + int(rng.integers(5, 31))
                rows.append((user, item, sid, t_cart, "cart", np.nan))
                if rng.random() < p_buy:
                    t_buy = t_cart + int(rng.integers(5, 31))
                    rows.append((user, item, sid, t_buy, "purchase", np.nan))
                    purchases.add(user, t_buy, item)
    events = pd.DataFrame(rows, columns=[S.USER, S.ITEM, S.SESSION, "t", S.EVENT_TYPE, "p_true"])
    events = events.sort_values([S.USER, "t"], kind="stable").reset_index(drop=True)
    secs = events["t"].to_numpy().astype(np.int64)
    events[S.TIMESTAMP] = (START + pd.to_timedelta(secs, unit="s")).strftime("%Y-%m-%dT%H:%M:%S")
    # p_true (the probability the view had when it was drawn) is for tests of the oracle only
    return events[[S.USER, S.ITEM, S.SESSION, S.TIMESTAMP, S.EVENT_TYPE, "p_true"]]


@dataclass
class SimResult:
    tables: dict[str, pd.DataFrame]  # users, items, events, queries, friendships
    truth: ShopSimTruth
    # for each row of tables["events"]: the probability its view had when it was drawn
    # (NaN for click, cart, purchase); never written to disk, used to test the oracle
    view_probability: np.ndarray
    # the attributes each query intends (evaluation-only, written to truth/query_truth)
    query_truth: pd.DataFrame


def simulate(cfg: SimConfig | None = None, progress: bool = False) -> SimResult:
    """Run the simulator. The same config (seed included) gives identical tables."""
    cfg = cfg or SimConfig()
    rng = np.random.default_rng(cfg.seed)
    items, item_latent = _make_items(cfg, rng)
    texts = [describe_item(items.iloc[i], rng) for i in range(len(items))]
    items[S.TITLE] = [t for t, _ in texts]
    items[S.DESCRIPTION] = [d for _, d in texts]
    users, user_latent = _make_users(cfg, rng)
    friendships = _make_friendships(cfg, user_latent["segment"], rng)
    truth = ShopSimTruth(
        tastes=user_latent["tastes"],
        segment=user_latent["segment"],
        price_sensitivity=user_latent["price_sensitivity"],
        brand_loyalty=user_latent["brand_loyalty"],
        favourite_brand=user_latent["favourite_brand"],
        click_bias=user_latent["click_bias"],
        popularity=item_latent["popularity"],
        item_category=item_latent["item_category"],
        item_brand=item_latent["item_brand"],
        item_tier=item_latent["item_tier"],
        params=TruthParams(),
    )
    friends = friend_lists(friendships, cfg.n_users)
    # price relative to the category median, for the purchase step
    prices_z = relative_price(items)
    events = _simulate_events(cfg, truth, friends, prices_z, rng, progress=progress)
    view_probability = events.pop("p_true").to_numpy()
    # the queries draw from their own stream, so they never shift any other table
    queries, query_truth = make_queries(events, items, truth, cfg.seed, cfg.query_share)
    items = items[
        [
            S.ITEM,
            S.CATEGORY,
            S.SUBCATEGORY,
            S.BRAND,
            S.COLOR,
            S.MATERIAL,
            S.PRICE,
            S.PRICE_TIER,
            S.TITLE,
            S.DESCRIPTION,
        ]
    ]
    tables = {
        "users": users,
        "items": items,
        "events": events,
        "queries": queries,
        "friendships": friendships,
    }
    return SimResult(
        tables=tables, truth=truth, view_probability=view_probability, query_truth=query_truth
    )

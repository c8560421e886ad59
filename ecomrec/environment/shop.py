"""ShopSim as an environment: deploy a policy to simulated users whose truth is known.

The shipped ShopSim log covers 90 days. :class:`ShopEnvironment` continues that world
from where the log ends: the same users with the same latent truth, their views and their
friends' purchases so far. In a run of ``days`` days:

1. **Sessions.** Each user starts a Poisson number of sessions at the rate they showed in
   the shipped log (sessions per day; the truth keeps no activity level, so the observed
   one stands in), at uniform times at least two hours apart, each going on after every
   view with the simulator's ``session_continue`` (at most ``max_session_views`` views),
   views 90-400 s apart: :class:`~ecomrec.datasets.SimConfig`'s settings.
2. **The organic view.** Every step of a session the user views the item drawn from
   :meth:`~ecomrec.datasets.ShopSimTruth.next_item_distribution`, exactly as the simulator
   did, and the view runs the simulator's funnel (click, cart, purchase at the item's price).
3. **The impression.** On that item's page the policy shows a slate of ``k`` items. The
   user clicks slot ``j`` with probability ``b_j p_j / (w_0 + sum_l b_l p_l)``: ``p_j`` is
   the true probability that the slate's j-th item is the user's next view, ``b_j`` the
   position-bias curve (``1 / log2(j + 2)`` by default: the top slot is looked at most),
   ``w_0`` the outside option (the user ignores the slate and browses on). Given a click,
   the item is chosen in proportion to ``b_j p_j``: the next-view distribution restricted
   to the slate. A clicked item is viewed: it joins the history and runs the same funnel.
4. **Feedback.** Purchases join the purchase log, so friends' purchases raise the chance
   of a view for the next 30 days, as in the simulator.

All steps are batched: the sessions of one day run in waves (each user at most once per
wave) and every wave advances step by step for all its sessions together. A friend's
purchase counts once its time has passed; the only difference from the simulator's strict
time order is that a purchase made by a friend in the same wave at an earlier minute may be
missed until the next step of that wave.

Because the truth is known, every impression also carries its exact expected clicks,
purchases and revenue given the state it was shown in (:meth:`ShopEnvironment.expected`):
the "true" value an experiment's estimate is judged against.

Example::

    env = ShopEnvironment(load_shopsim())
    log = env.run([RecommenderPolicy(Popularity().fit(data.interactions, data.n_items))],
                  days=7, seed=1)
    log.per_user()[["impressions", "clicks", "revenue"]].sum()
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ecomrec import schema as S
from ecomrec.datasets import ShopSim, ShopSimTruth, SimConfig
from ecomrec.datasets.simulator import relative_price
from ecomrec.datasets.social import PurchaseLog, friend_lists, seconds_since_start
from ecomrec.environment.policies import Observation, Policy
from ecomrec.environment.truth_batch import BatchTruth
from ecomrec.scoring import ScoringContext

DAY = 86400


def default_position_bias(k: int) -> np.ndarray:
    """Chance a user looks at each of k slots: ``1 / log2(slot + 2)``, 1 for the top slot."""
    return 1.0 / np.log2(np.arange(k) + 2.0)


def validate_slates(
    slates: object, n: int, k: int, n_items: int, who: str = "policy"
) -> np.ndarray:
    """The slates as an (n, k) int64 array, or a ValueError saying what is wrong with them."""
    array = np.asarray(slates)
    if array.shape != (n, k):
        raise ValueError(
            f"{who} returned slates of shape {array.shape}; it must return one row of k={k} "
            f"item ids for each of the {n} impressions, i.e. shape ({n}, {k})"
        )
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{who} returned slates of dtype {array.dtype}: item ids must be integers")
    array = array.astype(np.int64, copy=False)
    bad = (array < 0) | (array >= n_items)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{who} showed unknown item {array[row, col]} (row {row}, slot {col}): "
            f"item ids run from 0 to {n_items - 1}"
        )
    ordered = np.sort(array, axis=1)
    repeated = ordered[:, 1:] == ordered[:, :-1]
    if repeated.any():
        row, col = np.argwhere(repeated)[0]
        raise ValueError(
            f"{who} showed item {ordered[row, col]} twice in one slate (row {row}): "
            "a slate holds k distinct items"
        )
    return array


@dataclass
class RunLog:
    """Everything that happened in one run, one row per impression (= per session step).

    Arrays of length n (impressions): ``user``, ``arm``, ``day`` (0 = the run's first day),
    ``time`` (seconds since SIMULATION_START), ``session``, ``step``; ``slates`` (n, k);
    ``click_slot`` (-1 = no click), ``clicked_item`` (-1), ``rec_purchase`` (bool),
    ``rec_revenue``; the exact expectations ``expected_clicks``, ``expected_purchases``,
    ``expected_revenue`` of the impression given its state; the organic view's
    ``organic_item``, ``organic_purchase``, ``organic_revenue``.
    ``probabilities``: (n, n_items) float32 true next-view distributions, when the run
    was asked to record them.
    """

    policy_names: list[str]
    users: np.ndarray  # the users the run covered (assigned), whether or not they visited
    assignment: np.ndarray  # (n_users,) arm of every user of the world
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    probabilities: np.ndarray | None = None
    days: int = 0

    def __len__(self) -> int:
        return len(self.columns["user"])

    def __getattr__(self, name: str) -> np.ndarray:
        columns = self.__dict__.get("columns", {})
        if name in columns:
            return columns[name]
        raise AttributeError(name)

    def impressions(self) -> pd.DataFrame:
        """The per-impression columns (without the slates) as a DataFrame."""
        return pd.DataFrame({k: v for k, v in self.columns.items() if k != "slates"})

    def per_user(self, days: int | None = None) -> pd.DataFrame:
        """One row per covered user: arm and sums over their impressions (up to `days`).

        Columns: arm, impressions, clicks, rec_purchases, rec_revenue, purchases and
        revenue (organic plus recommended), and the exact expected_clicks,
        expected_purchases, expected_revenue of the impressions they saw.
        """
        keep = np.ones(len(self), dtype=bool) if days is None else self.day < days
        c = {k: v[keep] for k, v in self.columns.items() if k != "slates"}
        frame = pd.DataFrame(
            {
                "user": c["user"],
                "impressions": 1,
                "clicks": (c["click_slot"] >= 0).astype(np.int64),
                "rec_purchases": c["rec_purchase"].astype(np.int64),
                "rec_revenue": c["rec_revenue"],
                "purchases": c["rec_purchase"].astype(np.int64)
                + c["organic_purchase"].astype(np.int64),
                "revenue": c["rec_revenue"] + c["organic_revenue"],
                "expected_clicks": c["expected_clicks"],
                "expected_purchases": c["expected_purchases"],
                "expected_revenue": c["expected_revenue"],
            }
        )
        sums = frame.groupby("user").sum()
        out = sums.reindex(self.users, fill_value=0)
        out.insert(0, "arm", self.assignment[self.users])
        out.index.name = "user"
        return out


class ShopEnvironment:
    """The ShopSim world continued after its shipped log, for policies to act in.

    Args:
        data: the ShopSim tables (:func:`ecomrec.datasets.load_shopsim`).
        truth: its latent truth (default: ``data.load_truth()``).
        slate_size: k, the number of items in a slate.
        position_bias: (k,) chance each slot is looked at (default
            :func:`default_position_bias`).
        outside_weight: w_0, the weight of browsing on without clicking.
    """

    def __init__(
        self,
        data: ShopSim,
        truth: ShopSimTruth | None = None,
        slate_size: int = 10,
        position_bias: Sequence[float] | None = None,
        outside_weight: float = 0.3,
    ) -> None:
        self.data = data
        self.truth = truth if truth is not None else data.load_truth()
        self.n_users, self.n_items = self.truth.n_users, self.truth.n_items
        if not 1 <= slate_size <= self.n_items:
            raise ValueError(f"slate_size must be between 1 and {self.n_items}, got {slate_size}")
        self.k = int(slate_size)
        bias = default_position_bias(self.k) if position_bias is None else position_bias
        self.position_bias = np.asarray(bias, dtype=np.float64)
        if self.position_bias.shape != (self.k,) or (self.position_bias < 0).any():
            raise ValueError(f"position_bias must be {self.k} non-negative numbers, got {bias!r}")
        if outside_weight <= 0:
            raise ValueError(f"outside_weight must be positive, got {outside_weight}")
        self.outside_weight = float(outside_weight)
        self.prices = data.items[S.PRICE].to_numpy(dtype=np.float64)
        self.batch = BatchTruth(self.truth, relative_price(data.items))
        self.friends = friend_lists(data.friendships, self.n_users)
        self.window = int(self.truth.params.friend_window_days * DAY)
        self.config = SimConfig()

        views = data.interactions
        times = seconds_since_start(views[S.TIMESTAMP])
        self.start_time = int((times.max() // DAY + 1) * DAY)  # the midnight after the log
        users = views[S.USER].to_numpy(dtype=np.int64)
        items = views[S.ITEM].to_numpy(dtype=np.int64)
        sessions = views[S.SESSION].to_numpy()
        starts = np.r_[True, (users[1:] != users[:-1]) | (sessions[1:] != sessions[:-1])]
        bounds = np.searchsorted(users, np.arange(self.n_users + 1))
        self._histories = [items[bounds[u] : bounds[u + 1]].tolist() for u in range(self.n_users)]
        self._starts = [starts[bounds[u] : bounds[u + 1]].tolist() for u in range(self.n_users)]
        self._seen = np.zeros((self.n_users, self.n_items), dtype=bool)
        self._seen[users, items] = True
        self._purchases = PurchaseLog.from_events(data.events, self.n_users)
        self._run_histories = _Histories(self._histories, self._starts)  # each run copies it
        n_sessions = np.array([sum(s) for s in self._starts], dtype=np.float64)
        self.session_rate = n_sessions / (self.start_time / DAY)  # sessions per day

    # ------------------------------------------------------------------ exact values
    def click_probabilities(self, probabilities: np.ndarray, slates: np.ndarray) -> np.ndarray:
        """(n, k) chance of a click on each slot, given the true next-view distributions."""
        attraction = self.position_bias[None, :] * np.take_along_axis(probabilities, slates, 1)
        return attraction / (self.outside_weight + attraction.sum(axis=1, keepdims=True))

    def expected(
        self, users: np.ndarray, probabilities: np.ndarray, slates: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Exact expected clicks, purchases and revenue of each impression.

        users: (n,); probabilities: (n, n_items) the true next-view distributions of the
        states the slates are shown in; slates: (n, k). Returns arrays of length n.
        """
        slates = validate_slates(slates, len(users), self.k, self.n_items, "slates")
        click = self.click_probabilities(probabilities, slates)
        buy = self.batch.purchase_probability(users, slates)
        return {
            "expected_clicks": click.sum(axis=1),
            "expected_purchases": (click * buy).sum(axis=1),
            "expected_revenue": (click * buy * self.prices[slates]).sum(axis=1),
        }

    def state_probabilities(self, users: np.ndarray) -> np.ndarray:
        """The true next-view distribution of each user right after the shipped log
        (a session in progress: its mission is the user's last session's first item)."""
        users = np.asarray(users, dtype=np.int64)
        recent = np.full((len(users), 3), -1, dtype=np.int64)
        mission = np.full(len(users), -1, dtype=np.int64)
        for row, u in enumerate(users):
            hist = self._histories[u]
            last = hist[-3:][::-1]
            recent[row, : len(last)] = last
            first = len(hist) - 1 - self._starts[u][::-1].index(True) if hist else -1
            mission[row] = hist[first] if hist else -1
        counts = [
            self._purchases.friends_bought(self.friends[u], self.start_time, self.window)
            for u in users
        ]
        return self.batch.next_item_distribution(users, self._seen[users], recent, mission, counts)

    # ------------------------------------------------------------------ the schedule
    def _schedule(self, days: int, rng: np.random.Generator):
        cfg = self.config
        n = rng.poisson(self.session_rate * days)
        users = np.repeat(np.arange(self.n_users), n)
        starts = rng.integers(0, days * DAY - 7200, size=len(users))
        lengths = np.minimum(rng.geometric(1.0 - cfg.session_continue, size=len(users)), 12)
        lengths = np.minimum(lengths, cfg.max_session_views)
        order = np.lexsort((starts, users))
        users, starts, lengths = users[order], starts[order], lengths[order]
        # one user's sessions never overlap: push each at least two hours after the last
        for i in range(1, len(users)):
            if users[i] == users[i - 1] and starts[i] < starts[i - 1] + 7200:
                starts[i] = starts[i - 1] + 7200
        keep = starts < days * DAY
        return users[keep], starts[keep], lengths[keep]

    # ------------------------------------------------------------------ running
    def run(
        self,
        policies: Policy | Sequence[Policy],
        assignment: np.ndarray | None = None,
        days: int = 7,
        users: np.ndarray | None = None,
        seed: int = 0,
        record_probabilities: bool = False,
    ) -> RunLog:
        """Deploy the policies for `days` days, starting from the end of the shipped log.

        policies: one policy, or one per arm; assignment: (n_users,) the arm index of every
        user (needed with several policies); users: the users who take part (default all);
        seed: the run's random stream (sessions, views, clicks, purchases), so the same
        seed and policies give the same log. The world's own state is never changed: every
        run starts from the shipped log.
        """
        policies = [policies] if isinstance(policies, Policy) else list(policies)
        if not policies or not all(isinstance(p, Policy) for p in policies):
            raise TypeError("policies must be a Policy or a sequence of Policy objects")
        if assignment is None:
            if len(policies) > 1:
                raise ValueError(
                    f"{len(policies)} policies but no assignment: pass assignment, an array "
                    "giving each user's arm (e.g. ecomrec.experiments.hash_assign)"
                )
            assignment = np.zeros(self.n_users, dtype=np.int64)
        assignment = np.asarray(assignment)
        if assignment.shape != (self.n_users,) or not np.issubdtype(assignment.dtype, np.integer):
            raise ValueError(f"assignment must be {self.n_users} integer arm indices")
        if assignment.min() < 0 or assignment.max() >= len(policies):
            raise ValueError(f"assignment holds arms outside 0..{len(policies) - 1}")
        if days < 1:
            raise ValueError(f"days must be at least 1, got {days}")
        taking_part = np.ones(self.n_users, dtype=bool)
        if users is not None:
            users = np.unique(np.asarray(users, dtype=np.int64))
            if len(users) and (users.min() < 0 or users.max() >= self.n_users):
                raise ValueError(f"users must be ids between 0 and {self.n_users - 1}")
            taking_part[:] = False
            taking_part[users] = True
        covered = np.flatnonzero(taking_part)

        rng = np.random.default_rng(seed)
        s_user, s_start, s_len = self._schedule(days, rng)
        keep = taking_part[s_user]
        s_user, s_start, s_len = s_user[keep], s_start[keep], s_len[keep]

        seen = self._seen.copy()
        hist = self._run_histories.copy()
        purchases = PurchaseLog(0)  # the shipped purchases; _FriendCounts copies on write
        purchases.times = list(self._purchases.times)
        purchases.items = list(self._purchases.items)

        out: dict[str, list] = {name: [] for name in _COLUMNS}
        probs_out: list[np.ndarray] = []
        day_of = s_start // DAY
        # waves: within a day, a user's first session goes in wave 0, the second in wave 1, ...
        order = np.lexsort((s_start, s_user, day_of))
        rank = np.zeros(len(order), dtype=np.int64)
        prev_user, prev_day, r = -1, -1, 0
        for pos, i in enumerate(order):
            r = r + 1 if (s_user[i] == prev_user and day_of[i] == prev_day) else 0
            rank[pos] = r
            prev_user, prev_day = s_user[i], day_of[i]
        wave_key = np.empty(len(order), dtype=np.int64)
        wave_key[order] = day_of[order] * 100 + rank
        midnight_lengths = hist.lengths.copy()
        friend_counts = _FriendCounts(purchases, self.friends, self.window)
        today = 0
        for key in np.unique(wave_key):
            if key // 100 != today:  # a new day: what the nightly job knows moves on
                today = key // 100
                midnight_lengths = hist.lengths.copy()
            idx = np.flatnonzero(wave_key == key)
            self._run_wave(
                idx, s_user, s_start, s_len, policies, assignment, rng, seen, hist,
                friend_counts, out, probs_out, record_probabilities, midnight_lengths,
            )  # fmt: skip
        columns = {}
        for name, dtype in _COLUMNS.items():
            values = out[name]
            if name == "slates":
                columns[name] = (
                    np.concatenate(values) if values else np.empty((0, self.k), dtype=np.int64)
                )
            else:
                columns[name] = (
                    np.concatenate(values).astype(dtype) if values else np.empty(0, dtype=dtype)
                )
        order = np.lexsort((columns["time"], columns["user"]))
        columns = {name: v[order] for name, v in columns.items()}
        probabilities = None
        if record_probabilities:
            probabilities = (
                np.concatenate(probs_out)[order] if probs_out else np.empty((0, self.n_items))
            )
        return RunLog(
            policy_names=[getattr(p, "name", type(p).__name__) for p in policies],
            users=covered,
            assignment=assignment.astype(np.int64),
            columns=columns,
            probabilities=probabilities,
            days=days,
        )

    @staticmethod
    def _recent(users, hist) -> np.ndarray:
        """(n, 3) each user's last three views, most recent first, -1 where fewer."""
        recent = np.full((len(users), 3), -1, dtype=np.int64)
        for row, u in enumerate(users):
            last = hist[u][-3:][::-1]
            recent[row, : len(last)] = last
        return recent

    def _run_wave(
        self, idx, s_user, s_start, s_len, policies, assignment, rng, seen, hist,
        friend_counts, out, probs_out, record, midnight_lengths,
    ) -> None:  # fmt: skip
        users = s_user[idx]
        lengths = s_len[idx]
        times = self.start_time + s_start[idx].astype(np.int64)
        sessions = idx
        mission = np.full(len(idx), -1, dtype=np.int64)
        # each session's last impression state: row carry_row[i] of carry
        carry = np.empty((0, self.n_items))
        carry_row = np.full(len(idx), -1, dtype=np.int64)
        carry_ok = np.zeros(len(idx), dtype=bool)
        carry_counts: list[dict | None] = [None] * len(idx)
        mission_scores = np.empty((0, self.n_items))  # each session's, from its first view
        for step in range(int(lengths.max())):
            active = lengths > step
            if step > 0:
                gaps = rng.integers(90, 400, size=len(idx))
                times = times + gaps
            rows = np.flatnonzero(active)
            u = users[rows]
            t = times[rows]
            counts = friend_counts(u, t)
            # ---- the organic view, as in the simulator. Where nothing changed since the
            # last impression (no click, the same friends' purchases) its distribution holds.
            reuse = np.array(
                [carry_ok[r] and carry_counts[r] == c for r, c in zip(rows, counts, strict=True)],
                dtype=bool,
            )
            fresh = np.flatnonzero(~reuse)
            if not len(fresh):
                kept = carry_row[rows]
                same = len(kept) == len(carry) and (kept == np.arange(len(kept))).all()
                p = carry if same else carry[kept]
            else:
                uf = u[fresh]
                new = self.batch._distribution(
                    uf,
                    seen[uf],
                    hist.recent(uf),
                    mission[rows[fresh]],
                    [counts[i] for i in fresh],
                    None if step == 0 else mission_scores[rows[fresh]],
                )
                if len(fresh) == len(rows):
                    p = new
                else:
                    p = np.empty((len(rows), self.n_items))
                    p[reuse] = carry[carry_row[rows[reuse]]]
                    p[fresh] = new
            cum = np.cumsum(p, axis=1)
            draw = rng.random(len(rows)) * cum[:, -1]
            item = np.minimum((cum <= draw[:, None]).sum(axis=1), self.n_items - 1)
            if step == 0:
                mission[rows] = item
                mission_scores = self.batch.mission_scores(users, mission)
            f_click, f_cart, f_buy = self.batch.funnel(u, item)
            funnel_draws = rng.random((len(rows), 3))
            organic_buy = (
                (funnel_draws[:, 0] < f_click)
                & (funnel_draws[:, 1] < f_cart)
                & (funnel_draws[:, 2] < f_buy)
            )
            hist.append(u, item, step == 0)
            for row in np.flatnonzero(organic_buy):
                friend_counts.add(int(u[row]), int(t[row]) + 30, int(item[row]))
            seen[u, item] = True
            # ---- the impression on the viewed item's page
            recent = hist.recent(u)
            p = self.batch._distribution(
                u, seen[u], recent, mission[rows], counts, mission_scores[rows]
            )
            slates = np.empty((len(rows), self.k), dtype=np.int64)
            arms = assignment[u]
            histories, flags = hist.arrays(u)
            cut = midnight_lengths[u]
            for arm, policy in enumerate(policies):
                mine = np.flatnonzero(arms == arm)
                if not len(mine):
                    continue
                obs = Observation(
                    context=_checked_context(
                        u[mine],
                        [histories[i] for i in mine],
                        [flags[i] for i in mine],
                        np.zeros(len(mine), dtype=bool),
                    ),
                    seen=[histories[i] for i in mine],
                    day_start_lengths=cut[mine],
                    times=t[mine],
                    probabilities=p[mine] if policy.reads_truth else None,
                )
                chosen = policy.slates(obs, self.k)
                slates[mine] = validate_slates(
                    chosen, len(mine), self.k, self.n_items, getattr(policy, "name", "policy")
                )
            click = self.click_probabilities(p, slates)
            buy = self.batch.purchase_probability(u, slates)
            price = self.prices[slates]
            cum_click = np.cumsum(click, axis=1)
            draw = rng.random(len(rows))
            slot = (cum_click <= draw[:, None]).sum(axis=1)
            clicked = slot < self.k
            slot = np.where(clicked, slot, -1)
            clicked_item = np.where(clicked, slates[np.arange(len(rows)), np.maximum(slot, 0)], -1)
            buy_draw = rng.random(len(rows))
            p_buy_clicked = np.where(clicked, buy[np.arange(len(rows)), np.maximum(slot, 0)], 0.0)
            rec_buy = clicked & (buy_draw < p_buy_clicked)
            carry = p
            carry_row[rows] = np.arange(len(rows))
            carry_ok[rows] = ~clicked
            for r, c in zip(rows, counts, strict=True):
                carry_counts[r] = c
            hist.append(u[clicked], clicked_item[clicked], False)
            seen[u[clicked], clicked_item[clicked]] = True
            for row in np.flatnonzero(rec_buy):
                friend_counts.add(int(u[row]), int(t[row]) + 60, int(clicked_item[row]))
            if record:
                probs_out.append(p.astype(np.float32))
            out["user"].append(u)
            out["arm"].append(arms)
            out["day"].append((t - self.start_time) // DAY)
            out["time"].append(t)
            out["session"].append(sessions[rows])
            out["step"].append(np.full(len(rows), step))
            out["slates"].append(slates)
            out["click_slot"].append(slot)
            out["clicked_item"].append(clicked_item)
            out["rec_purchase"].append(rec_buy)
            out["rec_revenue"].append(
                np.where(rec_buy, self.prices[np.maximum(clicked_item, 0)], 0)
            )
            out["expected_clicks"].append(click.sum(axis=1))
            out["expected_purchases"].append((click * buy).sum(axis=1))
            out["expected_revenue"].append((click * buy * price).sum(axis=1))
            out["organic_item"].append(item)
            out["organic_purchase"].append(organic_buy)
            out["organic_revenue"].append(np.where(organic_buy, self.prices[item], 0.0))


def _checked_context(
    users: np.ndarray, histories: list[np.ndarray], flags: list[np.ndarray], targets: np.ndarray
) -> ScoringContext:
    """The ScoringContext of arrays already in its checked form (1-d int64 users and
    histories, bool flags of matching lengths), without checking each row again."""
    context = object.__new__(ScoringContext)
    object.__setattr__(context, "users", users)
    object.__setattr__(context, "histories", histories)
    object.__setattr__(context, "history_starts", flags)
    object.__setattr__(context, "target_starts", targets)
    return context


class _Histories:
    """Every user's views (and session-start flags) during a run, in growing 2-d buffers."""

    def __init__(self, histories: list[list[int]], starts: list[list[bool]]) -> None:
        self.lengths = np.array([len(h) for h in histories], dtype=np.int64)
        width = max(16, 2 * int(self.lengths.max(initial=0)))
        self.items = np.zeros((len(histories), width), dtype=np.int64)
        self.starts = np.zeros((len(histories), width), dtype=bool)
        for user, (h, f) in enumerate(zip(histories, starts, strict=True)):
            self.items[user, : len(h)] = h
            self.starts[user, : len(f)] = f

    def copy(self) -> _Histories:
        other = object.__new__(_Histories)
        other.lengths, other.items = self.lengths.copy(), self.items.copy()
        other.starts = self.starts.copy()
        return other

    def append(self, users: np.ndarray, items: np.ndarray, start: bool) -> None:
        """One more view for each of `users` (distinct)."""
        if not len(users):
            return
        at = self.lengths[users]
        if at.max() >= self.items.shape[1]:
            grow = self.items.shape[1]
            self.items = np.pad(self.items, ((0, 0), (0, grow)))
            self.starts = np.pad(self.starts, ((0, 0), (0, grow)))
        self.items[users, at] = items
        self.starts[users, at] = start
        self.lengths[users] = at + 1

    def recent(self, users: np.ndarray) -> np.ndarray:
        """(n, 3) each user's last three views, most recent first, -1 where fewer."""
        at = self.lengths[users][:, None] - np.arange(1, 4)[None, :]
        return np.where(at >= 0, self.items[users[:, None], np.maximum(at, 0)], -1)

    def arrays(self, users: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Each user's views and flags so far, as fresh arrays."""
        lengths = self.lengths[users].tolist()
        items = [self.items[x, :n].copy() for x, n in zip(users.tolist(), lengths, strict=True)]
        flags = [self.starts[x, :n].copy() for x, n in zip(users.tolist(), lengths, strict=True)]
        return items, flags


class _FriendCounts:
    """:meth:`PurchaseLog.friends_bought` for many users, each answer kept until it changes.

    A user's counts change when a friend buys (:meth:`add` forgets the friends' answers) or
    when time moves past the next purchase to enter or leave the window: until then the
    stored answer is exactly what the log would give.
    """

    def __init__(self, purchases: PurchaseLog, friends: list[np.ndarray], window: int) -> None:
        self.purchases = purchases
        self.friends = [f.tolist() for f in friends]
        self.window = window
        self.cache: dict[int, tuple[int, float, dict[int, float]]] = {}
        self.owned: set[int] = set()  # users whose purchase lists belong to this run

    def add(self, user: int, time: int, item: int) -> None:
        if user not in self.owned:  # the lists start as the world's own: copy before writing
            self.purchases.times[user] = list(self.purchases.times[user])
            self.purchases.items[user] = list(self.purchases.items[user])
            self.owned.add(user)
        self.purchases.add(user, time, item)
        for friend in self.friends[user]:
            self.cache.pop(friend, None)

    def __call__(self, users: np.ndarray, times: np.ndarray) -> list[dict[int, float]]:
        out = []
        cache, window = self.cache, self.window
        all_times, all_items = self.purchases.times, self.purchases.items
        for user, time in zip(users.tolist(), times.tolist(), strict=True):
            hit = cache.get(user)
            if hit is not None and hit[0] <= time <= hit[1]:
                out.append(hit[2])
                continue
            counts: dict[int, float] = {}
            limit = float("inf")
            for friend in self.friends[user]:
                bought = all_times[friend]
                end = bisect_left(bought, time)
                begin = bisect_left(bought, time - window, 0, end)
                if end < len(bought):
                    limit = min(limit, bought[end])
                if begin < end:
                    limit = min(limit, bought[begin] + window)
                for item in all_items[friend][begin:end]:
                    counts[item] = counts.get(item, 0.0) + 1.0
            cache[user] = (time, limit, counts)
            out.append(counts)
        return out


_COLUMNS = {
    "user": np.int64,
    "arm": np.int64,
    "day": np.int64,
    "time": np.int64,
    "session": np.int64,
    "step": np.int64,
    "slates": np.int64,
    "click_slot": np.int64,
    "clicked_item": np.int64,
    "rec_purchase": bool,
    "rec_revenue": np.float64,
    "expected_clicks": np.float64,
    "expected_purchases": np.float64,
    "expected_revenue": np.float64,
    "organic_item": np.int64,
    "organic_purchase": bool,
    "organic_revenue": np.float64,
}

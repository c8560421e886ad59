"""The targets a two-stage recommender ranks for, and what is known before each of them.

A :class:`RankingTargets` holds one row per target view: the user, the target's time and
session, the target item (for training and evaluation) and the user's earlier views with
their sessions and times. Every feature and candidate source of :mod:`ecomrec.ranking`
reads a target's history from here, and the history holds only views strictly before the
target's time, so nothing can read the target itself or anything after it.

Two ways to build one:

- :meth:`RankingTargets.from_split` for the validation or test targets of a split: the
  history is everything known before them (train, plus the validation view for test);
- :func:`training_targets` for the ranker's training lists: the last ``n_last`` training
  views of each user become targets, and the global statistics are fitted on the training
  views that come before them, so a target's own transition is never counted in a feature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecomrec import schema as S
from ecomrec.datasets.social import seconds_since_start
from ecomrec.models.sequences import session_start_flags
from ecomrec.scoring import ScoringContext
from ecomrec.splits import Split, TargetPart, known_interactions


@dataclass(frozen=True)
class RankingTargets:
    """One row per target view, with the user's views strictly before it (oldest first).

    Attributes:
        users, times, sessions, items: (n,) the user, the target's time in seconds since
            :data:`ecomrec.schema.SIMULATION_START`, its session and its item (-1 if unknown).
        histories, history_sessions, history_times: n arrays each, the user's earlier views.
    """

    users: np.ndarray
    times: np.ndarray
    sessions: np.ndarray
    items: np.ndarray
    histories: list[np.ndarray]
    history_sessions: list[np.ndarray]
    history_times: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.users)

    @classmethod
    def from_log(cls, log: pd.DataFrame, targets: pd.DataFrame) -> RankingTargets:
        """Targets (user, item, session, timestamp rows) with their users' views in `log`.

        A target's history is the user's rows of `log` with a timestamp strictly before the
        target's, in time order; rows at or after it are never read.
        """
        missing = {S.USER, S.ITEM, S.SESSION, S.TIMESTAMP} - set(log.columns) | (
            {S.USER, S.ITEM, S.SESSION, S.TIMESTAMP} - set(targets.columns)
        )
        if missing:
            raise ValueError(f"the log and the targets need the columns {sorted(missing)}")
        ordered = log.sort_values([S.USER, S.TIMESTAMP], kind="stable")
        users = ordered[S.USER].to_numpy(dtype=np.int64)
        items = ordered[S.ITEM].to_numpy(dtype=np.int64)
        sessions = ordered[S.SESSION].to_numpy(dtype=np.int64)
        times = seconds_since_start(ordered[S.TIMESTAMP])
        t_users = targets[S.USER].to_numpy(dtype=np.int64)
        t_times = seconds_since_start(targets[S.TIMESTAMP])
        n_users = int(max(users.max(initial=-1), t_users.max(initial=-1))) + 1
        bounds = np.searchsorted(users, np.arange(n_users + 1))
        hist, hist_s, hist_t = [], [], []
        for u, t in zip(t_users, t_times, strict=True):
            lo, hi = bounds[u], bounds[u + 1]
            end = lo + np.searchsorted(times[lo:hi], t, side="left")  # strictly before t
            hist.append(items[lo:end])
            hist_s.append(sessions[lo:end])
            hist_t.append(times[lo:end])
        return cls(
            users=t_users,
            times=t_times,
            sessions=targets[S.SESSION].to_numpy(dtype=np.int64),
            items=targets[S.ITEM].to_numpy(dtype=np.int64),
            histories=hist,
            history_sessions=hist_s,
            history_times=hist_t,
        )

    @classmethod
    def from_split(cls, split: Split, which: TargetPart) -> RankingTargets:
        """The validation or test targets with everything known before them."""
        targets = split.valid if which == "valid" else split.test
        return cls.from_log(known_interactions(split, which), targets)

    def take(self, rows: np.ndarray) -> RankingTargets:
        """The targets at positions `rows` (an integer array), in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        return RankingTargets(
            users=self.users[rows],
            times=self.times[rows],
            sessions=self.sessions[rows],
            items=self.items[rows],
            histories=[self.histories[r] for r in rows],
            history_sessions=[self.history_sessions[r] for r in rows],
            history_times=[self.history_times[r] for r in rows],
        )

    def mission_items(self) -> np.ndarray:
        """The first item of each target's session when the session has earlier views, else -1.

        The session's first view reveals its mission (a category and price tier); at a
        session start there is none yet.
        """
        out = np.full(len(self), -1, dtype=np.int64)
        for row, (sessions, items) in enumerate(
            zip(self.history_sessions, self.histories, strict=True)
        ):
            same = np.flatnonzero(sessions == self.sessions[row])
            if len(same):
                out[row] = items[same[0]]
        return out

    def session_starts(self) -> np.ndarray:
        """True where the target opens a new session (no earlier view in its session)."""
        return self.mission_items() < 0

    def scoring_context(self) -> ScoringContext:
        """The targets as a :class:`~ecomrec.scoring.ScoringContext`, with the session flags
        the sequence models read, so any course model scores them through one interface."""
        return ScoringContext(
            self.users,
            self.histories,
            [session_start_flags(s) for s in self.history_sessions],
            self.session_starts(),
        )


def training_targets(train: pd.DataFrame, n_last: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the training views into (statistics log, ranker training targets).

    The last `n_last` training views of each user with at least ``n_last + 1`` of them are
    the targets; the statistics log is every other training view. Global statistics
    (popularity, co-occurrence, category transitions) fitted on the log never count a
    target, just as the test targets are never counted in the statistics used for them.
    """
    if n_last < 1:
        raise ValueError(f"n_last must be at least 1, got {n_last}")
    ordered = train.sort_values([S.USER, S.TIMESTAMP], kind="stable").reset_index(drop=True)
    by_user = ordered.groupby(S.USER, sort=False)
    from_end = by_user.cumcount(ascending=False).to_numpy()
    enough = (by_user[S.ITEM].transform("size") > n_last).to_numpy()
    is_target = enough & (from_end < n_last)
    return ordered[~is_target].reset_index(drop=True), ordered[is_target].reset_index(drop=True)

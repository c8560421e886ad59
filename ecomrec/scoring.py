"""One scoring interface for every next-item model of the course.

Popularity, co-occurrence, Markov, BPR-MF, the GRU, self-attention and LightGCN all
answer the same question: given what is known before each target, how likely is each
item of the catalogue to be the user's next one? They differ only in which part of
"what is known" they read, so they share one input type and one method::

    context = scoring_context(split, "test")   # ecomrec.evaluation: users, histories, flags
    scores = model.score(context)              # (len(context), n_items), higher = better

:class:`ScoringContext` holds, for each target row, everything a model may see before
the target: the user id, the items the user interacted with before it (oldest first),
whether each of those items opened a session, and whether the target itself opens a new
session. :class:`NextItemScorer` is the abstract base every model implements; a model
that reads only some fields ignores the others (BPR-MF reads only the users).

Scores are finite for every item, including the items already in a history: no model
masks them. Whether to rank them is the evaluation's decision
(:func:`ecomrec.splits.seen_items` removes them), so the same scores serve a
"recommend something new" list and a "buy again" list.

Example:
    >>> context = ScoringContext(users=np.array([4, 7]), histories=[[1, 2], []])
    >>> len(context), context.histories[0].tolist(), context.target_starts is None
    (2, [1, 2], True)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # ecomrec.models imports this module, so import it only where it is used
    from ecomrec.models.sequences import UserSequences


def _int_array(values: np.ndarray | Sequence[int], what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{what} must be a 1-d sequence of integer ids, got {array!r}")
    return array.astype(np.int64, copy=False)


def _bool_array(values: np.ndarray | Sequence[bool], length: int, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.size == 0:
        array = np.empty(0, dtype=bool)
    if array.shape != (length,) or array.dtype != bool:
        raise ValueError(f"{what} must be {length} booleans, got {array!r}")
    return array


@dataclass(frozen=True, init=False)
class ScoringContext:
    """What a model may see before each of ``n`` targets (one row per target).

    Attributes:
        users: (n,) user ids.
        histories: n arrays of the items the user interacted with before the target,
            oldest first (may be empty, may repeat items).
        history_starts: n boolean arrays, one flag per history item: True where that
            item opened a session; None when the caller does not know the sessions.
        target_starts: (n,) booleans, True where the target opens a new session; None
            when unknown.

    Models that need the session flags (the sequence models) raise a clear error when
    they are None; the others ignore them. Build one from a split with
    :func:`ecomrec.evaluation.scoring_context`, or from a log with :meth:`from_interactions`.
    """

    users: np.ndarray
    histories: list[np.ndarray]
    history_starts: list[np.ndarray] | None
    target_starts: np.ndarray | None

    def __init__(
        self,
        users: np.ndarray | Sequence[int],
        histories: Sequence[np.ndarray | Sequence[int]],
        history_starts: Sequence[np.ndarray | Sequence[bool]] | None = None,
        target_starts: np.ndarray | Sequence[bool] | None = None,
    ) -> None:
        users = _int_array(users, "users")
        if len(histories) != len(users):
            raise ValueError(f"{len(users)} users but {len(histories)} histories: give one each")
        items = [_int_array(h, f"histories[{row}]") for row, h in enumerate(histories)]
        flags = None
        if history_starts is not None:
            if len(history_starts) != len(users):
                raise ValueError(
                    f"{len(users)} users but {len(history_starts)} history_starts: give one each"
                )
            flags = [
                _bool_array(f, len(h), f"history_starts[{row}]")
                for row, (f, h) in enumerate(zip(history_starts, items, strict=True))
            ]
        if target_starts is not None:
            target_starts = _bool_array(target_starts, len(users), "target_starts")
        object.__setattr__(self, "users", users)
        object.__setattr__(self, "histories", items)
        object.__setattr__(self, "history_starts", flags)
        object.__setattr__(self, "target_starts", target_starts)

    @classmethod
    def from_interactions(
        cls,
        known: pd.DataFrame,
        users: np.ndarray | Sequence[int],
        target_starts: np.ndarray | Sequence[bool] | None = None,
    ) -> ScoringContext:
        """The context of one target per entry of `users`, from the log `known` before them.

        `known` has columns user, item, session and timestamp; each user's history is their
        rows in time order (an unknown user gets an empty history).
        """
        from ecomrec.models.sequences import UserSequences

        sequences = UserSequences.from_interactions(known).for_users(np.asarray(users))
        return cls(sequences.users, sequences.items, sequences.starts, target_starts)

    def __len__(self) -> int:
        return len(self.users)

    def sequences(self, model: object) -> tuple[UserSequences, np.ndarray]:
        """The histories with their session flags, and the target flags, for a sequence model.

        Raises a ValueError naming `model` when the context has no session flags.
        """
        from ecomrec.models.sequences import UserSequences

        if self.history_starts is None or self.target_starts is None:
            raise ValueError(
                f"{type(model).__name__} reads session-start flags, but this ScoringContext "
                "has none: build it with ecomrec.evaluation.scoring_context(split, which) or "
                "ScoringContext.from_interactions(known, users, target_starts)"
            )
        return UserSequences(self.users, self.histories, self.history_starts), self.target_starts


class NextItemScorer(ABC):
    """Anything that scores the full catalogue as the next item of each context row.

    Implementations set ``n_items`` and return a float64 array of shape
    ``(len(context), n_items)``, finite everywhere, higher = more likely next.
    """

    n_items: int

    @abstractmethod
    def score(self, context: ScoringContext) -> np.ndarray:
        """(len(context), n_items) scores of every item as each row's next item."""

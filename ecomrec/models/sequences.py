"""Turn each user's interactions into padded, masked batches for next-item models.

A sequence model reads a user's items in time order and, at every position t, predicts
the item at t + 1. Users have sequences of different lengths, so a batch is padded on
the right to the longest sequence in it, and a boolean mask says which positions are
real. Padded inputs use the item index ``n_items`` (one past the last real item, the
``padding_idx`` of the embedding tables) and padded targets use ``IGNORE_INDEX``, which
``torch.nn.functional.cross_entropy`` skips.

Besides the item, every position carries two session flags, because that is what a
production system knows when it serves a request: whether this item opened a session
(``starts``) and whether the item to be predicted opens a new one (``next_starts``: the
user just arrived, rather than clicked on from the previous page).

Example:
    >>> batch = next_item_batch([np.array([4, 5, 6]), np.array([7, 8])],
    ...                         [np.array([True, False, True]), np.array([True, False])],
    ...                         n_items=10)
    >>> batch.items.tolist(), batch.targets.tolist()
    ([[4, 5], [7, 10]], [[5, 6], [8, -100]])
    >>> batch.next_starts.tolist(), batch.mask.tolist()
    ([[False, True], [False, False]], [[True, True], [True, False]])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ecomrec.schema import ITEM, SESSION, TIMESTAMP, USER

IGNORE_INDEX = -100
"""Target value at padded positions; the default ``ignore_index`` of PyTorch's cross-entropy."""


def session_start_flags(sessions: np.ndarray) -> np.ndarray:
    """True where an interaction opens a session: the first one, and each change of session id.

    Example:
        >>> session_start_flags(np.array([3, 3, 8, 8, 8, 9])).tolist()
        [True, False, True, False, False, True]
    """
    sessions = np.asarray(sessions)
    flags = np.ones(len(sessions), dtype=bool)
    flags[1:] = sessions[1:] != sessions[:-1]
    return flags


@dataclass(frozen=True)
class UserSequences:
    """Each user's items in time order, with the session-start flag of every item."""

    users: np.ndarray
    items: list[np.ndarray]
    starts: list[np.ndarray]

    @classmethod
    def from_interactions(cls, interactions: pd.DataFrame) -> UserSequences:
        """One sequence per user present in `interactions` (columns user, item, session, time)."""
        ordered = interactions.sort_values([USER, TIMESTAMP], kind="stable")
        users = ordered[USER].to_numpy()
        items = ordered[ITEM].to_numpy(dtype=np.int64)
        sessions = ordered[SESSION].to_numpy()
        boundaries = np.flatnonzero(users[1:] != users[:-1]) + 1
        first = np.r_[0, boundaries] if len(users) else np.empty(0, dtype=np.int64)
        return cls(
            users=users[first].astype(np.int64),
            items=np.split(items, boundaries) if len(users) else [],
            starts=[session_start_flags(s) for s in np.split(sessions, boundaries)]
            if len(users)
            else [],
        )

    def for_users(self, users: np.ndarray) -> UserSequences:
        """The sequences of `users`, in that order (empty for a user with no interaction)."""
        index = {int(u): row for row, u in enumerate(self.users.tolist())}
        empty_items, empty_flags = np.empty(0, dtype=np.int64), np.empty(0, dtype=bool)
        rows = [index.get(int(u)) for u in np.asarray(users).tolist()]
        return UserSequences(
            users=np.asarray(users, dtype=np.int64),
            items=[self.items[r] if r is not None else empty_items for r in rows],
            starts=[self.starts[r] if r is not None else empty_flags for r in rows],
        )

    def __len__(self) -> int:
        return len(self.users)


def pad_right(
    sequences: Sequence[np.ndarray], pad_value: int, max_len: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Stack sequences into a (B, T) array padded on the right, and its (B, T) mask.

    T is the longest length (at most `max_len`); a longer sequence keeps its *last*
    `max_len` elements, the most recent ones. Booleans stay booleans.

    Example:
        >>> values, mask = pad_right([np.array([1, 2, 3]), np.array([4])], pad_value=0, max_len=2)
        >>> values.tolist(), mask.tolist()
        ([[2, 3], [4, 0]], [[True, True], [True, False]])
    """
    kept = [np.asarray(s)[-max_len:] if max_len else np.asarray(s) for s in sequences]
    width = max((len(s) for s in kept), default=0)
    dtype = np.result_type(*[s.dtype for s in kept]) if kept else np.int64
    values = np.full((len(kept), width), pad_value, dtype=dtype)
    mask = np.zeros((len(kept), width), dtype=bool)
    for row, s in enumerate(kept):
        values[row, : len(s)] = s
        mask[row, : len(s)] = True
    return values, mask


@dataclass
class SequenceBatch:
    """Model inputs for B sequences of (padded) length T.

    items, starts: the input items and whether each opened a session;
    next_starts: whether the item to predict after position t opens a session;
    targets: the next item (``IGNORE_INDEX`` at padding, and everywhere for queries);
    mask: True at real positions; lengths: the number of real positions per row.
    """

    items: torch.Tensor
    starts: torch.Tensor
    next_starts: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor

    def __len__(self) -> int:
        return self.items.shape[0]


def _batch(
    items: Sequence[np.ndarray],
    starts: Sequence[np.ndarray],
    next_starts: Sequence[np.ndarray],
    targets: Sequence[np.ndarray] | None,
    n_items: int,
    max_len: int | None,
) -> SequenceBatch:
    item_array, mask = pad_right(items, pad_value=n_items, max_len=max_len)
    start_array, _ = pad_right(starts, pad_value=False, max_len=max_len)
    next_array, _ = pad_right(next_starts, pad_value=False, max_len=max_len)
    if targets is None:
        target_array = np.full(item_array.shape, IGNORE_INDEX, dtype=np.int64)
    else:
        target_array, _ = pad_right(targets, pad_value=IGNORE_INDEX, max_len=max_len)
    return SequenceBatch(
        items=torch.as_tensor(item_array, dtype=torch.long),
        starts=torch.as_tensor(start_array.astype(bool)),
        next_starts=torch.as_tensor(next_array.astype(bool)),
        targets=torch.as_tensor(target_array, dtype=torch.long),
        mask=torch.as_tensor(mask),
        lengths=torch.as_tensor(mask.sum(axis=1), dtype=torch.long),
    )


def next_item_batch(
    items: Sequence[np.ndarray],
    starts: Sequence[np.ndarray],
    n_items: int,
    max_len: int | None = None,
) -> SequenceBatch:
    """Training batch: every position t of each sequence predicts the item at t + 1.

    A sequence of n items gives n - 1 (input, target) steps; with `max_len` only the
    last `max_len` steps are kept. Sequences need at least 2 items.
    """
    if any(len(s) < 2 for s in items):
        raise ValueError("every training sequence needs at least 2 items (one input, one target)")
    return _batch(
        [s[:-1] for s in items],
        [f[:-1] for f in starts],
        [f[1:] for f in starts],
        [s[1:] for s in items],
        n_items,
        max_len,
    )


def query_batch(
    items: Sequence[np.ndarray],
    starts: Sequence[np.ndarray],
    target_starts: np.ndarray,
    n_items: int,
    max_len: int | None = None,
) -> SequenceBatch:
    """Scoring batch: each row is a history, and the model's state at its last position is
    the user's state for the next, unknown item; `target_starts[i]` says whether that item
    opens a session. An empty history becomes a single padding item, so every row has a
    last position.
    """
    target_starts = np.asarray(target_starts, dtype=bool)
    if len(target_starts) != len(items):
        raise ValueError(f"{len(items)} histories but {len(target_starts)} target flags")
    padded_items, padded_starts, next_starts = [], [], []
    for history, flags, target_flag in zip(items, starts, target_starts, strict=True):
        if len(history) == 0:
            history, flags = np.array([n_items]), np.array([True])
        padded_items.append(np.asarray(history))
        padded_starts.append(np.asarray(flags, dtype=bool))
        following = np.r_[np.asarray(flags, dtype=bool)[1:], target_flag]
        next_starts.append(following)
    return _batch(padded_items, padded_starts, next_starts, None, n_items, max_len)


def training_windows(
    sequences: UserSequences, max_len: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Cut sequences into windows of at most ``max_len + 1`` items, so each next-item step
    is a target exactly once (windows overlap by one item). Windows are taken from the end,
    so the most recent one is full; sequences of fewer than 2 items give none.

    Example:
        >>> seqs = UserSequences(np.array([0]), [np.arange(6)], [np.ones(6, dtype=bool)])
        >>> [w.tolist() for w in training_windows(seqs, max_len=2)[0]]
        [[0, 1], [1, 2, 3], [3, 4, 5]]
    """
    if max_len < 1:
        raise ValueError("max_len must be at least 1")
    window_items, window_starts = [], []
    for items, starts in zip(sequences.items, sequences.starts, strict=True):
        end = len(items)
        pieces = []
        while end >= 2:
            begin = max(0, end - max_len - 1)
            pieces.append((begin, end))
            end = begin + 1
        for begin, end in reversed(pieces):
            window_items.append(items[begin:end])
            window_starts.append(starts[begin:end])
    return window_items, window_starts


def iterate_batches(
    items: Sequence[np.ndarray],
    starts: Sequence[np.ndarray],
    n_items: int,
    batch_size: int,
    generator: torch.Generator,
) -> Iterator[SequenceBatch]:
    """Shuffled training batches of similar-length windows (little padding).

    Windows are ordered by length, cut into batches of `batch_size`, and the batches
    come in an order drawn from `generator`; within a length the order is shuffled too,
    so the same generator state gives the same batches.
    """
    n = len(items)
    jitter = torch.rand(n, generator=generator).numpy()
    lengths = np.array([len(s) for s in items])
    order = np.lexsort((jitter, lengths))
    chunks = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    for chunk_index in torch.randperm(len(chunks), generator=generator).tolist():
        rows = chunks[chunk_index]
        yield next_item_batch([items[r] for r in rows], [starts[r] for r in rows], n_items)

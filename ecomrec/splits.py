"""Temporal leave-last-out splits and the per-target histories models need.

The course evaluates next-item prediction the way it happens in production: a model
may only use what happened *before* the interaction it predicts. So the split is by
time within each user (the last interaction is the test target, the one before it the
validation target), never a random shuffle of rows, which would leak the future.

Example:
    >>> import pandas as pd
    >>> from ecomrec.schema import ITEM, SESSION, TIMESTAMP, USER
    >>> interactions = pd.DataFrame({
    ...     USER: [0, 0, 0, 0, 1],
    ...     ITEM: [5, 6, 7, 8, 5],
    ...     TIMESTAMP: pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03",
    ...                                "2024-01-04", "2024-01-01"]),
    ...     SESSION: [0, 0, 1, 1, 2],
    ... })
    >>> split = temporal_split(interactions)
    >>> split.train[ITEM].tolist(), split.valid[ITEM].tolist(), split.test[ITEM].tolist()
    ([5, 6, 5], [7], [8])
    >>> [h.tolist() for h in histories(split, "test")]
    [[5, 6, 7]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ecomrec.schema import ITEM, TIMESTAMP, USER

MIN_INTERACTIONS_TO_EVALUATE = 3
"""A user needs at least one training interaction besides the valid and test targets."""

TargetPart = Literal["valid", "test"]


@dataclass(frozen=True)
class Split:
    """Train / validation / test interactions, each sorted by (user, time), index 0..n-1.

    `valid` and `test` hold one row (the target) per evaluated user.
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame

    def __repr__(self) -> str:
        return (
            f"Split(train={len(self.train)} rows, valid={len(self.valid)} rows, "
            f"test={len(self.test)} rows)"
        )


def temporal_split(interactions: pd.DataFrame) -> Split:
    """Per user: last interaction -> test, the one before -> valid, the rest -> train.

    Users with fewer than 3 interactions are kept wholly in train: with 1 or 2 they
    could not have a target in both valid and test *and* a history to predict from, and
    dropping them would waste data the other users' models can still learn from. They
    are simply never evaluated.

    Rows are ordered by (user, timestamp); rows with equal timestamps keep their input
    order (stable sort), so pass the interactions in the order they happened. All
    columns are kept. Each part gets a fresh 0..n-1 index, so row i of `valid` lines up
    with element i of ``histories(split, "valid")``.
    """
    missing = {USER, ITEM, TIMESTAMP} - set(interactions.columns)
    if missing:
        raise ValueError(f"interactions lack columns {sorted(missing)}")
    ordered = interactions.sort_values([USER, TIMESTAMP], kind="stable").reset_index(drop=True)
    by_user = ordered.groupby(USER, sort=False)
    steps_from_end = by_user.cumcount(ascending=False).to_numpy()
    evaluated = (by_user[ITEM].transform("size") >= MIN_INTERACTIONS_TO_EVALUATE).to_numpy()

    is_test = evaluated & (steps_from_end == 0)
    is_valid = evaluated & (steps_from_end == 1)
    is_train = ~(is_test | is_valid)
    return Split(
        train=ordered[is_train].reset_index(drop=True),
        valid=ordered[is_valid].reset_index(drop=True),
        test=ordered[is_test].reset_index(drop=True),
    )


def known_interactions(split: Split, which: TargetPart) -> pd.DataFrame:
    """Everything that happened before the targets of `which`, ordered by (user, time)."""
    if which == "valid":
        return split.train
    if which == "test":
        known = pd.concat([split.train, split.valid], ignore_index=True)
        return known.sort_values([USER, TIMESTAMP], kind="stable")
    raise ValueError(f"which must be 'valid' or 'test', got {which!r}")


def _targets(split: Split, which: TargetPart) -> pd.DataFrame:
    return split.valid if which == "valid" else split.test


def histories(split: Split, which: TargetPart) -> list[np.ndarray]:
    """For each target row of `split.valid` or `split.test`, the items its user saw before.

    For ``"valid"`` the history is the user's train items; for ``"test"`` it is train
    plus the validation item. Items are in time order (oldest first) and may repeat.
    The list is aligned with the target rows: ``histories(split, "test")[i]`` belongs
    to ``split.test.iloc[i]``.

    Example:
        >>> frame = pd.DataFrame({USER: [0, 0, 0, 0], ITEM: [5, 6, 7, 8],
        ...                       TIMESTAMP: pd.date_range("2024-01-01", periods=4)})
        >>> split = temporal_split(frame)
        >>> [h.tolist() for h in histories(split, "valid")]
        [[5, 6]]
        >>> [h.tolist() for h in histories(split, "test")]
        [[5, 6, 7]]
    """
    known = known_interactions(split, which)
    users = known[USER].to_numpy()
    items = known[ITEM].to_numpy(dtype=np.int64)
    # known is sorted by user, so each user's items are one contiguous block.
    boundaries = np.flatnonzero(users[1:] != users[:-1]) + 1
    starts = np.r_[0, boundaries] if len(users) else np.empty(0, dtype=np.int64)
    blocks = np.split(items, boundaries) if len(users) else []
    by_user = dict(zip(users[starts].tolist(), blocks, strict=True))
    empty = np.empty(0, dtype=np.int64)
    return [by_user.get(user, empty) for user in _targets(split, which)[USER].tolist()]


def seen_items(split: Split, which: TargetPart) -> list[np.ndarray]:
    """Items to exclude from each target row's ranking: the user's earlier items, minus the target.

    The target itself is always left out of the list, even when the user had seen it
    before (a repeat view): excluding it would make a hit impossible, and
    :func:`ecomrec.metrics.target_ranks` refuses that. Ready to pass as ``exclude=``.

    Example (item 5 is viewed again as the test target, so it stays rankable):
        >>> frame = pd.DataFrame({USER: [0, 0, 0, 0], ITEM: [5, 6, 7, 5],
        ...                       TIMESTAMP: pd.date_range("2024-01-01", periods=4)})
        >>> [s.tolist() for s in seen_items(temporal_split(frame), "test")]
        [[6, 7]]
    """
    target_items = _targets(split, which)[ITEM].to_numpy(dtype=np.int64)
    return [
        np.setdiff1d(history, [target])
        for history, target in zip(histories(split, which), target_items, strict=True)
    ]

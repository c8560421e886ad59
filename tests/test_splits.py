"""ecomrec.splits on a tiny hand-made interaction log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecomrec.schema import ITEM, SESSION, TIMESTAMP, USER
from ecomrec.splits import Split, histories, seen_items, temporal_split


@pytest.fixture
def interactions() -> pd.DataFrame:
    """User 0: 5 interactions (given out of time order), user 1: 3, user 2: 2, user 3: 1."""
    rows = [
        # user, item, day, session
        (0, 10, 3, 1),
        (0, 11, 1, 0),
        (0, 12, 2, 0),
        (0, 11, 5, 2),  # repeat of item 11, the test target
        (0, 13, 4, 1),
        (1, 20, 1, 3),
        (1, 21, 2, 3),
        (1, 22, 3, 4),
        (2, 30, 1, 5),
        (2, 31, 2, 5),
        (3, 40, 1, 6),
    ]
    frame = pd.DataFrame(rows, columns=[USER, ITEM, "day", SESSION])
    frame[TIMESTAMP] = pd.Timestamp("2024-03-01") + pd.to_timedelta(frame.pop("day"), unit="D")
    return frame


def test_last_to_test_previous_to_valid_rest_to_train(interactions):
    split = temporal_split(interactions)
    assert split.test[[USER, ITEM]].values.tolist() == [[0, 11], [1, 22]]
    assert split.valid[[USER, ITEM]].values.tolist() == [[0, 13], [1, 21]]
    assert split.train[[USER, ITEM]].values.tolist() == [
        [0, 11],
        [0, 12],
        [0, 10],
        [1, 20],
        [2, 30],
        [2, 31],
        [3, 40],
    ]


def test_short_users_stay_in_train_and_nothing_is_lost(interactions):
    split = temporal_split(interactions)
    assert set(split.train[USER]) == {0, 1, 2, 3}
    assert set(split.test[USER]) == set(split.valid[USER]) == {0, 1}
    assert len(split.train) + len(split.valid) + len(split.test) == len(interactions)


def test_no_target_is_older_than_its_users_training_data(interactions):
    split = temporal_split(interactions)
    last_train = split.train.groupby(USER)[TIMESTAMP].max()
    valid_time = split.valid.set_index(USER)[TIMESTAMP]
    test_time = split.test.set_index(USER)[TIMESTAMP]
    assert (valid_time > last_train[valid_time.index]).all()
    assert (test_time > valid_time[test_time.index]).all()


def test_parts_keep_columns_and_have_fresh_index(interactions):
    split = temporal_split(interactions)
    assert isinstance(split, Split)
    for part in (split.train, split.valid, split.test):
        assert list(part.columns) == list(interactions.columns)
        assert part.index.tolist() == list(range(len(part)))


def test_histories_are_time_ordered_and_aligned(interactions):
    split = temporal_split(interactions)
    valid_histories = histories(split, "valid")
    test_histories = histories(split, "test")
    assert [h.tolist() for h in valid_histories] == [[11, 12, 10], [20]]
    assert [h.tolist() for h in test_histories] == [[11, 12, 10, 13], [20, 21]]
    assert all(h.dtype == np.int64 for h in test_histories)


def test_seen_items_never_contain_the_target(interactions):
    split = temporal_split(interactions)
    # user 0's test target (11) was seen before; it must stay rankable.
    assert [s.tolist() for s in seen_items(split, "test")] == [[10, 12, 13], [20, 21]]
    assert [s.tolist() for s in seen_items(split, "valid")] == [[10, 11, 12], [20]]


def test_which_must_be_valid_or_test(interactions):
    with pytest.raises(ValueError, match="which"):
        histories(temporal_split(interactions), "train")


def test_missing_columns_raise():
    with pytest.raises(ValueError, match="lack columns"):
        temporal_split(pd.DataFrame({USER: [0], ITEM: [1]}))

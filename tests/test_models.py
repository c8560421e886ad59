"""Unit tests of ecomrec.models on tiny synthetic data: exact where the math allows."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pandas as pd
import pytest
import torch

from ecomrec import schema as S
from ecomrec.metrics import auc
from ecomrec.models.attention import SelfAttentionNextItem, causal_mask
from ecomrec.models.base import interest_score, item_feature_codes, seen_mask
from ecomrec.models.click import (
    NUMERIC_FEATURES,
    ClickMLP,
    calibration_table,
    click_features,
    click_tensors,
)
from ecomrec.models.gru import GRUNextItem, formula_weights, rnn_cell_step
from ecomrec.models.recommender import SequenceRecommender
from ecomrec.models.sequences import (
    IGNORE_INDEX,
    UserSequences,
    iterate_batches,
    next_item_batch,
    pad_right,
    query_batch,
    session_start_flags,
    training_windows,
)
from ecomrec.scoring import ScoringContext
from ecomrec.training import epoch_generator, fix_threads, train

fix_threads(1)


# ---------------------------------------------------------------- sequences and batches


def tiny_interactions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            S.USER: [1, 0, 0, 1, 0, 0],
            S.ITEM: [9, 3, 4, 8, 5, 6],
            S.SESSION: [7, 1, 1, 7, 2, 2],
            S.TIMESTAMP: pd.to_datetime(
                ["2024-01-02", "2024-01-01", "2024-01-02", "2024-01-03", "2024-01-05", "2024-01-06"]
            ),
        }
    )


def test_user_sequences_are_time_ordered_with_session_flags():
    seqs = UserSequences.from_interactions(tiny_interactions())
    assert seqs.users.tolist() == [0, 1]
    assert [s.tolist() for s in seqs.items] == [[3, 4, 5, 6], [9, 8]]
    assert [s.tolist() for s in seqs.starts] == [[True, False, True, False], [True, False]]
    picked = seqs.for_users(np.array([1, 5]))
    assert [s.tolist() for s in picked.items] == [[9, 8], []]
    assert session_start_flags(np.array([4])).tolist() == [True]


def test_pad_right_keeps_the_most_recent_items():
    values, mask = pad_right([np.array([1, 2, 3, 4]), np.array([5])], pad_value=-1, max_len=3)
    assert values.tolist() == [[2, 3, 4], [5, -1, -1]]
    assert mask.tolist() == [[True, True, True], [True, False, False]]
    values, mask = pad_right([np.array([True]), np.array([False, True])], pad_value=False)
    assert values.dtype == bool and values.tolist() == [[True, False], [False, True]]


def test_next_item_batch_shapes_targets_and_masks_are_exact():
    items = [np.array([3, 4, 5, 6]), np.array([9, 8])]
    starts = [np.array([True, False, True, False]), np.array([True, False])]
    batch = next_item_batch(items, starts, n_items=10)
    assert batch.items.shape == (2, 3) and len(batch) == 2
    assert batch.items.tolist() == [[3, 4, 5], [9, 10, 10]]
    assert batch.targets.tolist() == [[4, 5, 6], [8, IGNORE_INDEX, IGNORE_INDEX]]
    assert batch.starts.tolist() == [[True, False, True], [True, False, False]]
    assert batch.next_starts.tolist() == [[False, True, False], [False, False, False]]
    assert batch.mask.tolist() == [[True, True, True], [True, False, False]]
    assert batch.lengths.tolist() == [3, 1]
    with pytest.raises(ValueError, match="at least 2"):
        next_item_batch([np.array([1])], [np.array([True])], n_items=10)


def test_query_batch_puts_the_target_flag_at_the_last_position():
    batch = query_batch(
        [np.array([3, 4]), np.array([], dtype=np.int64)],
        [np.array([True, False]), np.array([], dtype=bool)],
        np.array([True, False]),
        n_items=10,
    )
    assert batch.items.tolist() == [[3, 4], [10, 10]]  # empty history -> one padding item
    assert batch.next_starts.tolist() == [[False, True], [False, False]]
    assert batch.lengths.tolist() == [2, 1]
    assert (batch.targets == IGNORE_INDEX).all()


def test_training_windows_use_every_step_once():
    seqs = UserSequences(
        np.array([0, 1, 2]),
        [np.arange(7), np.array([5]), np.array([1, 2])],
        [np.ones(7, dtype=bool), np.ones(1, dtype=bool), np.ones(2, dtype=bool)],
    )
    windows, flags = training_windows(seqs, max_len=3)
    assert [w.tolist() for w in windows] == [[0, 1, 2, 3], [3, 4, 5, 6], [1, 2]]
    assert sum(len(w) - 1 for w in windows) == 6 + 1  # every transition a target once
    assert [len(f) for f in flags] == [len(w) for w in windows]


def test_iterate_batches_is_seeded_and_covers_every_window():
    windows = [np.arange(n + 2) for n in range(10)]
    flags = [np.ones(len(w), dtype=bool) for w in windows]

    def targets(seed):
        gen = torch.Generator().manual_seed(seed)
        batches = list(iterate_batches(windows, flags, n_items=20, batch_size=3, generator=gen))
        return [b.targets.tolist() for b in batches]

    assert targets(1) == targets(1)
    assert targets(1) != targets(2)
    n_targets = sum(sum(t != IGNORE_INDEX for row in b for t in row) for b in targets(1))
    assert n_targets == sum(len(w) - 1 for w in windows)


def test_seen_mask_hides_earlier_items_but_never_the_target():
    batch = next_item_batch([np.array([0, 2, 0, 1])], [np.ones(4, dtype=bool)], n_items=4)
    # inputs 0, 2, 0 and targets 2, 0, 1: at t=1 the target 0 was seen but stays rankable
    assert seen_mask(batch, 4).int().tolist() == [[[1, 0, 0, 0], [0, 0, 1, 0], [1, 0, 1, 0]]]


def test_item_feature_codes_follow_item_ids():
    items = pd.DataFrame({S.ITEM: [2, 0, 1], S.BRAND: ["b", "a", "b"]})
    assert item_feature_codes(items, [S.BRAND])[S.BRAND].tolist() == [0, 1, 1]


# ---------------------------------------------------------------- the RNN formula


def test_rnn_cell_from_the_formula_matches_torch():
    torch.manual_seed(0)
    cell = torch.nn.RNNCell(input_size=5, hidden_size=4)
    weight, bias = formula_weights(cell)
    assert weight.shape == (4, 4 + 5)
    h = torch.randn(3, 4)
    for _ in range(4):  # several steps: errors would compound
        x = torch.randn(3, 5)
        expected = cell(x, h)
        h_formula = rnn_cell_step(h, x, weight, bias)
        torch.testing.assert_close(h_formula, expected, atol=1e-6, rtol=1e-5)
        h = expected.detach()


def test_interest_score_is_a_sigmoid_of_one_dot_product_per_pair():
    states = torch.tensor([[1.0, 0.0], [0.5, -1.0]])
    items = torch.tensor([[2.0, 5.0], [0.0, 1.0], [0.0, 0.0]])
    scores = interest_score(states, items)
    assert scores.shape == (2, 3)
    torch.testing.assert_close(scores[1, 0], torch.sigmoid(torch.tensor(0.5 * 2.0 - 5.0)))
    assert scores[0, 2] == 0.5  # a zero embedding says nothing: even odds


# ---------------------------------------------------------------- sequence models


def test_causal_mask_forbids_only_later_positions():
    assert causal_mask(3).tolist() == [[False, True, True], [False, False, True], [False] * 3]


@pytest.mark.parametrize("model_class", [GRUNextItem, SelfAttentionNextItem])
def test_state_at_t_does_not_depend_on_later_positions(model_class):
    torch.manual_seed(0)
    model = model_class(n_items=30, dim=16).eval()
    starts = [np.array([True, False, False, True, False, False])]
    a = next_item_batch([np.array([1, 2, 3, 4, 5, 6])], starts, n_items=30)
    b = next_item_batch([np.array([1, 2, 3, 9, 8, 7])], starts, n_items=30)
    with torch.no_grad():
        logits_a, logits_b = model(a), model(b)
    torch.testing.assert_close(logits_a[:, :3], logits_b[:, :3])  # positions 0..2 see 1, 2, 3
    assert not torch.allclose(logits_a[:, 3:], logits_b[:, 3:])


def test_padding_does_not_change_a_sequence_scores():
    torch.manual_seed(0)
    model = SelfAttentionNextItem(n_items=30, dim=16).eval()
    flags = [np.array([True, False, False])]
    alone = next_item_batch([np.array([1, 2, 3])], flags, n_items=30)
    padded = next_item_batch(
        [np.array([1, 2, 3]), np.arange(10)], [flags[0], np.ones(10, dtype=bool)], n_items=30
    )
    with torch.no_grad():
        torch.testing.assert_close(model(alone)[0], model(padded)[0, :2])


def test_feature_embeddings_share_across_items_of_a_category():
    torch.manual_seed(0)
    features = {"category": np.array([0, 0, 1, 1])}
    model = GRUNextItem(n_items=4, dim=8, features=features)
    table = model.item_encoder.table().detach()
    category = model.item_encoder.features["category"].weight.detach()
    ids = model.item_encoder.ids.weight.detach()
    torch.testing.assert_close(table[1], ids[1] + category[0])
    assert (table[4] == 0).all()  # the padding item


def cyclic_sequences(n_users=40, n_items=12, length=8, seed=0):
    """Each user walks the items in order from a random start: item i is followed by i + 1."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n_items, n_users)
    items = [(s + np.arange(length)) % n_items for s in starts]
    flags = [np.r_[True, np.zeros(length - 1, dtype=bool)] for _ in items]
    return items, flags


def gru_training_run(seed, max_epochs=8, patience=10):
    items, flags = cyclic_sequences()
    torch.manual_seed(seed)
    model = GRUNextItem(n_items=12, dim=16, dropout=0.0)
    queries = UserSequences(
        np.arange(5), [np.array([k, k + 1]) for k in range(5)], [f[:2] for f in flags[:5]]
    )

    def validate(m):
        scores = m.score(ScoringContext(queries.users, queries.items, queries.starts, [False] * 5))
        for row, history in enumerate(queries.items):  # seen items are excluded, as in evaluation
            scores[row, history] = -np.inf
        return {"hit@1": float(np.mean(scores.argmax(axis=1) == np.arange(2, 7)))}

    result = train(
        model,
        lambda epoch: iterate_batches(
            items, flags, n_items=12, batch_size=8, generator=epoch_generator(seed, epoch)
        ),
        max_epochs,
        validate=validate,
        monitor="hit@1",
        patience=patience,
        lr=0.05,
        seed=seed,
        progress=False,
    )
    return model, result


def test_training_is_deterministic_for_a_seed_and_learns():
    model_a, result_a = gru_training_run(seed=3)
    model_b, result_b = gru_training_run(seed=3)
    losses_a = [r["loss"] for r in result_a.history]
    assert losses_a == [r["loss"] for r in result_b.history]
    for p, q in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert torch.equal(p, q)
    _, result_c = gru_training_run(seed=4)
    assert losses_a != [r["loss"] for r in result_c.history]
    assert losses_a[-1] < 0.5 * losses_a[0]
    assert result_a.best_score == 1.0  # "i is followed by i + 1" is learnt exactly


def cyclic_log(n_users: int = 12, length: int = 8, n_items: int = 12) -> pd.DataFrame:
    """Every user views i, i + 1, i + 2, ... (mod n_items), never an item twice: the next item
    is learnable."""
    rows = [
        (user, (user + t) % n_items, user, pd.Timestamp("2024-01-01") + pd.Timedelta(hours=t))
        for user in range(n_users)
        for t in range(length)
    ]
    return pd.DataFrame(rows, columns=[S.USER, S.ITEM, S.SESSION, S.TIMESTAMP])


@pytest.mark.parametrize("kind", ["gru", "self-attention"])
def test_sequence_recommender_trains_exactly_its_epochs_and_learns(kind):
    log, n_items = cyclic_log(), 12
    items = pd.DataFrame(
        {
            S.ITEM: range(n_items),
            S.CATEGORY: [0, 1] * 6,
            S.BRAND: [0] * 12,
            S.PRICE_TIER: [0, 1, 2] * 4,
        }
    )

    def fitted(seed):
        return SequenceRecommender(
            kind,
            items=items,
            dim=16,
            epochs=12,
            batch_size=4,
            lr=0.02,
            max_len=8,
            seed=seed,
            progress=False,
        ).fit(log, n_items)

    model = fitted(3)
    assert model.training_.epochs_run == 12 and not model.training_.stopped_early
    # after each user's first six views, (user + 5) % 12 last, the next one is (user + 6) % 12
    first_six = log.groupby(S.USER).head(6)
    context = ScoringContext.from_interactions(first_six, np.arange(12), np.zeros(12, dtype=bool))
    scores = model.score(context)
    assert scores.shape == (12, n_items)
    for row, history in enumerate(context.histories):  # seen items are never recommended
        scores[row, history] = -np.inf
    # chance is 1 in 6 unseen items; measured 1.0 (GRU) and 0.83 (self-attention)
    assert (scores.argmax(axis=1) == (np.arange(12) + 6) % n_items).mean() >= 0.75
    again = fitted(3).score(context)
    np.testing.assert_array_equal(model.score(context), again)  # same seed, same numbers


def test_sequence_recommender_says_what_is_wrong():
    with pytest.raises(ValueError, match="kind must be one of"):
        SequenceRecommender("lstm")
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        SequenceRecommender(epochs=0)
    with pytest.raises(RuntimeError, match="must be fit"):
        SequenceRecommender().score(ScoringContext([0], [[1]], [[True]], [False]))
    with pytest.raises(ValueError, match="lacks the columns"):
        SequenceRecommender(items=pd.DataFrame({S.ITEM: range(12)}), epochs=1).fit(cyclic_log(), 12)
    single = cyclic_log(n_users=3, length=1)
    with pytest.raises(ValueError, match="two or more interactions"):
        SequenceRecommender(epochs=1).fit(single, 12)


# Early stopping, best-weight restore and the time limit: tests/test_training.py.


# ---------------------------------------------------------------- the click model


def tiny_events() -> pd.DataFrame:
    rows = [
        (0, 0, 1, "2024-01-01 10:00:00", "view"),
        (0, 0, 1, "2024-01-01 10:00:05", "click"),
        (0, 1, 1, "2024-01-01 10:01:00", "view"),
        (1, 0, 2, "2024-01-01 11:00:00", "view"),
        (1, 0, 2, "2024-01-01 11:00:05", "click"),
        (1, 0, 2, "2024-01-01 11:00:09", "purchase"),
        (0, 2, 3, "2024-01-02 10:00:00", "view"),
    ]
    frame = pd.DataFrame(rows, columns=[S.USER, S.ITEM, S.SESSION, S.TIMESTAMP, S.EVENT_TYPE])
    frame[S.TIMESTAMP] = pd.to_datetime(frame[S.TIMESTAMP])
    return frame


def tiny_items() -> pd.DataFrame:
    return pd.DataFrame(
        {
            S.ITEM: [0, 1, 2],
            S.CATEGORY: ["phone", "phone", "mug"],
            S.BRAND: ["a", "b", "a"],
            S.PRICE: [100.0, 200.0, 10.0],
            S.PRICE_TIER: ["mid-range", "premium", "budget"],
        }
    )


def test_click_features_use_only_the_past():
    features = click_features(tiny_events(), tiny_items(), strength=1.0)
    assert features[S.ITEM].tolist() == [0, 1, 0, 2]  # time order
    assert features["clicked"].tolist() == [1, 0, 1, 0]
    assert features["purchased"].tolist() == [0, 0, 1, 0]
    # shop-wide click rate before each view, with one pseudo-click and one pseudo-miss
    prior = np.array([1 / 2, 2 / 3, 2 / 4, 3 / 5])
    user_clicks, user_views = np.array([0, 1, 0, 1]), np.array([0, 1, 0, 2])
    np.testing.assert_allclose(
        features["user_click_rate"], (user_clicks + prior) / (user_views + 1.0)
    )
    np.testing.assert_allclose(features["user_past_views"], np.log1p(user_views))
    np.testing.assert_allclose(features["user_category_share"], [0, 1, 0, 0])
    np.testing.assert_allclose(features["item_past_views"], np.log1p([0, 0, 1, 0]))
    mean_log_price = (np.log(100) + np.log(200)) / 2  # user 0's two earlier views
    np.testing.assert_allclose(
        features["price_vs_user"], [0, np.log(2), 0, np.log(10) - mean_log_price]
    )


def test_no_feature_reads_its_own_or_a_later_outcome():
    columns = list(NUMERIC_FEATURES)
    features = click_features(tiny_events(), tiny_items())
    # remove user 1's click and purchase (row 2 in time order): rows 0-2 must not change
    changed = click_features(tiny_events().drop(index=[4, 5]), tiny_items())
    assert changed["clicked"].tolist() == [1, 0, 0, 0]
    pd.testing.assert_frame_equal(changed.loc[:2, columns], features.loc[:2, columns])
    assert not np.allclose(changed.loc[3, columns], features.loc[3, columns])


def test_click_mlp_learns_a_signal_and_calibration_bins_are_equal_count():
    rng = np.random.default_rng(0)
    n = 2000
    frame = pd.DataFrame(rng.normal(size=(n, len(NUMERIC_FEATURES))), columns=NUMERIC_FEATURES)
    frame[S.CATEGORY] = rng.integers(0, 3, n)
    frame[S.PRICE_TIER] = rng.integers(0, 3, n)
    logit = 2.0 * frame["user_click_rate"] - 1.5 * (frame[S.CATEGORY] == 2)
    frame["clicked"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    numeric, categorical, label = click_tensors(frame)
    torch.manual_seed(0)
    model = ClickMLP(len(NUMERIC_FEATURES), [3, 3]).fit_scaler(numeric)

    def batches(epoch):
        order = torch.randperm(n, generator=epoch_generator(0, epoch))
        for i in range(0, n, 256):
            rows = order[i : i + 256]
            yield numeric[rows], categorical[rows], label[rows]

    def validate(m):
        return {"auc": auc(label.numpy(), m.predict_proba(numeric, categorical))}

    train(model, batches, 15, validate=validate, monitor="auc", lr=0.01, progress=False)
    assert validate(model)["auc"] > 0.8
    table = calibration_table(label.numpy(), model.predict_proba(numeric, categorical), n_bins=4)
    assert table["count"].tolist() == [500] * 4
    assert table["predicted"].is_monotonic_increasing


@pytest.mark.parametrize("module", ["sequences", "base", "attention", "click"])
def test_docstring_examples_run(module):
    imported = importlib.import_module(f"ecomrec.models.{module}")
    result = doctest.testmod(imported, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0

"""Assignment 05 (nbgrader source notebook): solutions against the library, the trained cell.

The solution functions are taken out of the source notebook and checked against the course
library (`ecomrec.ranking`, `ecomrec.datasets.social`) and against independent computations.
The structure every assignment shares (points, cell roles, solution passes, stub fails, wrong
answers such as repeats counted as places, a view at the target's time, a friends' window
without its start, an unstable softmax, a ranker that reads the other candidates) is
tests/test_assignment_structure.py's, with this assignment's facts in tests/assignments/a05.py.
Here the hidden tests are checked for what the exercise promises (duplicates, empty sets,
ties at the cut-off, the leakage trap), and the "trained ranker" cell with stand-in models:
the solution's own ranker trained by the helper must pass it, a fixed blend of features between
the visible and the hidden bar must fail the hidden threshold only, and co-occurrence alone, a
slow run or a model the helper did not train must fail.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from assignments.a05 import ASSIGNMENT, TRAINED_TEST
from assignments.spec import base_namespace
from nbsource import cell as _cell
from nbsource import run_cell
from torch import nn

from ecomrec import schema as S
from ecomrec.datasets.social import PurchaseLog, friend_lists, seconds_since_start
from ecomrec.ranking import RankingTargets, candidate_recall, listwise_softmax_loss

torch.set_num_threads(1)


def _read():
    return ASSIGNMENT.read()


@pytest.fixture(scope="module")
def base() -> dict:
    """Every code cell of the source except the test cells and the training call: imports,
    ShopSim and the split, the candidate tables, the training helper, the solutions."""
    return base_namespace(ASSIGNMENT)


def _hidden(grade_id: str) -> str:
    return _cell(_read(), grade_id).source.split("### BEGIN HIDDEN TESTS")[1]


# ------------------------------------------------------------------ metadata


def test_training_is_seeded_bounded_and_single_threaded():
    nb = _read()
    assert "fix_threads(1)" in _cell(nb, "imports").source
    setup = _cell(nb, "setup_part4").source
    assert "SEED = 2026" in setup and "torch.manual_seed(SEED)" in setup and "seed=SEED" in setup
    assert "if not 1 <= epochs <= 30:" in setup and "max_seconds" not in setup
    visible, hidden = _cell(nb, TRAINED_TEST).source.split("### BEGIN HIDDEN TESTS")
    assert "training_seconds <= 60" in visible
    assert 'TRAINING_LOG.get("seed") == 2026' in hidden


def test_hidden_threshold_is_stricter_than_the_visible_one_and_stated_in_the_text():
    visible, hidden = _cell(_read(), TRAINED_TEST).source.split("### BEGIN HIDDEN TESTS")
    assert "ndcg >= 0.18" in visible and "0.19" not in visible
    assert "ndcg >= 0.19" in hidden
    text = _cell(_read(), "part4_training").source
    assert "at least 0.19" in text and "60 seconds" in text


def test_hidden_tests_cover_what_the_exercise_promises():
    recall = _hidden("test_recall_at_k")
    assert "[[], [3]]" in recall, "an empty candidate set"
    assert "[[1, 1, 1, 1, 2]]" in recall, "duplicates"
    assert "k=1) == 1 / 3" in recall, "ties at the cut-off: the same lists, one place"
    trap = _hidden("test_category_share")
    assert "the leakage trap" in trap and "2026-02-01 12:00" in trap
    friends = _hidden("test_friends_bought_recently")
    assert "_t + pd.Timedelta(seconds=1)" in friends and "pd.Timedelta(days=30)" in friends
    assert "1000.0" in _hidden("test_listwise_loss"), "very large scores"


# ------------------------------------------------------------------ solutions against ecomrec


def test_recall_at_k_agrees_with_the_library_on_deduplicated_prefixes(base):
    recall_at_k = base["recall_at_k"]
    rng = np.random.default_rng(0)
    for n, m, k in [(1, 3, 1), (50, 12, 5), (400, 30, 10)]:
        lists = [rng.integers(0, 25, size=rng.integers(0, m)).tolist() for _ in range(n)]
        targets = rng.integers(0, 25, size=n)
        prefixes = [list(dict.fromkeys(c))[:k] for c in lists]
        assert recall_at_k(lists, targets, k) == pytest.approx(
            candidate_recall(prefixes, targets), abs=1e-15
        )
    # exact values: duplicates take no place, an empty set is a miss, k larger than the list
    assert recall_at_k([[5, 5, 5, 9], [], [1]], [9, 1, 1], k=2) == pytest.approx(2 / 3)
    for bad in [([[1]], [1, 2], 1), ([], [], 1), ([[1]], [1], 0)]:
        with pytest.raises(ValueError):
            recall_at_k(*bad)


def test_category_share_agrees_with_the_ranking_targets_histories(base):
    """On ShopSim: the share computed from RankingTargets (histories strictly before each
    target) equals the solution's, for 60 validation targets and each target's own category."""
    data, split = base["data"], base["split"]
    category = pd.factorize(data.items.sort_values(S.ITEM)[S.CATEGORY], sort=True)[0]
    targets = split.valid.iloc[::50]
    histories = RankingTargets.from_log(split.train, targets).histories
    shuffled = split.train.sample(frac=1.0, random_state=0)  # no order may be assumed
    for (_, row), history in zip(targets.iterrows(), histories, strict=True):
        c = int(category[row[S.ITEM]])
        expected = float(np.mean(category[history] == c)) if len(history) else 0.0
        got = base["category_share"](shuffled, category, row[S.USER], row[S.TIMESTAMP], c)
        assert got == pytest.approx(expected, abs=1e-12)


def test_friends_bought_recently_agrees_with_the_simulators_purchase_log(base):
    """ShopSim's own rule (PurchaseLog.friends_bought: the window before the time, strictly
    before it) gives the same counts for 40 test targets and the items their friends bought."""
    data, split = base["data"], base["split"]
    purchases = data.events[data.events[S.EVENT_TYPE] == "purchase"]
    log = PurchaseLog.from_events(data.events, data.n_users)
    friends = friend_lists(data.friendships, data.n_users)
    checked = 0
    for _, row in split.test.iloc[::75].iterrows():
        user, when = int(row[S.USER]), row[S.TIMESTAMP]
        t = int(seconds_since_start(pd.Series([when]))[0])
        counts = log.friends_bought(friends[user], t, 30 * 86400)
        items = list(counts)[:3] + [int(row[S.ITEM])]
        for item in items:
            got = base["friends_bought_recently"](purchases, friends[user], when, item)
            assert got == int(round(counts.get(item, 0.0))), (user, item)
            checked += 1
    assert checked > 40


def test_listwise_loss_agrees_with_the_library_and_numpy_and_its_gradient(base):
    listwise_loss = base["listwise_loss"]
    rng = np.random.default_rng(4)
    scores = rng.normal(size=(30, 11)) * 4
    labels = (rng.random((30, 11)) < 0.2).astype(float)
    labels[np.arange(30), rng.integers(0, 11, 30)] = 1.0
    log_p = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    reference = np.mean(-(labels * log_p).sum(axis=1) / labels.sum(axis=1))
    ours = torch.tensor(scores, requires_grad=True)
    theirs = torch.tensor(scores, requires_grad=True)
    loss = listwise_loss(ours, torch.tensor(labels))
    assert float(loss.detach()) == pytest.approx(reference, rel=1e-12)
    library = listwise_softmax_loss(theirs, torch.tensor(labels))
    assert float(loss.detach()) == pytest.approx(float(library.detach()), rel=1e-12)
    loss.backward()
    library.backward()
    # the gradient of the mean loss: (softmax - y / sum y) / n_lists
    softmax = np.exp(log_p)
    expected = (softmax - labels / labels.sum(axis=1, keepdims=True)) / len(scores)
    np.testing.assert_allclose(ours.grad.numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=1e-12)
    # shift invariance within a list, and finite at huge scores
    shifted = listwise_loss(torch.tensor(scores + 5000.0), torch.tensor(labels))
    assert float(shifted) == pytest.approx(reference, rel=1e-9)


# ------------------------------------------------------------------ the trained-model test


def _blend(base: dict, weights: dict[str, float]) -> nn.Module:
    """A Ranker that needs no training: a fixed weighted sum of the standardised features
    (standardised with the training lists' mean and deviation)."""
    names = list(base["fit_table"].names)
    flat = base["x_fit"].reshape(-1, len(names))
    mean = torch.as_tensor(flat.mean(axis=0))
    std = torch.as_tensor(flat.std(axis=0) + 1e-6)
    w = torch.zeros(len(names), dtype=torch.float32)
    for name, value in weights.items():
        w[names.index(name)] = value

    class Blend(base["Ranker"]):
        def __init__(self):
            nn.Module.__init__(self)
            self.unused = nn.Parameter(torch.zeros(1))

        def forward(self, values):
            return ((values - mean) / std) @ w

    return Blend()


# about 0.187 validation NDCG@10: between the visible bar (0.18) and the hidden one (0.19)
MEDIOCRE = {
    "mission_category": 1.02,
    "mission_tier": 0.69,
    "mission_brand": 0.26,
    "friend_purchases": 2.04,
    "log_markov": 0.63,
    "cooccurrence": 0.41,
    "lift_1": 0.45,
    "brand_1": 0.38,
    "user_category_share": 0.12,
    "user_brand_share": 0.53,
    "log_popularity": 0.18,
    "last_category": 0.12,
}


def _trained_test(base: dict, model, seconds: float | None = 1.0, hidden: bool = True) -> None:
    namespace = dict(base)
    namespace["model"] = model
    namespace["TRAINING_LOG"] = (
        {} if seconds is None else {"model": model, "seconds": seconds, "seed": 2026}
    )
    source = _cell(_read(), TRAINED_TEST).source
    if not hidden:
        source = source.split("### BEGIN HIDDEN TESTS")[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_cell(source, namespace, TRAINED_TEST)


@pytest.fixture(scope="module")
def trained(base):
    """The solution's Ranker trained by the helper with the solution's settings (10 epochs):
    the helper's own log says how long it took and with which seed."""
    namespace = run_cell(_cell(_read(), "train_model").source, base, "train_model")
    return namespace


def test_the_solution_ranker_trained_by_the_helper_passes_the_hidden_threshold(trained):
    log = trained["TRAINING_LOG"]
    assert log["model"] is trained["model"] and log["seed"] == 2026
    assert trained["valid_ndcg"] >= 0.195, "the solution needs a margin over the hidden bar"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_cell(_cell(_read(), TRAINED_TEST).source, trained, TRAINED_TEST)


def test_the_helper_refuses_unbounded_training(base):
    with pytest.raises(ValueError, match="epochs must be 1 to 30"):
        base["train_ranker"](lambda n: base["Ranker"](n), epochs=31)


def test_hidden_threshold_rejects_a_mediocre_model(base):
    mediocre = _blend(base, MEDIOCRE)
    ndcg = base["validation_ndcg"](
        mediocre(torch.as_tensor(base["valid_table"].values)).double().detach().numpy()
    )
    assert 0.18 <= ndcg < 0.19, ndcg
    _trained_test(base, mediocre, hidden=False)
    with pytest.raises(AssertionError, match="hidden threshold of 0.19"):
        _trained_test(base, mediocre)


@pytest.mark.parametrize("why", ["co-occurrence alone", "too slow", "not trained by the helper"])
def test_trained_cell_fails(base, why):
    model, seconds = _blend(base, MEDIOCRE), 1.0
    if why == "co-occurrence alone":
        model = _blend(base, {"cooccurrence": 1.0})
    elif why == "too slow":
        seconds = 61.0
    else:
        seconds = None
    with pytest.raises(AssertionError):
        _trained_test(base, model, seconds, hidden=False)

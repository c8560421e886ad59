"""Assignment 02 (nbgrader source notebook): solutions against the library, the trained cell.

The solution functions are taken out of the source notebook and checked against the course
library (`ecomrec.models`) and PyTorch. The structure every assignment shares (points, cell
roles, solution passes, stub fails, wrong answers such as sigmoid instead of tanh, an
overflowing sigmoid, the oldest items kept, a model that reads the future) is
tests/test_assignment_structure.py's, with this assignment's facts in
tests/assignments/a02.py. Training the model (about 40 s) is left to `course check`; here the
"beats Markov" cell is checked with stand-in models: a co-occurrence scorer wrapped in the
student's class must pass it, an untrained model, a slow run or a library model must not.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from assignments.a02 import ASSIGNMENT, TRAINED_TEST, TRAINING_CELL
from assignments.spec import base_namespace
from nbsource import cell as _cell
from nbsource import is_solution_code as _is_solution_code
from nbsource import nbgrader as _nbgrader
from torch import nn

from ecomrec.baselines import ItemCooccurrence, Markov
from ecomrec.models.base import interest_score
from ecomrec.models.gru import formula_weights, rnn_cell_step
from ecomrec.models.sequences import next_item_batch, pad_right
from ecomrec.scoring import ScoringContext


def _read():
    return ASSIGNMENT.read()


def run_test_cell(source: str, base: dict, name: str = "test") -> None:
    """Exec a test cell in a copy of `base`: it sees the given cells, never another test's names."""
    exec(compile(source, name, "exec"), dict(base))


@pytest.fixture(scope="module")
def ns() -> dict:
    """The imports cell and every solution cell except the training call (no data, no tests)."""
    nb = _read()
    namespace: dict = {}
    exec(compile(_cell(nb, "imports").source, "imports", "exec"), namespace)
    for cell in nb.cells:
        if _is_solution_code(cell) and _nbgrader(cell)["grade_id"] != TRAINING_CELL:
            exec(compile(cell.source, _nbgrader(cell)["grade_id"], "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def base() -> dict:
    """Every code cell of the source except the test cells and the training call."""
    return base_namespace(ASSIGNMENT)


# ------------------------------------------------------------------ metadata


def test_training_is_seeded_bounded_and_single_threaded():
    nb = _read()
    imports = _cell(nb, "imports").source
    assert "fix_threads(1)" in imports
    setup = _cell(nb, "setup_part4").source
    assert "torch.manual_seed(2026)" in setup and "seed=2026" in setup
    assert "if not 1 <= epochs <= 6:" in setup and "max_seconds" not in setup
    test = _cell(nb, TRAINED_TEST).source.split("### BEGIN HIDDEN TESTS")[0]
    assert "training_seconds <= 60" in test


# ------------------------------------------------------------------ solutions against ecomrec


def test_rnn_cell_agrees_with_the_library_and_torch(ns):
    rng = np.random.default_rng(0)
    for d_x, d_h, batch in [(3, 5, 4), (6, 6, 1), (8, 2, 9)]:
        torch.manual_seed(d_x + d_h)
        cell = nn.RNNCell(d_x, d_h).double()
        weight, bias = formula_weights(cell)
        h = torch.from_numpy(rng.normal(size=(batch, d_h)))
        x = torch.from_numpy(rng.normal(size=(batch, d_x)))
        got = ns["rnn_cell"](h.numpy(), x.numpy(), weight.numpy(), bias.numpy())
        np.testing.assert_allclose(got, rnn_cell_step(h, x, weight, bias).numpy(), rtol=1e-12)
        with torch.no_grad():
            np.testing.assert_allclose(got, cell(x, h).numpy(), rtol=1e-10, atol=1e-12)


def test_interest_scores_agree_with_the_library(ns):
    rng = np.random.default_rng(1)
    states, items = rng.normal(size=(7, 5)), rng.normal(size=(11, 5))
    expected = interest_score(torch.from_numpy(states), torch.from_numpy(items)).numpy()
    np.testing.assert_allclose(ns["interest_scores"](states, items), expected, rtol=1e-12)
    np.testing.assert_allclose(ns["interest_scores"](states[2], items), expected[2], rtol=1e-12)
    huge = ns["interest_scores"](np.array([[800.0], [-800.0]]), np.array([[1.0], [2.0]]))
    assert huge.tolist() == [[1.0, 1.0], [0.0, 0.0]]


def test_pad_batch_agrees_with_the_library(ns):
    rng = np.random.default_rng(2)
    sequences = [rng.integers(0, 50, size=n) for n in rng.integers(0, 9, size=30)]
    for max_len in (1, 3, 8, 20):
        shifted = [s + 1 for s in sequences]
        expected_ids, expected_mask = pad_right(shifted, pad_value=0, max_len=max_len)
        ids, mask = ns["pad_batch"](sequences, max_len)
        np.testing.assert_array_equal(ids, expected_ids)
        np.testing.assert_array_equal(mask, expected_mask)
        # left padding = right padding of the reversed (truncated) rows, read backwards
        reversed_ids, reversed_mask = pad_right([s[-max_len:][::-1] for s in shifted], 0)
        ids, mask = ns["pad_batch"](sequences, max_len, side="left")
        np.testing.assert_array_equal(ids, reversed_ids[:, ::-1])
        np.testing.assert_array_equal(mask, reversed_mask[:, ::-1])


def _toy_batch(n_items: int, lengths=(7, 3, 5), seed: int = 3):
    rng = np.random.default_rng(seed)
    sequences = [rng.integers(0, n_items, size=n) for n in lengths]
    flags = [np.r_[True, rng.random(n - 1) < 0.3] for n in lengths]
    return next_item_batch(sequences, flags, n_items)


def test_solution_model_is_causal_and_learns(ns, base):
    n_items = 20
    features = {"a": np.arange(n_items) % 3, "b": np.arange(n_items) % 5}
    torch.manual_seed(0)
    model = ns["SequenceRecommender"](n_items, features, dim=16).eval()
    batch = _toy_batch(n_items)
    with torch.no_grad():
        logits = model(batch)
    assert logits.shape == (3, 6, n_items)
    changed = copy.copy(batch)
    changed.items = batch.items.clone()
    changed.items[0, 4:] = (batch.items[0, 4:] + 1) % n_items
    with torch.no_grad():
        torch.testing.assert_close(model(changed)[:, :4], logits[:, :4])
    # a deterministic successor rule (i -> i + 1) is learnt in a few hundred steps
    model.train()
    sequences = [np.arange(start, start + 8) % n_items for start in range(n_items)]
    flags = [np.r_[True, np.zeros(7, dtype=bool)] for _ in sequences]
    train_batch = next_item_batch(sequences, flags, n_items)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = base["next_item_loss"](model(train_batch), train_batch).item()
    for _ in range(150):
        loss = base["next_item_loss"](model(train_batch), train_batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first


# ------------------------------------------------------------------ the trained-model test


def _stand_in(base: dict, kind: str) -> nn.Module:
    """A SequenceRecommender that scores like a fitted baseline ("cooccurrence" or "markov"), or
    an untrained one."""
    student_class = base["SequenceRecommender"]
    n_items = base["n_items"]
    if kind == "untrained":
        torch.manual_seed(0)
        return student_class(n_items, base["features"], dim=64)
    baseline = {"cooccurrence": ItemCooccurrence, "markov": Markov}[kind]()
    baseline.fit(base["split"].train, n_items)

    class BaselineStandIn(student_class):
        def __init__(self):
            nn.Module.__init__(self)
            self.unused = nn.Parameter(torch.zeros(1))

        def forward(self, batch):
            rows = [
                items[:length][items[:length] < n_items]
                for items, length in zip(batch.items.numpy(), batch.lengths.numpy(), strict=True)
            ]
            scores = baseline.score(ScoringContext(np.zeros(len(rows), dtype=np.int64), rows))
            logits = torch.zeros(*batch.items.shape, n_items, dtype=torch.float64)
            logits[torch.arange(len(rows)), batch.lengths - 1] = torch.from_numpy(scores)
            return logits

    return BaselineStandIn()


def _trained_test(base: dict, model: nn.Module, seconds: float):
    namespace = dict(base)
    namespace["model"] = model
    namespace["TRAINING_LOG"] = {"model": model, "seconds": seconds, "seed": 2026}
    run_test_cell(_cell(_read(), TRAINED_TEST).source, namespace, TRAINED_TEST)


def test_beats_markov_passes_a_stronger_model(base):
    # the whole cell, hidden tests included (the visible tests are its first lines)
    _trained_test(base, _stand_in(base, "cooccurrence"), seconds=1.0)


@pytest.mark.parametrize(
    "why", ["untrained", "ties with markov", "too slow", "library model", "not trained by helper"]
)
def test_beats_markov_fails(base, why):
    from ecomrec.models import GRUNextItem

    if why == "untrained":
        model, seconds = _stand_in(base, "untrained"), 1.0
    elif why == "ties with markov":  # not 5% above it
        model, seconds = _stand_in(base, "markov"), 1.0
    elif why == "too slow":
        model, seconds = _stand_in(base, "cooccurrence"), 61.0
    elif why == "library model":
        torch.manual_seed(0)
        model, seconds = GRUNextItem(base["n_items"]), 1.0
    else:
        namespace = dict(base)
        namespace["model"] = _stand_in(base, "cooccurrence")
        namespace["TRAINING_LOG"] = {}
        with pytest.raises(AssertionError):
            run_test_cell(_cell(_read(), TRAINED_TEST).source, namespace, TRAINED_TEST)
        return
    with pytest.raises(AssertionError):
        _trained_test(base, model, seconds)


def test_markov_bar_is_the_validation_ndcg(base):
    # the bar students see: realised NDCG@10 of Markov on the validation targets
    assert 0.06 < base["markov_ndcg"] < 0.11
    assert math.isfinite(base["markov_ndcg"])

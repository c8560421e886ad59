"""Assignment 04 (nbgrader source notebook): structure, solutions, and tests that can fail.

The solution functions are taken out of the source notebook and checked against the course
library (`ecomrec.graph`) and PyTorch Geometric. The notebook's own test cells (hidden tests
included) must pass on the solution, fail on an untouched release, and fail on typical wrong
answers (no self-loops, row instead of symmetric normalisation, repeated edges counted twice, the
bias outside the activation, LightGCN's combine-then-dot instead of the per-layer score, a model
that ignores the edges, ...). Training the real model is `course check`'s job; here the
"finds hidden friendships" cell is checked with stand-in models that need no training (a fixed
blend of taste similarity and shared friends): a good blend must pass it, a weaker one must fail
the hidden threshold only, and an edge-blind one, a slow run or a library model must fail.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions
from nbsource import cell as _cell
from nbsource import is_solution_code as _is_solution_code
from nbsource import is_test_cell as _is_test_cell
from nbsource import nbgrader as _nbgrader
from nbsource import read, run_cell
from torch import nn

from ecomrec.graph import (
    GCN,
    GraphConv,
    LinkPredictor,
    friendship_edges,
    layer_combined_logits,
    normalized_adjacency,
)

ROOT = Path(__file__).resolve().parents[1]
SLUG = "04-graph-relations"
SOURCE = ROOT / "solutions" / SLUG / f"{SLUG}.ipynb"
TRAINING_CELL = "train_model"  # the one answer cell that trains (left to course check)
TRAINED_TEST = "test_finds_friendships"

# grade_id -> points, as in the syllabus: 3 + 2 + 2 + (1 + 2) autograded, 2 by hand
EXPECTED_POINTS = {
    "test_normalized_adjacency": 3,
    "test_gcn_layer": 2,
    "test_relationship_scores": 2,
    "test_friendship_model": 1,
    "test_finds_friendships": 2,
    "written_answer": 2,
}

torch.set_num_threads(1)


def _read():
    return read(SOURCE)


@pytest.fixture(scope="module")
def base() -> dict:
    """Every code cell of the source except the test cells and the training call: imports,
    ShopSim and the split, the training helper, the solutions."""
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cell in _read().cells:
            gid = _nbgrader(cell).get("grade_id")
            if cell.cell_type == "code" and not _is_test_cell(cell) and gid != TRAINING_CELL:
                exec(compile(cell.source, gid, "exec"), namespace)
    return namespace


# ------------------------------------------------------------------ structure and metadata


def test_points_match_the_syllabus():
    nb = _read()
    graded = {_nbgrader(c)["grade_id"]: _nbgrader(c) for c in nb.cells if _nbgrader(c).get("grade")}
    assert {gid: meta["points"] for gid, meta in graded.items()} == EXPECTED_POINTS
    auto = sum(m["points"] for m in graded.values() if not m["solution"])
    manual = sum(m["points"] for m in graded.values() if m["solution"])
    assert (auto, manual) == (10, 2)
    intro = _cell(nb, "intro").source
    assert "Total: 12 points, 10 graded by tests and 2 by an instructor" in intro


def test_cell_roles_are_consistent():
    for cell in _read().cells:
        meta = _nbgrader(cell)
        gid = meta["grade_id"]
        if _is_solution_code(cell):
            assert not meta["grade"] and not meta["locked"], gid
            assert cell.source.count("### BEGIN SOLUTION") == cell.source.count("### END SOLUTION")
            assert "### BEGIN SOLUTION" in cell.source, gid
        elif _is_test_cell(cell):
            assert meta["locked"] and not meta["solution"], gid
            source = cell.source
            assert source.count("### BEGIN HIDDEN TESTS") == 1, gid
            assert source.count("### END HIDDEN TESTS") == 1, gid
            assert "assert " in source.split("### BEGIN HIDDEN TESTS")[0], gid
            # nbgrader gives partial credit from a cell's final value: end with a print
            last = ast.parse(source).body[-1]
            assert isinstance(last, ast.Expr) and last.value.func.id == "print", gid
            # anything on stderr scores a test cell 0: no progress bars or training in one
            calls = {
                node.func.id
                for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            }
            assert "tqdm" not in source and "train_friendship_model" not in calls, gid
        elif cell.cell_type == "markdown" and meta["solution"]:
            assert meta["grade"] and not meta["locked"], gid
        else:
            assert meta["locked"] and not meta["grade"] and not meta["solution"], gid


def test_training_is_seeded_bounded_and_single_threaded():
    nb = _read()
    assert "fix_threads(1)" in _cell(nb, "imports").source
    setup = _cell(nb, "setup_part4").source
    assert "SEED = 2026" in setup and "torch.manual_seed(SEED)" in setup and "seed=SEED" in setup
    assert "if not 1 <= epochs <= 300:" in setup and "max_seconds" not in setup
    visible, hidden = _cell(nb, TRAINED_TEST).source.split("### BEGIN HIDDEN TESTS")
    assert "training_seconds <= 60" in visible
    assert 'TRAINING_LOG.get("seed") == 2026' in hidden


def test_hidden_threshold_is_stricter_than_the_visible_one():
    visible, hidden = _cell(_read(), TRAINED_TEST).source.split("### BEGIN HIDDEN TESTS")
    assert 'test_metrics["auc"] >= 0.85' in visible and "0.87" not in visible
    assert "hidden_auc >= 0.87" in hidden


# ------------------------------------------------------------------ solutions against ecomrec


def test_normalized_adjacency_agrees_with_the_library(base):
    rng = np.random.default_rng(0)
    for n, m in [(5, 4), (40, 90), (300, 1000)]:
        pairs = rng.integers(0, n, size=(2, m))
        expected = normalized_adjacency(pairs, n).double().numpy()  # float32 in the library
        np.testing.assert_allclose(base["normalized_adjacency"](pairs, n), expected, atol=1e-6)
    edges = friendship_edges(base["data"].friendships)
    ours = base["normalized_adjacency"](edges, 3000)
    np.testing.assert_allclose(ours, normalized_adjacency(edges, 3000).numpy(), atol=1e-6)
    # exact values: the path 0 - 1 - 2 has degrees 2, 3, 2 with the self-loops
    path = base["normalized_adjacency"](np.array([[0, 1], [1, 2]]), 3)
    assert path[0, 1] == pytest.approx(6**-0.5, rel=1e-15)
    assert path[1, 1] == pytest.approx(1 / 3, rel=1e-15)


def test_gcn_layer_agrees_with_graph_conv_and_gcn_conv(base):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script, inside PyG
        from torch_geometric.nn import GCNConv

    rng = np.random.default_rng(1)
    for n, d_in, d_out in [(10, 3, 4), (50, 8, 8)]:
        pairs = rng.integers(0, n, size=(2, 3 * n))
        pairs = np.unique(np.sort(pairs[:, pairs[0] != pairs[1]], axis=0), axis=1)
        torch.manual_seed(n)
        layer = GraphConv(d_in, d_out)
        with torch.no_grad():
            layer.bias.normal_()
        x = torch.randn(n, d_in)
        for sparse in (False, True):
            a_hat = normalized_adjacency(pairs, n, sparse=sparse)
            with torch.no_grad():
                ours = base["gcn_layer"](a_hat, x, layer.linear.weight.T, layer.bias, None)
                torch.testing.assert_close(ours, layer(x, a_hat), atol=1e-5, rtol=1e-5)
        conv = GCNConv(d_in, d_out)
        edge_index = torch.as_tensor(np.concatenate([pairs, pairs[::-1]], axis=1))
        with torch.no_grad():
            ours = base["gcn_layer"](
                normalized_adjacency(pairs, n), x, conv.lin.weight.T, conv.bias, torch.relu
            )
            torch.testing.assert_close(ours, torch.relu(conv(x, edge_index)), atol=1e-5, rtol=1e-5)


def test_relationship_scores_agree_with_the_library(base):
    generator = torch.Generator().manual_seed(2)
    layers = [torch.randn(20, d, generator=generator) for d in (4, 7, 2)]
    pairs = torch.randint(0, 20, (2, 33), generator=generator)
    alphas, a = [0.5, 0.2, 0.3], 0.8
    expected = torch.sigmoid(layer_combined_logits(layers, pairs, alphas, a))
    torch.testing.assert_close(base["relationship_scores"](layers, pairs, alphas, a), expected)
    torch.testing.assert_close(
        base["relationship_scores"](layers, pairs.numpy(), alphas, a), expected
    )


def test_solution_model_learns_from_the_graph_in_a_few_epochs(base):
    """A short run of the solution model (30 epochs, a few seconds) beats both references."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, run = base["train_friendship_model"](
            lambda: base["FriendshipModel"](base["n_features"]), lr=0.01, epochs=30
        )
        auc = base["evaluate_link_predictor"](
            model, base["x"], base["train_graph"], base["split"].test, base["test_negatives"]
        )["auc"]
    assert base["TRAINING_LOG"]["model"] is model and run.epochs_run == 30
    assert auc > 0.83  # the taste-similarity reference is about 0.80


# ------------------------------------------------------------------ the fast test cells


def _fast_test_cells():
    return [
        c for c in _read().cells if _is_test_cell(c) and _nbgrader(c)["grade_id"] != TRAINED_TEST
    ]


def test_solution_passes_every_fast_test_cell(base):
    """Hidden tests included; each cell alone, so no test relies on another test's names."""
    for cell in _fast_test_cells():
        run_cell(cell.source, base, _nbgrader(cell)["grade_id"])


def test_visible_tests_pass_on_their_own(base):
    release, _ = ClearHiddenTests().preprocess(_read(), {})
    for cell in release.cells:
        if _is_test_cell(cell) and _nbgrader(cell)["grade_id"] != TRAINED_TEST:
            assert "HIDDEN" not in cell.source
            run_cell(cell.source, base, _nbgrader(cell)["grade_id"])


def test_untouched_release_fails_every_test_cell(base):
    release, _ = ClearSolutions().preprocess(_read(), {})
    stubs = dict(base)
    stubs.pop("model", None)
    for cell in release.cells:
        if _is_solution_code(cell):
            assert "raise NotImplementedError()" in cell.source
            if _nbgrader(cell)["grade_id"] == TRAINING_CELL:
                with pytest.raises(NotImplementedError):
                    exec(compile(cell.source, "stub", "exec"), stubs)
            else:
                exec(compile(cell.source, "stub", "exec"), stubs)
    for cell in release.cells:
        if _is_test_cell(cell):
            # the training test finds no trained model: an assertion; the others hit the stubs
            expected = (
                AssertionError
                if _nbgrader(cell)["grade_id"] == TRAINED_TEST
                else (NotImplementedError)
            )
            with pytest.raises(expected):
                run_cell(cell.source, stubs)


# which student names each test cell uses: a mistake in one answer costs the points of the
# cells that use it and no others (the trained-model test reads `model`, which the training
# call sets, through globals() so that the release, where the call is a stub, still runs)
CALLS = {
    "test_normalized_adjacency": {"normalized_adjacency"},
    "test_gcn_layer": {"gcn_layer"},
    "test_relationship_scores": {"relationship_scores"},
    "test_friendship_model": {"FriendshipModel"},
    "test_finds_friendships": {"FriendshipModel"},
}


def test_each_test_cell_uses_only_its_own_answers():
    nb = _read()
    student_names = set()
    for cell in nb.cells:
        if _is_solution_code(cell):
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.FunctionDef | ast.ClassDef):
                    student_names.add(node.name)
                elif isinstance(node, ast.Assign):
                    for target in node.targets:
                        student_names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    assert student_names == set().union(*CALLS.values()) | {"model", "run"}
    for cell in nb.cells:
        if _is_test_cell(cell):
            names = {n.id for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.Name)}
            assert names & student_names == CALLS[_nbgrader(cell)["grade_id"]]


EDGE_BLIND = """
class FriendshipModel(nn.Module):
    def __init__(self, n_features, hidden=64):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(n_features, 32), nn.ReLU(), nn.Linear(32, 32))

    def forward(self, x, graph, pairs):
        h = self.mlp(x)
        return (h[pairs[0]] * h[pairs[1]]).sum(dim=1)
"""
LIBRARY_MODEL = """
from ecomrec.graph import GCN as _GCN, LinkPredictor as _LinkPredictor


class FriendshipModel(_LinkPredictor):
    def __init__(self, n_features, hidden=64):
        super().__init__(_GCN(n_features, [16, 16]), "common")
"""
ADJACENCY_LINE = (
    "    inv_sqrt = 1.0 / np.sqrt(a.sum(axis=1))  # every degree is at least 1 with the self-loop"
)
SYMMETRIC_RETURN = "    return inv_sqrt[:, None] * a * inv_sqrt[None, :]"
EDGE_LINES = """    a[u[keep], v[keep]] = 1.0  # assignment, not addition: a repeated edge stays 1
    a[v[keep], u[keep]] = 1.0  # both directions: the graph is undirected"""
PER_LAYER_SUM = (
    "sum(alpha * (h[u] * h[v]).sum(dim=1) for alpha, h in zip(alphas, layers, strict=True))"
)

# (answer cell, text replaced (None: whole cell), replacement, test cell that must fail,
#  caught by the hidden tests only)
WRONG_ANSWERS = {
    "adjacency without self-loops": (
        "normalized_adjacency",
        "    a[np.arange(n_nodes), np.arange(n_nodes)] = 1.0  # + I\n",
        "",
        "test_normalized_adjacency",
        False,
    ),
    "adjacency row-normalised D^-1 (A + I)": (
        "normalized_adjacency",
        ADJACENCY_LINE + "\n" + SYMMETRIC_RETURN,
        "    return a / a.sum(axis=1, keepdims=True)",
        "test_normalized_adjacency",
        False,
    ),
    "adjacency degrees without the self-loop": (
        "normalized_adjacency",
        ADJACENCY_LINE,
        "    inv_sqrt = 1.0 / np.sqrt(np.maximum(a.sum(axis=1) - 1.0, 1.0))",
        "test_normalized_adjacency",
        False,
    ),
    "adjacency counts repeated edges": (
        "normalized_adjacency",
        EDGE_LINES,
        "    np.add.at(a, (u[keep], v[keep]), 1.0)\n    np.add.at(a, (v[keep], u[keep]), 1.0)",
        "test_normalized_adjacency",
        False,
    ),
    "adjacency one direction only": (
        "normalized_adjacency",
        EDGE_LINES,
        "    a[u[keep], v[keep]] = 1.0",
        "test_normalized_adjacency",
        False,
    ),
    "adjacency doubles a listed self-loop": (
        "normalized_adjacency",
        "    a[np.arange(n_nodes), np.arange(n_nodes)] = 1.0  # + I\n",
        "    a[u[~keep], v[~keep]] = 1.0\n    a += np.eye(n_nodes)\n",
        "test_normalized_adjacency",
        True,
    ),
    "adjacency in float32": (
        "normalized_adjacency",
        SYMMETRIC_RETURN,
        "    return (inv_sqrt[:, None] * a * inv_sqrt[None, :]).astype(np.float32)",
        "test_normalized_adjacency",
        False,
    ),
    "adjacency modifies its input": (
        "normalized_adjacency",
        "    u, v = np.asarray(edges, dtype=np.int64).reshape(2, -1)",
        "    e = np.asarray(edges)\n"
        "    e.sort(axis=0)\n"
        "    u, v = e.astype(np.int64).reshape(2, -1)",
        "test_normalized_adjacency",
        True,
    ),
    "layer with W transposed": (
        "gcn_layer",
        "a_hat @ (h @ weight) + bias",
        "a_hat @ (h @ weight.T) + bias",
        "test_gcn_layer",
        False,
    ),
    "layer with the bias after the activation": (
        "gcn_layer",
        "out = a_hat @ (h @ weight) + bias  # W first: the sparse product then has d_out columns\n"
        "    return out if activation is None else activation(out)",
        "out = a_hat @ (h @ weight)\n"
        "    return (out if activation is None else activation(out)) + bias",
        "test_gcn_layer",
        False,
    ),
    "layer always applies the ReLU": (
        "gcn_layer",
        "return out if activation is None else activation(out)",
        "return torch.relu(out)",
        "test_gcn_layer",
        False,
    ),
    "layer ignores the activation it is given": (
        "gcn_layer",
        "return out if activation is None else activation(out)",
        "return out if activation is None else torch.relu(out)",
        "test_gcn_layer",
        True,
    ),
    "layer cut off from the graph of gradients": (
        "gcn_layer",
        "out = a_hat @ (h @ weight) + bias",
        "out = (a_hat @ (h @ weight) + bias).detach()",
        "test_gcn_layer",
        True,
    ),
    "score combines the layers first (LightGCN)": (
        "relationship_scores",
        PER_LAYER_SUM,
        "(lambda e: (e[u] * e[v]).sum(dim=1))"
        "(sum(alpha * h for alpha, h in zip(alphas, layers, strict=True)))",
        "test_relationship_scores",
        False,
    ),
    "score with a outside the sigmoid": (
        "relationship_scores",
        "return torch.sigmoid(a * total)",
        "return a * torch.sigmoid(total)",
        "test_relationship_scores",
        False,
    ),
    "score without the sigmoid": (
        "relationship_scores",
        "return torch.sigmoid(a * total)",
        "return a * total",
        "test_relationship_scores",
        False,
    ),
    "score with a uniform mean over layers": (
        "relationship_scores",
        PER_LAYER_SUM,
        "sum((h[u] * h[v]).sum(dim=1) for h in layers) / len(layers)",
        "test_relationship_scores",
        True,
    ),
    "score through float(alpha)": (
        "relationship_scores",
        PER_LAYER_SUM,
        "sum(float(alpha) * (h[u] * h[v]).sum(dim=1) "
        "for alpha, h in zip(alphas, layers, strict=True))",
        "test_relationship_scores",
        True,
    ),
    "model ignores the edges (the article's dense network)": (
        "friendship_model",
        None,
        EDGE_BLIND,
        "test_friendship_model",
        False,
    ),
    "model built from the library": (
        "friendship_model",
        None,
        LIBRARY_MODEL,
        "test_friendship_model",
        False,
    ),
    "model scores depend on the batch": (
        "friendship_model",
        "return self.readout(features).squeeze(1)",
        "logits = self.readout(features).squeeze(1)\n"
        "        return (logits - logits.mean()) / logits.std()",
        "test_friendship_model",
        True,
    ),
}


@pytest.mark.parametrize("wrong", sorted(WRONG_ANSWERS))
def test_wrong_answers_lose_their_points(base, wrong):
    solution_id, old, new, test_id, hidden_only = WRONG_ANSWERS[wrong]
    nb = _read()
    source = _cell(nb, solution_id).source
    if old is None:
        mutated = new
    else:
        assert old in source, f"{wrong}: the solution no longer contains {old!r}"
        mutated = source.replace(old, new)
    namespace = run_cell(mutated, base, solution_id)
    test_source = _cell(nb, test_id).source
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the wrong answers may warn: we look at the verdict
        with pytest.raises((AssertionError, RuntimeError)):
            run_cell(test_source, namespace, test_id)
        if hidden_only:  # the visible sample passes: only the hidden tests catch this one
            run_cell(test_source.split("### BEGIN HIDDEN TESTS")[0], namespace, test_id)


def test_a_zero_initialised_readout_is_not_taken_for_an_edge_blind_model(base):
    """At zero weights every pair gets the same logit whatever the graph: the rewiring check
    jitters the weights, so a common initialisation does not cost the point."""
    old = "nn.Linear(64, 1))"
    source = _cell(_read(), "friendship_model").source
    assert old in source
    mutated = source.replace(
        old, "nn.Linear(64, 1))\n        nn.init.zeros_(self.readout[2].weight)"
    )
    namespace = run_cell(mutated, base, "friendship_model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_cell(_cell(_read(), "test_friendship_model").source, namespace)


# ------------------------------------------------------------------ the trained-model test


def _blend(base: dict, weight: float) -> nn.Module:
    """A FriendshipModel that needs no training: taste similarity (cosine of the category
    shares) + `weight` * log(1 + shared friends). Weight 1 reaches about 0.89 AUC, 0.3 about
    0.86 (between the visible and the hidden bar), 0 is taste alone (about 0.80, no edges)."""
    category = torch.tensor([name.startswith("category:") for name in base["feature_names"]])

    class Blend(base["FriendshipModel"]):
        def __init__(self):
            nn.Module.__init__(self)
            self.unused = nn.Parameter(torch.zeros(1))

        def forward(self, x, graph, pairs):
            shares = x[:, category]
            unit = shares / shares.norm(dim=1, keepdim=True).clamp_min(1e-12)
            taste = (unit[pairs[0]] * unit[pairs[1]]).sum(dim=1)
            shared = graph.common_neighbours(pairs.numpy())
            n_shared = torch.sparse.mm(shared, torch.ones(x.shape[0], 1)).squeeze(1)
            return taste + weight * torch.log1p(n_shared)

    return Blend()


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


def test_finds_friendships_passes_a_good_model(base):
    _trained_test(base, _blend(base, 1.0))


def test_hidden_threshold_rejects_a_mediocre_model(base):
    mediocre = _blend(base, 0.3)
    _trained_test(base, mediocre, hidden=False)
    with pytest.raises(AssertionError, match="threshold of 0.87"):
        _trained_test(base, mediocre)


@pytest.mark.parametrize(
    "why", ["edge-blind", "too slow", "library model", "not trained by the helper"]
)
def test_finds_friendships_fails(base, why):
    model, seconds = _blend(base, 1.0), 1.0
    if why == "edge-blind":
        model = _blend(base, 0.0)
    elif why == "too slow":
        seconds = 61.0
    elif why == "library model":
        torch.manual_seed(0)
        model = LinkPredictor(GCN(base["n_features"], [16, 16]))
    else:
        seconds = None
    with pytest.raises(AssertionError):
        _trained_test(base, model, seconds)

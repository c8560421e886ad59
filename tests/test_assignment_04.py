"""Assignment 04 (nbgrader source notebook): solutions against the library, the trained cell.

The solution functions are taken out of the source notebook and checked against the course
library (`ecomrec.graph`) and PyTorch Geometric. The structure every assignment shares (points,
cell roles, solution passes, stub fails, wrong answers such as no self-loops, row instead of
symmetric normalisation, repeated edges counted twice, the bias outside the activation,
LightGCN's combine-then-dot instead of the per-layer score, a model that ignores the edges) is
tests/test_assignment_structure.py's, with this assignment's facts in
tests/assignments/a04.py. Training the real model is `course check`'s job; here the
"finds hidden friendships" cell is checked with stand-in models that need no training (a fixed
blend of taste similarity and shared friends): a good blend must pass it, a weaker one must fail
the hidden threshold only, and an edge-blind one, a slow run or a library model must fail.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from assignments.a04 import ASSIGNMENT, TRAINED_TEST
from assignments.spec import base_namespace
from nbsource import cell as _cell
from nbsource import run_cell
from torch import nn

from ecomrec.graph import (
    GCN,
    GraphConv,
    LinkPredictor,
    friendship_edges,
    layer_combined_logits,
    normalized_adjacency,
)

torch.set_num_threads(1)


def _read():
    return ASSIGNMENT.read()


@pytest.fixture(scope="module")
def base() -> dict:
    """Every code cell of the source except the test cells and the training call: imports,
    ShopSim and the split, the training helper, the solutions."""
    return base_namespace(ASSIGNMENT)


# ------------------------------------------------------------------ metadata


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

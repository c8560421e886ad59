"""Assignment 06 (nbgrader source notebook): solutions against the library, the trained cell.

The solution functions are taken out of the source notebook and checked against the course
library (`ecomrec.search`) and `bm25s` on ShopSim's own listings. The structure every
assignment shares (points, cell roles, solution passes, stub fails, wrong answers such as
Robertson's negative IDF, the classic (k1 + 1) numerator, a repeated query term counted once,
RRF ranks from 0, an ideal DCG from the retrieved items only, exponential gains, dot products
instead of cosines, an unstable softmax, a batch-dependent retriever) is
tests/test_assignment_structure.py's, with this assignment's facts in tests/assignments/a06.py.

The hidden natural-language queries of the trained-model test are written in the hidden test
only: the fast tests here check that no ShopSim query and no need phrase of the library uses
them. The trained-model cell itself needs MiniLM encodings (about 30 CPU seconds), so its checks
with stand-in models (the pretrained model unchanged must fail the hidden bar and pass the
visible one; a short fine-tuning run must pass; a slow run or a model the helper did not train
must fail) are marked slow. Training the real solution through nbgrader is `course check`'s job.
"""

from __future__ import annotations

import ast
import warnings

import bm25s
import numpy as np
import pytest
import torch
from assignments.a06 import ASSIGNMENT, SETUP_CELLS, TRAINED_TEST
from assignments.spec import base_namespace
from nbsource import cell as _cell
from nbsource import run_cell
from torch import nn

from ecomrec import schema as S
from ecomrec.datasets import load_shopsim
from ecomrec.datasets.search import NEED_PHRASES, esci_gains
from ecomrec.search import BM25, graded_ndcg, reciprocal_rank_fusion, tokenize
from ecomrec.search.dense import in_batch_loss


def _read():
    return ASSIGNMENT.read()


@pytest.fixture(scope="module")
def base() -> dict:
    """Every code cell of the source except the test cells, the ShopSim and MiniLM setup and
    the training call: imports and the solutions."""
    return base_namespace(ASSIGNMENT)


def _hidden_needs() -> dict[str, list[str]]:
    hidden = _cell(_read(), TRAINED_TEST).source.split("### BEGIN HIDDEN TESTS")[1]
    for node in ast.parse(hidden.split("### END HIDDEN TESTS")[0]).body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "_hidden_needs":
            return ast.literal_eval(node.value)
    raise AssertionError("the hidden test defines no _hidden_needs")


# ------------------------------------------------------------------ metadata


def test_training_is_seeded_bounded_and_single_threaded():
    nb = _read()
    assert "fix_threads(1)" in _cell(nb, "imports").source
    setup = _cell(nb, "setup_part5_queries").source
    assert "SEED = 2026" in _cell(nb, "setup_part5").source
    assert "torch.manual_seed(SEED)" in setup and "seed=SEED" in setup
    assert "if not 1 <= epochs <= 20:" in setup and "max_seconds" not in setup
    visible, hidden = _cell(nb, TRAINED_TEST).source.split("### BEGIN HIDDEN TESTS")
    assert "training_seconds <= 60" in visible
    assert 'TRAINING_LOG.get("seed") == 2026' in hidden


def test_thresholds_are_the_ones_the_exercise_states():
    nb = _read()
    visible, hidden = _cell(nb, TRAINED_TEST).source.split("### BEGIN HIDDEN TESTS")
    assert "ndcg >= 0.60" in visible and "0.78" not in visible
    assert "hidden_ndcg >= 0.78" in hidden and "hidden_ndcg > hidden_bm25" in hidden
    text = _cell(nb, "part5_training").source
    assert "at least\n0.60" in text and "**at least 0.78**" in text


def test_hidden_queries_are_new_and_cover_every_category():
    needs = _hidden_needs()
    assert sorted(needs) == sorted(NEED_PHRASES)
    phrases = [p for ps in needs.values() for p in ps]
    assert len(set(phrases)) == len(phrases) == 60
    known = {p for ps in NEED_PHRASES.values() for p in ps}
    assert not any(p.startswith(k) or k.startswith(p) for p in phrases for k in known)
    logged = set(load_shopsim().queries[S.QUERY])
    assert not any(q.startswith(p) for q in logged for p in phrases), "a student could see them"


def test_release_holds_no_hidden_query():
    release = (ASSIGNMENT.source.parents[2] / "exercises" / ASSIGNMENT.slug).glob("*.ipynb")
    text = "".join(path.read_text() for path in release)
    assert text and not any(p in text for ps in _hidden_needs().values() for p in ps)


# ------------------------------------------------------------------ solutions against ecomrec


def test_bm25_agrees_with_the_library_and_bm25s_on_shopsim(base):
    items = load_shopsim().items
    docs = [tokenize(t) for t in items[S.TITLE] + " " + items[S.DESCRIPTION]]
    library = BM25(k1=1.2, b=0.6).fit(docs)
    reference = bm25s.BM25(k1=1.2, b=0.6, method="lucene")
    reference.index(docs, show_progress=False)
    for query in ["navy blue slim case", "something to protect my new phone", "case case", "qwzx"]:
        tokens = tokenize(query)
        ours = base["bm25_scores"](tokens, docs, k1=1.2, b=0.6)
        np.testing.assert_allclose(ours, library.score(tokens), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ours, reference.get_scores(tokens), rtol=1e-5, atol=1e-5)


def test_fusion_agrees_with_the_library(base):
    rng = np.random.default_rng(6)
    scores = [rng.normal(size=(1, 50)) for _ in range(3)]
    rankings = [list(np.argsort(-s[0], kind="stable")[:20]) for s in scores]
    depth_cut = [
        np.where(np.isin(np.arange(50), r), s, -np.inf)
        for s, r in zip(scores, rankings, strict=True)
    ]
    expected = reciprocal_rank_fusion(depth_cut, k=60)[0]
    got = base["reciprocal_rank_fusion"](rankings, k=60)
    assert sorted(got) == sorted({int(i) for r in rankings for i in r})
    for item, value in got.items():
        assert value == pytest.approx(expected[item], abs=1e-15)


def test_esci_ndcg_agrees_with_the_library_on_shopsim_labels(base):
    data = load_shopsim()
    labels = data.esci_labels()[:40]
    gains = esci_gains(labels)
    rng = np.random.default_rng(7)
    scores = rng.normal(size=gains.shape)
    expected = graded_ndcg(scores, gains, k=10)
    for q in range(len(labels)):
        ranking = list(np.argsort(-scores[q]))
        judged = {i: "ESCI"[labels[q, i]] for i in range(labels.shape[1])}
        assert base["esci_ndcg"](ranking, judged, k=10) == pytest.approx(expected[q], abs=1e-12)
        # only the labelled (non-irrelevant) items in the dict: unlabelled items are Irrelevant
        sparse = {i: label for i, label in judged.items() if label != "I"}
        assert base["esci_ndcg"](ranking, sparse, k=10) == pytest.approx(expected[q], abs=1e-12)


def test_loss_agrees_with_the_library(base):
    generator = torch.Generator().manual_seed(8)
    q, d, n = (torch.randn(size, 16, generator=generator) * 3 for size in (12, 12, 5))
    unit = [nn.functional.normalize(t, dim=1) for t in (q, d, n)]
    torch.testing.assert_close(
        base["multiple_negatives_loss"](q, d, n, scale=20.0), in_batch_loss(*unit, scale=20.0)
    )
    torch.testing.assert_close(
        base["multiple_negatives_loss"](q, d, scale=5.0), in_batch_loss(unit[0], unit[1], scale=5.0)
    )


# ------------------------------------------------------------------ the trained-model test


@pytest.fixture(scope="module")
def trained_base(base) -> dict:
    """The fast base plus the two setup cells (ShopSim, the split, MiniLM encodings, BM25)."""
    namespace = dict(base)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c in _read().cells:  # in the notebook's order
            grade_id = c.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in SETUP_CELLS:
                exec(compile(c.source, grade_id, "exec"), namespace)
    return namespace


class _Pretrained(nn.Module):
    """MiniLM's vectors unchanged: a Retriever with a parameter that does nothing."""

    def __init__(self, dim=384):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def encode_queries(self, q):
        return q

    def encode_items(self, d):
        return d


def _trained_test(namespace: dict, model, seconds: float | None = 1.0, hidden=True) -> None:
    namespace = dict(namespace)
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


def _as_retriever(namespace: dict, module: nn.Module) -> nn.Module:
    """`module` re-classed as the notebook's Retriever, so the isinstance check accepts it."""
    cls = type("Stand_in", (type(module), namespace["Retriever"]), {})
    module.__class__ = cls
    return module


@pytest.mark.slow
def test_the_pretrained_model_passes_the_visible_test_only(trained_base):
    model = _as_retriever(trained_base, _Pretrained())
    _trained_test(trained_base, model, hidden=False)
    with pytest.raises(AssertionError, match="threshold of 0.78"):
        _trained_test(trained_base, model)


@pytest.mark.slow
def test_a_fine_tuned_retriever_passes(trained_base):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, valid = trained_base["train_retriever"](
            lambda: trained_base["Retriever"](), lr=1e-3, epochs=3, hard_negative=False
        )
    zero_shot = trained_base["zero_shot_valid"]
    assert valid > zero_shot > trained_base["bm25_valid"]
    _trained_test(trained_base, model, seconds=trained_base["TRAINING_LOG"]["seconds"])


@pytest.mark.slow
@pytest.mark.parametrize("why", ["too slow", "not trained by the helper", "not a Retriever"])
def test_beats_bm25_fails(trained_base, why):
    model, seconds = _as_retriever(trained_base, _Pretrained()), 1.0
    if why == "too slow":
        seconds = 61.0
    elif why == "not trained by the helper":
        seconds = None
    else:
        model = _Pretrained()
    with pytest.raises(AssertionError):
        _trained_test(trained_base, model, seconds, hidden=False)

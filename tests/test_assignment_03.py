"""Assignment 03 (nbgrader source notebook): structure, solutions, and tests that can fail.

The solution functions are taken out of the source notebook and checked against the course
library (`ecomrec.gan`, `ecomrec.text`) and `sacrebleu`. The notebook's own test cells (hidden
tests included) must pass on the solution, fail on an untouched release, and fail on typical
wrong answers (the article's sign error, sums for means, probabilities for logits, unclipped or
sentence-averaged BLEU, ...). The trained-generator test cell is exercised with stand-in models
that need no training (a lookup table that writes stored descriptions): it must accept a good
one and reject a weak one, a hand-written template, a library model and an over-long training.
Training the real solution is `course check`'s job; this file runs in seconds.
"""

from __future__ import annotations

import ast
import functools
import math
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
import torch
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions
from nbsource import cell as _cell
from nbsource import is_solution_code as _is_solution_code
from nbsource import is_test_cell as _is_test_cell
from nbsource import nbgrader as _nbgrader
from nbsource import read, run_cell

import ecomrec.datasets
import ecomrec.text
from ecomrec import gan
from ecomrec import schema as S
from ecomrec.datasets import load_shopsim
from ecomrec.datasets.simulator import describe_item
from ecomrec.text import metrics as text_metrics
from ecomrec.text import prepare_descriptions

ROOT = Path(__file__).resolve().parents[1]
SLUG = "03-description-generation"
SOURCE = ROOT / "solutions" / SLUG / f"{SLUG}.ipynb"

# grade_id -> points, as in the syllabus: (1 + 1 + 1) + (1 + 2) + 4 autograded, 2 by hand
EXPECTED_POINTS = {
    "test_discriminator_loss": 1,
    "test_minimax_generator_loss": 1,
    "test_non_saturating_generator_loss": 1,
    "test_distinct_n": 1,
    "test_corpus_bleu": 2,
    "test_trained_generator": 4,
    "written_answer": 2,
}
TRAINED = "test_trained_generator"  # needs a trained model: run here with stand-in models
# cells that load data or train: left out of the fast namespace
SLOW_CELLS = {"load_data", "description_generator", "train_generator_run", "collapse_table"}

torch.set_num_threads(1)


def _read():
    return read(SOURCE)


@pytest.fixture(scope="module")
def base() -> dict:
    """Imports and the solutions of parts 1 and 2: no data, no training."""
    namespace: dict = {}
    for cell in _read().cells:
        gid = _nbgrader(cell).get("grade_id")
        if cell.cell_type == "code" and not _is_test_cell(cell) and gid not in SLOW_CELLS:
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
            assert "tqdm" not in source and "train_generator(" not in source, gid
        elif cell.cell_type == "markdown" and meta["solution"]:
            assert meta["grade"] and not meta["locked"], gid
        else:
            assert meta["locked"] and not meta["grade"] and not meta["solution"], gid


def test_hidden_threshold_is_stricter_than_the_visible_one():
    source = _cell(_read(), TRAINED).source
    visible, hidden = source.split("### BEGIN HIDDEN TESTS")
    assert "held_out_accuracy >= 0.5" in visible and "0.80" not in visible
    assert "held_out_accuracy >= 0.80" in hidden


# ------------------------------------------------------------------ solutions against ecomrec


def test_gan_losses_agree_with_ecomrec_gan(base):
    rng = torch.Generator().manual_seed(0)
    for m, k, scale in [(5, 5, 1.0), (17, 3, 10.0), (2, 40, 200.0)]:
        real = torch.randn(m, generator=rng, dtype=torch.float64) * scale
        fake = torch.randn(k, generator=rng, dtype=torch.float64) * scale
        pairs = [
            (base["discriminator_loss"](real, fake), gan.discriminator_loss(real, fake)),
            (base["minimax_generator_loss"](fake), gan.minimax_generator_loss(fake)),
            (
                base["non_saturating_generator_loss"](fake),
                gan.non_saturating_generator_loss(fake),
            ),
        ]
        for ours, library in pairs:
            assert ours.dim() == 0
            assert float(ours) == pytest.approx(float(library), rel=1e-12)


def test_gan_loss_exact_values(base):
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-1.0, 0.0])
    assert float(base["discriminator_loss"](real, fake)) == pytest.approx(0.8037069, rel=1e-6)
    assert float(base["minimax_generator_loss"](fake)) == pytest.approx(-0.5032044, rel=1e-6)
    assert float(base["non_saturating_generator_loss"](fake)) == pytest.approx(1.0032044, rel=1e-6)
    certain = torch.tensor([-1000.0, 1000.0])
    assert float(base["non_saturating_generator_loss"](certain)) == pytest.approx(500.0)
    assert float(base["minimax_generator_loss"](certain)) == pytest.approx(-500.0)


def _random_sentences(rng, n, words, low=1, high=12):
    return [" ".join(rng.choice(words, size=rng.integers(low, high + 1))) for _ in range(n)]


def test_distinct_n_agrees_with_ecomrec_text(base):
    rng = np.random.default_rng(1)
    for words in (["a", "b"], [f"w{i}" for i in range(9)]):
        sentences = _random_sentences(rng, 50, words, low=0)
        for n in (1, 2, 3):
            expected = text_metrics.distinct_n([s.split() for s in sentences], n)
            assert base["distinct_n"](sentences, n) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("seed", range(4))
def test_corpus_bleu_agrees_with_ecomrec_text_and_sacrebleu(base, seed):
    rng = np.random.default_rng(seed)
    words = ["a", "b", "c"]
    hyps = _random_sentences(rng, 30, words)
    refs = [_random_sentences(rng, int(rng.integers(1, 4)), words) for _ in hyps]
    streams = [[r[k] if k < len(r) else None for r in refs] for k in range(3)]
    for max_n in (1, 2, 4):
        ours = base["corpus_bleu"](hyps, refs, max_n=max_n)
        library = text_metrics.corpus_bleu(
            [h.split() for h in hyps], [[r.split() for r in rs] for rs in refs], max_n
        )
        bleu = sacrebleu.metrics.BLEU(
            tokenize="none", smooth_method="none", max_ngram_order=max_n, force=True
        )
        assert ours == pytest.approx(library, abs=1e-12)
        assert ours == pytest.approx(bleu.corpus_score(hyps, streams).score / 100, abs=1e-12)
        assert 0 < ours <= 1


# ------------------------------------------------------------------ the fast test cells


def _fast_test_cells():
    return [c for c in _read().cells if _is_test_cell(c) and _nbgrader(c)["grade_id"] != TRAINED]


def test_solution_passes_every_fast_test_cell(base):
    """Hidden tests included; each cell alone, so no test relies on another test's names."""
    for cell in _fast_test_cells():
        run_cell(cell.source, base, _nbgrader(cell)["grade_id"])


def test_visible_tests_pass_on_their_own(base):
    release, _ = ClearHiddenTests().preprocess(_read(), {})
    for cell in release.cells:
        if _is_test_cell(cell) and _nbgrader(cell)["grade_id"] != TRAINED:
            assert "HIDDEN" not in cell.source
            run_cell(cell.source, base, _nbgrader(cell)["grade_id"])


def test_untouched_release_fails_every_fast_test_cell(base):
    release, _ = ClearSolutions().preprocess(_read(), {})
    stubs = dict(base)
    for cell in release.cells:
        gid = _nbgrader(cell).get("grade_id")
        if _is_solution_code(cell) and gid not in SLOW_CELLS:
            assert "raise NotImplementedError()" in cell.source
            exec(compile(cell.source, "stub", "exec"), stubs)
    for cell in _fast_test_cells():
        with pytest.raises(NotImplementedError):
            run_cell(cell.source, stubs)


# which student functions each test cell calls: a mistake costs that cell's points only
CALLS = {
    "test_discriminator_loss": {"discriminator_loss"},
    "test_minimax_generator_loss": {"minimax_generator_loss"},
    "test_non_saturating_generator_loss": {"non_saturating_generator_loss"},
    "test_distinct_n": {"distinct_n"},
    "test_corpus_bleu": {"corpus_bleu"},
    TRAINED: {"DescriptionGenerator", "train_generator"},
}


def test_each_test_cell_calls_only_its_own_functions():
    nb = _read()
    student_names = {
        node.name
        for cell in nb.cells
        if _is_solution_code(cell)
        for node in ast.parse(cell.source).body
        if isinstance(node, ast.FunctionDef | ast.ClassDef)
    }
    assert student_names == set().union(*CALLS.values())
    for cell in nb.cells:
        if _is_test_cell(cell):
            names = {n.id for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.Name)}
            assert names & student_names == CALLS[_nbgrader(cell)["grade_id"]]


# (solution cell, text replaced, replacement, test cell that must fail, caught by hidden tests only)
WRONG_ANSWERS = {
    "discriminator: the article's sign error": (
        "discriminator_loss",
        "return -log_d_real.mean() - log_not_d_fake.mean()",
        "return -0.5 * (log_d_real - log_not_d_fake).mean()",
        "test_discriminator_loss",
        False,
    ),
    "discriminator: sums instead of means": (
        "discriminator_loss",
        "return -log_d_real.mean() - log_not_d_fake.mean()",
        "return -log_d_real.sum() - log_not_d_fake.sum()",
        "test_discriminator_loss",
        False,
    ),
    "discriminator: one mean over both batches": (
        "discriminator_loss",
        "return -log_d_real.mean() - log_not_d_fake.mean()",
        "return -torch.cat([log_d_real, log_not_d_fake]).mean()",
        "test_discriminator_loss",
        False,
    ),
    "discriminator: log of probabilities": (
        "discriminator_loss",
        "F.logsigmoid(real_logits)",
        "torch.log(torch.sigmoid(real_logits))",
        "test_discriminator_loss",
        True,
    ),
    "discriminator: epsilon inside the log": (
        "discriminator_loss",
        "F.logsigmoid(-fake_logits)",
        "torch.log(1 - torch.sigmoid(fake_logits) + 1e-7)",
        "test_discriminator_loss",
        True,
    ),
    "discriminator: a tensor cut off from the graph": (
        "discriminator_loss",
        "return -log_d_real.mean() - log_not_d_fake.mean()",
        "return torch.tensor(float((-log_d_real.mean() - log_not_d_fake.mean()).detach()))",
        "test_discriminator_loss",
        True,
    ),
    "discriminator: a Python float": (
        "discriminator_loss",
        "return -log_d_real.mean() - log_not_d_fake.mean()",
        "return (-log_d_real.mean() - log_not_d_fake.mean()).item()",
        "test_discriminator_loss",
        False,
    ),
    "minimax: wrong sign": (
        "minimax_generator_loss",
        "return F.logsigmoid(-fake_logits).mean()",
        "return -F.logsigmoid(-fake_logits).mean()",
        "test_minimax_generator_loss",
        False,
    ),
    "minimax: the non-saturating loss instead": (
        "minimax_generator_loss",
        "return F.logsigmoid(-fake_logits).mean()",
        "return -F.logsigmoid(fake_logits).mean()",
        "test_minimax_generator_loss",
        False,
    ),
    "minimax: log of probabilities": (
        "minimax_generator_loss",
        "return F.logsigmoid(-fake_logits).mean()",
        "return torch.log(1 - torch.sigmoid(fake_logits)).mean()",
        "test_minimax_generator_loss",
        True,
    ),
    "non-saturating: wrong sign": (
        "non_saturating_generator_loss",
        "return -F.logsigmoid(fake_logits).mean()",
        "return F.logsigmoid(fake_logits).mean()",
        "test_non_saturating_generator_loss",
        False,
    ),
    "non-saturating: sum": (
        "non_saturating_generator_loss",
        "return -F.logsigmoid(fake_logits).mean()",
        "return -F.logsigmoid(fake_logits).sum()",
        "test_non_saturating_generator_loss",
        False,
    ),
    "non-saturating: log of probabilities": (
        "non_saturating_generator_loss",
        "return -F.logsigmoid(fake_logits).mean()",
        "return -torch.log(torch.sigmoid(fake_logits)).mean()",
        "test_non_saturating_generator_loss",
        True,
    ),
    "distinct: n-grams across sentences": (
        "distinct_n",
        "for sentence in sentences:",
        "for sentence in [' '.join(sentences)]:",
        "test_distinct_n",
        False,
    ),
    "distinct: divided by tokens": (
        "distinct_n",
        "total += len(grams)",
        "total += len(tokens)",
        "test_distinct_n",
        False,
    ),
    "distinct: mean of per-sentence values": (
        "distinct_n",
        None,
        "def distinct_n(sentences, n):\n"
        "    values = []\n"
        "    for s in sentences:\n"
        "        t = s.split()\n"
        "        g = [tuple(t[i : i + n]) for i in range(len(t) - n + 1)]\n"
        "        if g:\n"
        "            values.append(len(set(g)) / len(g))\n"
        "    return sum(values) / len(values) if values else 0.0\n",
        "test_distinct_n",
        False,
    ),
    "bleu: no clipping": (
        "corpus_bleu",
        "min(k, best[g])",
        "(k if best[g] else 0)",
        "test_corpus_bleu",
        False,
    ),
    "bleu: clipped by the sum over references": (
        "corpus_bleu",
        "best |= counts(r, n)",
        "best += counts(r, n)",
        "test_corpus_bleu",
        True,
    ),
    "bleu: first reference only": (
        "corpus_bleu",
        "ref_tokens = [ref.split() for ref in refs]",
        "ref_tokens = [refs[0].split()]",
        "test_corpus_bleu",
        False,
    ),
    "bleu: ties go to the longer reference": (
        "corpus_bleu",
        "(abs(n - len(hyp)), n)",
        "(abs(n - len(hyp)), -n)",
        "test_corpus_bleu",
        True,
    ),
    "bleu: the shortest reference": (
        "corpus_bleu",
        "key=lambda n: (abs(n - len(hyp)), n)",
        "key=lambda n: n",
        "test_corpus_bleu",
        True,
    ),
    "bleu: arithmetic mean of precisions": (
        "corpus_bleu",
        "return brevity * math.exp(log_precision)",
        "return brevity * sum(m / t for m, t in zip(matches, totals)) / max_n",
        "test_corpus_bleu",
        False,
    ),
    "bleu: add-one smoothing": (
        "corpus_bleu",
        "if hyp_length == 0 or min(matches) == 0:",
        "matches = [m + (i > 0) for i, m in enumerate(matches)]\n"
        "    totals = [t + (i > 0) for i, t in enumerate(totals)]\n"
        "    if hyp_length == 0 or min(matches) == 0:",
        "test_corpus_bleu",
        False,
    ),
    "bleu: lengths of the last sentence only": (
        "corpus_bleu",
        "ref_length += min(",
        "hyp_length, ref_length = len(hyp), 0\n        ref_length += min(",
        "test_corpus_bleu",
        True,
    ),
    "bleu: mean of sentence scores": (
        "corpus_bleu",
        "    ### END SOLUTION",
        "    ### END SOLUTION\n\n\n_corpus = corpus_bleu\n\n\n"
        "def corpus_bleu(hypotheses, references, max_n=4):\n"
        "    scores = [_corpus([h], [r], max_n) for h, r in zip(hypotheses, references)]\n"
        "    return sum(scores) / len(scores)\n",
        "test_corpus_bleu",
        False,
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
    with pytest.raises((AssertionError, ArithmeticError, RuntimeError)):
        run_cell(test_source, namespace, test_id)
    if hidden_only:  # the visible sample passes: only the hidden tests catch this one
        run_cell(test_source.split("### BEGIN HIDDEN TESTS")[0], namespace, test_id)


# ------------------------------------------------------------------ the trained-generator cell


@functools.cache
def _items():
    return load_shopsim().items


@functools.cache
def _task(seed: int):
    return prepare_descriptions(_items(), seed=seed)


class _Data:
    """Stands in for ShopSim: the same frames and task, loaded once for the whole module."""

    items = property(lambda self: _items())


@pytest.fixture
def generator_base(monkeypatch) -> dict:
    """Imports, the part-3 data cell and the solution classes, with loading cached; the test
    cell's own imports of `load_shopsim` and `prepare_descriptions` get the cached versions."""
    monkeypatch.setattr(ecomrec.datasets, "load_shopsim", lambda *a, **k: _Data())
    monkeypatch.setattr(ecomrec.text, "prepare_descriptions", lambda items, seed=0: _task(seed))
    namespace: dict = {}
    nb = _read()
    exec(compile(_cell(nb, "imports").source, "imports", "exec"), namespace)
    namespace["load_shopsim"] = ecomrec.datasets.load_shopsim
    namespace["prepare_descriptions"] = ecomrec.text.prepare_descriptions
    for gid in ("load_data", "description_generator"):
        exec(compile(_cell(nb, gid).source, gid, "exec"), namespace)
    return namespace


class Lookup(torch.nn.Module):
    """Writes a stored description per prompt, token by token, whatever it was fed: logit
    `confidence` for the stored next token and 0 for the others. A stand-in for a trained model."""

    def __init__(self, prompts, descriptions, vocab_size, confidence=10.0):
        super().__init__()
        self.keys = {tuple(p[0].tolist()): i for i, p in enumerate(prompts)}
        self.table = descriptions
        self.vocab_size, self.confidence = vocab_size, confidence

    def forward(self, prompts, tokens):
        rows = torch.tensor([self.keys[tuple(p[0].tolist())] for p in prompts])
        width = tokens.shape[1]
        stored = torch.nn.functional.pad(self.table[rows], (0, width + 1), value=2)  # then <eos>
        nxt = stored[:, 1 : width + 1]
        nxt = torch.where(nxt == 0, torch.full_like(nxt, 2), nxt)
        logits = torch.zeros(len(prompts), width, self.vocab_size)
        return logits.scatter(2, nxt.unsqueeze(2), self.confidence)


def _corrupted(task, share: float, seed: int = 0) -> torch.Tensor:
    """The real test descriptions, with the brand replaced by another in `share` of them."""
    tokens = task.test_tokens.clone()
    rng = np.random.default_rng(seed)
    wrong = rng.choice(len(tokens), size=round(share * len(tokens)), replace=False)
    for row in wrong:
        brand = task.vocab.stoi[task.test[S.BRAND].iloc[row]]
        other = task.vocab.stoi["Voltra" if task.test[S.BRAND].iloc[row] != "Voltra" else "Nexio"]
        tokens[row][tokens[row] == brand] = other
    return tokens


def _grade(namespace: dict, model, seconds: float = 20.0, hidden: bool = True) -> None:
    namespace = dict(namespace, description_model=model, train_seconds=seconds)
    source = _cell(_read(), TRAINED).source
    if not hidden:
        source = source.split("### BEGIN HIDDEN TESTS")[0]
    run_cell(source, namespace, TRAINED)


def _lookup(task, tokens, confidence=10.0):
    return Lookup(task.test_prompts, tokens, len(task.vocab), confidence)


def test_trained_cell_accepts_a_good_model(generator_base):
    task = generator_base["task"]
    _grade(generator_base, _lookup(task, _corrupted(task, 0.05)))


def test_trained_cell_hidden_threshold_rejects_a_mediocre_model(generator_base):
    task = generator_base["task"]
    model = _lookup(task, _corrupted(task, 0.35))  # 65% right: passes the visible 0.5
    _grade(generator_base, model, hidden=False)
    with pytest.raises(AssertionError, match="below the threshold"):
        _grade(generator_base, model)


def test_trained_cell_rejects_a_weak_model_visibly(generator_base):
    task = generator_base["task"]
    with pytest.raises(AssertionError, match="state every attribute"):
        _grade(generator_base, _lookup(task, _corrupted(task, 0.7)), hidden=False)


def test_trained_cell_rejects_a_hand_written_template(generator_base):
    """Right attributes, one phrasing, certain of every word: the real descriptions are
    improbable under it, so the cross-entropy check fails although the accuracy is perfect."""

    class FirstChoice:
        def integers(self, high):
            return 0

    task = generator_base["task"]
    texts = [describe_item(row, FirstChoice())[1] for _, row in task.test.iterrows()]
    template = ecomrec.text.encode_descriptions(texts, task.vocab)
    with pytest.raises(AssertionError, match="cross-entropy"):
        _grade(generator_base, _lookup(task, template, confidence=50.0), hidden=False)


def test_trained_cell_rejects_library_models_and_slow_training(generator_base):
    task = generator_base["task"]
    good = _lookup(task, _corrupted(task, 0.0))
    with pytest.raises(AssertionError, match="more than the 60 s"):
        _grade(generator_base, good, seconds=61.0, hidden=False)
    with pytest.raises(AssertionError, match="write your own model"):
        _grade(generator_base, ecomrec.text.ConditionalGRU(len(task.vocab)), hidden=False)
    with pytest.raises(AssertionError, match="the training cell above did not finish"):
        _grade(dict(generator_base), good, seconds=None, hidden=False)


def test_trained_cell_rejects_the_library_training_loop_but_not_a_helper_of_that_name(
    generator_base,
):
    task = generator_base["task"]
    good = _lookup(task, _corrupted(task, 0.0))
    uses_library = run_cell(
        "from ecomrec.text import train_mle\n\n"
        "def train_generator(model, prompts, tokens, seed):\n"
        "    train_mle(model, prompts, tokens, seed=seed)\n",
        generator_base,
    )
    with pytest.raises(AssertionError, match=r"\['train_mle'\]"):
        _grade(uses_library, good, hidden=False)
    uses_attribute = run_cell(
        "import ecomrec.text\n\n"
        "def train_generator(model, prompts, tokens, seed):\n"
        "    ecomrec.text.mle_loss(model, prompts, tokens)\n",
        generator_base,
    )
    with pytest.raises(AssertionError, match=r"\['mle_loss'\]"):
        _grade(uses_attribute, good, hidden=False)
    own_helper = run_cell(
        "def mle_loss(logits, targets):\n"
        "    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=0)\n\n"
        "def train_generator(model, prompts, tokens, seed):\n"
        "    mle_loss(model(prompts, tokens[:, :-1]), tokens[:, 1:])\n",
        generator_base,
    )
    _grade(own_helper, good)


def test_untouched_release_fails_the_trained_cell(generator_base):
    release, _ = ClearSolutions().preprocess(_read(), {})
    stubs = dict(generator_base)
    exec(compile(_cell(release, "description_generator").source, "stub", "exec"), stubs)
    with pytest.raises(NotImplementedError):
        run_cell(_cell(release, "train_generator_run").source, stubs)
    stubs["train_seconds"] = None  # what the failed training cell leaves behind
    with pytest.raises(AssertionError, match="did not finish"):
        run_cell(_cell(release, TRAINED).source, stubs)


def test_prefix_decoding_matches_the_solution_model(generator_base):
    """The notebook's greedy decoding through forward() equals the library's step-wise
    sampling for a model whose state is the whole prefix (an untrained solution model)."""
    ns = generator_base
    torch.manual_seed(0)
    model = ns["DescriptionGenerator"](len(ns["task"].vocab)).eval()
    prompts = ns["task"].test_prompts[:6]
    greedy = ns["write_descriptions"](model, prompts)
    with torch.no_grad():
        tokens = torch.full((6, 1), 1)
        for _ in range(40):
            logits = model(prompts, tokens)[:, -1]
            logits[:, :2] = -math.inf  # never pad or bos
            tokens = torch.cat([tokens, logits.argmax(1, keepdim=True)], dim=1)
    assert greedy == [ns["task"].vocab.tokens(row) for row in tokens]

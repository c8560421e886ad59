"""Assignment 03 (nbgrader source notebook): solutions against the library, the trained cell.

The solution functions are taken out of the source notebook and checked against the course
library (`ecomrec.gan`, `ecomrec.text`) and `sacrebleu`. The structure every assignment
shares (points, cell roles, solution passes, stub fails, wrong answers such as the article's
sign error, sums for means, probabilities for logits, unclipped or sentence-averaged BLEU) is
tests/test_assignment_structure.py's, with this assignment's facts in
tests/assignments/a03.py. The trained-generator test cell is exercised with stand-in models
that need no training (a lookup table that writes stored descriptions): it must accept a good
one and reject a weak one, a hand-written template, a library model and an over-long training.
Training the real solution is `course check`'s job; this file runs in seconds.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import sacrebleu
import torch
from assignments.a03 import ASSIGNMENT, TRAINED
from assignments.spec import base_namespace
from nbgrader.preprocessors import ClearSolutions
from nbsource import cell as _cell
from nbsource import run_cell

import ecomrec.datasets
import ecomrec.text
from ecomrec import gan
from ecomrec import schema as S
from ecomrec.datasets import load_shopsim
from ecomrec.datasets.catalogue import describe_item
from ecomrec.text import metrics as text_metrics
from ecomrec.text import prepare_descriptions

torch.set_num_threads(1)


def _read():
    return ASSIGNMENT.read()


@pytest.fixture(scope="module")
def base() -> dict:
    """Imports and the solutions of parts 1 and 2: no data, no training."""
    return base_namespace(ASSIGNMENT)


# ------------------------------------------------------------------ metadata


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

"""ecomrec.compare (paired bootstrap over users) and ecomrec.prose (glued claims)."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

from ecomrec.compare import paired_bootstrap
from ecomrec.metrics import expected_ndcg_at_k, expected_ndcg_gains, ndcg_at_k, ndcg_gains
from ecomrec.prose import Claims


@pytest.mark.parametrize("module", ["ecomrec.compare", "ecomrec.prose", "ecomrec.metrics"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_per_row_gains_average_to_the_metrics():
    rng = np.random.default_rng(1)
    ranks = rng.integers(1, 40, size=500)
    assert ndcg_gains(ranks, 10).mean() == pytest.approx(ndcg_at_k(ranks, 10), abs=0)
    scores = rng.random((50, 30))
    probs = rng.random((50, 30))
    probs /= probs.sum(axis=1, keepdims=True)
    gains = expected_ndcg_gains(scores, probs, k=5)
    assert gains.shape == (50,) and (gains >= 0).all() and (gains <= 1).all()
    assert gains.mean() == expected_ndcg_at_k(scores, probs, k=5)


def test_interval_covers_the_true_difference_and_shrinks_with_users():
    rng = np.random.default_rng(2)
    widths = []
    for n in (500, 8000):
        b = rng.exponential(0.1, size=n)
        a = b * 1.04 + rng.normal(0, 0.02, size=n)  # A is 4% better, with per-user noise
        result = paired_bootstrap(a, b, seed=3)
        assert result.low < result.relative < result.high
        assert result.low < 0.04 < result.high
        widths.append(result.high - result.low)
    assert widths[1] < widths[0] / 2  # 16x the users: about a quarter of the width


def test_within_noise_is_said_so_and_same_seed_same_interval():
    rng = np.random.default_rng(4)
    b = rng.random(300)
    a = b + rng.normal(0, 0.3, size=300)  # no real difference, lots of noise
    first = paired_bootstrap(a, b, seed=9)
    assert first == paired_bootstrap(a, b, seed=9)
    assert not first.significant and not first.a_beats_b
    assert "within noise" in first.describe("A", "B")
    worse = paired_bootstrap(b * 0.8, b, seed=9)
    assert worse.significant and not worse.a_beats_b and "below" in worse.describe("A", "B")
    better = paired_bootstrap(b * 1.2, b, seed=9)
    assert better.a_beats_b and better.describe("A", "B").startswith("A beats B by +20.0%")
    assert better.as_dict()["a_beats_b"] is True


@pytest.mark.parametrize(
    "a, b, message",
    [
        (np.ones(5), np.ones(4), "same length"),
        (np.ones(1), np.ones(1), "at least 2"),
        (np.array([1.0, np.nan]), np.ones(2), "finite"),
        (np.ones(3), np.zeros(3), "positive"),
    ],
)
def test_bad_input_says_what_is_wrong(a, b, message):
    with pytest.raises(ValueError, match=message):
        paired_bootstrap(a, b)


def test_claims_glue_the_supported_text_and_refuse_a_repeated_name():
    claims = Claims()
    assert claims.claim("x", False, "yes", "no", glue_it=False) == "no"
    with pytest.raises(ValueError, match="twice"):
        claims.claim("x", True, "yes", "no", glue_it=False)
    assert claims.as_dict() == {"x": False}


def test_progress_bars_are_one_final_line_in_the_book_build(monkeypatch, capsys):
    from ecomrec import progress

    monkeypatch.setenv(progress.STATIC_OUTPUT_VARIABLE, "1")
    bar = progress.tqdm(range(4), desc="GRU", unit="epoch")
    for _ in bar:
        bar.set_postfix(loss=0.5)
    for _ in progress.tqdm(range(3), desc="inner", leave=False):
        pass
    out, err = capsys.readouterr()
    assert err == ""  # nothing on stderr: no red box on the page
    assert out.splitlines() == [out.strip()] and out.startswith("GRU: 100% 4/4 [")
    assert "loss=0.5" in out and "inner" not in out
    monkeypatch.setenv(progress.STATIC_OUTPUT_VARIABLE, "0")
    assert not isinstance(progress.tqdm(range(1), disable=True), progress._FinalLine)

"""Lesson notebooks: committed clean, and their recorded headline numbers make sense.

The numbers come from the strict book build (the `built_book` fixture), which executes
each lesson once per test run; the tolerances are wide enough for another seed and
narrow enough to catch a broken model or metric.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from ecomrec.datasets.truth import MixtureWeights
from ecomrec.results import load_results

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("*.ipynb"))


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_is_committed_without_outputs_and_follows_the_template(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        assert not cell.outputs and cell.execution_count is None, f"{path.name} has outputs"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert "import" in code[0].source, "the first code cell holds the imports"
    assert "fix_threads(" in code[0].source, "the first code cell fixes the threads (fix_threads)"
    assert "parameters" in code[1].metadata.get("tags", []), "the second code cell is `parameters`"
    assert "record_results(" in code[-1].source, "the last code cell records the headline numbers"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown").lower()
    assert "what to try next" in text and "you will learn" in text and "estimated time" in text


def test_lesson_01_numbers(built_book):
    r = load_results("01-data-and-profiles")
    m = {name: v["ndcg@10"] for name, v in r["models"].items()}
    baselines = {n: v for n, v in m.items() if n != "oracle"}
    best = max(baselines.values())
    assert r["best_baseline"] == max(baselines, key=baselines.get)
    # the ordering the lesson teaches
    assert m["oracle"] >= 1.3 * best
    assert best >= 2 * m["popularity"]
    assert m["markov"] > 2 * m["popularity"]
    assert m["bpr-mf"] > 1.5 * m["popularity"], "BPR-MF must learn more than popularity"
    # ShopSim leaves room above the baselines in both situations: neither a taste model nor
    # the last item alone captures the session mission, complements and friends together
    for where in ("session_start", "within_session"):
        key = f"ndcg@10_{where}"
        best_here = max(v[key] for n, v in r["models"].items() if n != "oracle")
        assert r["models"]["oracle"][key] >= 1.3 * best_here, where
    # absolute ranges: a broken metric or model falls outside them
    assert 0.20 <= m["oracle"] <= 0.35
    assert 0.015 <= m["popularity"] <= 0.05
    assert 0.08 <= m["co-occurrence"] <= 0.16
    assert 0.06 <= m["markov"] <= 0.13
    assert 0.05 <= m["bpr-mf"] <= 0.12
    for name, v in r["models"].items():
        assert v["hit_rate@10"] >= v["ndcg@10"] >= 0, name
    # within-session evidence helps the sequence baselines, not the taste model
    mk = r["models"]["markov"]
    assert mk["ndcg@10_within_session"] > 1.2 * mk["ndcg@10_session_start"]
    assert r["models"]["popularity"]["coverage@10"] < 0.05
    assert 0.3 < r["dataset"]["top_decile_view_share"] < 0.6
    assert r["profile_top_category_accuracy"] > 5 / 30  # far above a random category
    # the intervals in the results table compare the recorded models with the best baseline
    best = r["best_baseline"]
    vs_best = r["vs_best_baseline"]
    assert set(vs_best) == set(m) - {best}
    for name, c in vs_best.items():
        assert c["mean_a"] == pytest.approx(m[name], rel=1e-9), name
        assert c["mean_b"] == pytest.approx(m[best], rel=1e-9), name
        assert c["low"] <= c["relative"] <= c["high"], name
    assert vs_best["oracle"]["a_beats_b"] and vs_best["popularity"]["high"] < 0
    # the oracle's mixture weights shown on the page are the simulator's own
    assert r["mixture_weights"] == vars(MixtureWeights())
    assert sum(r["mixture_weights"].values()) == pytest.approx(1.0)
    assert set(r["claims"]) == {
        "longer_history_better_profile",
        "sequence_baselines_better_within_sessions",
        "bpr_weaker_than_sequence",
        "oracle_far_ahead",
    }

"""Assignment 01 (nbgrader source notebook): structure, solutions, and tests that can fail.

The solution functions are taken out of the source notebook and checked against the course
library (`ecomrec.metrics`) and brute-force counts on random data. The notebook's own test
cells (hidden tests included) must pass on the solution, fail on an untouched release, and
fail on typical wrong answers (off-by-one rank, natural log, seen items kept, ...). The full
nbgrader round trip (generate, autograde) is `course check`'s job; this file runs in seconds.
"""

from __future__ import annotations

import ast
import copy
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions
from nbsource import cell as _cell
from nbsource import is_solution_code as _is_solution_code
from nbsource import is_test_cell as _is_test_cell
from nbsource import nbgrader as _nbgrader
from nbsource import read

from ecomrec import metrics
from ecomrec import schema as S

ROOT = Path(__file__).resolve().parents[1]
SLUG = "01-data-and-profiles"
SOURCE = ROOT / "solutions" / SLUG / f"{SLUG}.ipynb"

# grade_id -> points, as in the syllabus: 2 + 3 + (1 + 1) + (1 + 1 + 1) autograded, 2 by hand
EXPECTED_POINTS = {
    "test_hr_at_k": 2,
    "test_ndcg_at_k": 3,
    "test_category_shares": 1,
    "test_price_band": 1,
    "test_cooccurrence_counts": 1,
    "test_cooccurrence_scores_and_recommend": 1,
    "test_beats_popularity": 1,
    "written_answer": 2,
}


def _read():
    return read(SOURCE)


def solution_namespace(nb=None) -> dict:
    """Exec the imports cell and every solution cell (no data loading, no tests)."""
    nb = nb or _read()
    namespace: dict = {}
    exec(compile(_cell(nb, "imports").source, "imports", "exec"), namespace)
    for cell in nb.cells:
        if _is_solution_code(cell):
            exec(compile(cell.source, _nbgrader(cell)["grade_id"], "exec"), namespace)
    return namespace


def run_test_cell(source: str, base: dict, name: str = "test") -> None:
    """Exec a test cell in a copy of `base`: it sees the given cells, never another test's names."""
    exec(compile(source, name, "exec"), dict(base))


@pytest.fixture(scope="module")
def ns() -> dict:
    return solution_namespace()


@pytest.fixture(scope="module")
def base() -> dict:
    """Every code cell of the source except the test cells: imports, ShopSim, solutions."""
    namespace: dict = {}
    for cell in _read().cells:
        if cell.cell_type == "code" and not _is_test_cell(cell):
            exec(compile(cell.source, _nbgrader(cell)["grade_id"], "exec"), namespace)
    return namespace


# ------------------------------------------------------------------ structure and metadata


def test_points_match_the_syllabus():
    nb = _read()
    graded = {_nbgrader(c)["grade_id"]: _nbgrader(c) for c in nb.cells if _nbgrader(c).get("grade")}
    assert {gid: meta["points"] for gid, meta in graded.items()} == EXPECTED_POINTS
    assert all(meta["points"] > 0 for meta in graded.values())
    auto = sum(m["points"] for m in graded.values() if not m["solution"])
    manual = sum(m["points"] for m in graded.values() if m["solution"])
    assert (auto, manual) == (10, 2)


def test_cell_roles_are_consistent():
    nb = _read()
    for cell in nb.cells:
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
            visible = source.split("### BEGIN HIDDEN TESTS")[0]
            assert "assert " in visible, f"{gid}: students need visible tests too"
            # nbgrader gives partial credit from a cell's final value: a test cell must not
            # end with a bare expression other than a print
            last = ast.parse(source).body[-1]
            is_print = isinstance(last, ast.Expr) and getattr(last.value, "func", None) is not None
            assert not isinstance(last, ast.Expr) or (
                is_print and getattr(last.value.func, "id", "") == "print"
            ), gid
        elif cell.cell_type == "markdown" and meta["solution"]:
            assert meta["grade"] and not meta["locked"], gid
        else:
            assert meta["locked"] and not meta["grade"] and not meta["solution"], gid


# ------------------------------------------------------------------ solutions against ecomrec


def test_hr_and_ndcg_agree_with_ecomrec_metrics(ns):
    rng = np.random.default_rng(0)
    scores = rng.random((200, 40))  # continuous: no ties, so lists and ranks agree exactly
    targets = rng.integers(0, 40, size=200)
    lists = np.argsort(-scores, axis=1)
    ranks = metrics.target_ranks(scores, targets)
    for k in (1, 3, 10, 40, 100):
        assert ns["hr_at_k"](lists, targets, k) == pytest.approx(metrics.hit_rate_at_k(ranks, k))
        assert ns["ndcg_at_k"](lists, targets, k) == pytest.approx(metrics.ndcg_at_k(ranks, k))
    # lists cut at 15 items: a target further down is a miss whatever k is
    short = [list(row[:15]) for row in lists]
    for k in (5, 15, 30):
        cut = min(k, 15)
        assert ns["hr_at_k"](short, targets, k) == pytest.approx(metrics.hit_rate_at_k(ranks, cut))
        assert ns["ndcg_at_k"](short, targets, k) == pytest.approx(metrics.ndcg_at_k(ranks, cut))


def test_hr_and_ndcg_exact_values(ns):
    lists = [[7, 3, 9], [4, 1, 2]]
    assert ns["hr_at_k"](lists, [3, 2], 2) == 0.5
    assert ns["ndcg_at_k"](lists, [3, 2], 3) == pytest.approx((1 / math.log2(3) + 0.5) / 2)
    assert ns["ndcg_at_k"]([[1, 2]], [5], 2) == 0.0


def test_recommend_agrees_with_ecomrec_top_k(ns):
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 4, size=(50, 80)).astype(float)  # many ties
    exclude = [rng.choice(80, size=10, replace=False) for _ in range(50)]
    masked = scores.copy()
    for row, items in enumerate(exclude):
        masked[row, items] = -np.inf
    for k in (1, 10, 70):
        expected = metrics.top_k(scores, k, exclude=exclude)
        np.testing.assert_array_equal(ns["recommend"](masked, k), expected)


def _random_interactions(rng: np.random.Generator, n_rows: int, n_items: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            S.USER: rng.integers(0, 20, size=n_rows),
            S.SESSION: rng.integers(0, 60, size=n_rows),
            S.ITEM: rng.integers(0, n_items, size=n_rows),  # repeats within sessions happen
        }
    )


def test_cooccurrence_counts_match_a_brute_force_count(ns):
    rng = np.random.default_rng(2)
    frame = _random_interactions(rng, 400, 25)
    expected = np.zeros((25, 25))
    for _, group in frame.groupby(S.SESSION):
        items = sorted(set(group[S.ITEM]))
        for i in items:
            for j in items:
                if i != j:
                    expected[i, j] += 1
    np.testing.assert_array_equal(ns["cooccurrence_counts"](frame, 25), expected)


def test_cooccurrence_scores_match_a_brute_force_sum(ns):
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 5, size=(30, 30)).astype(float)
    counts = counts + counts.T
    np.fill_diagonal(counts, 0)
    histories = [rng.choice(30, size=n, replace=False) for n in (0, 1, 2, 3, 7, 12)]
    for n_recent in (1, 3, 5):
        got = ns["cooccurrence_scores"](counts, histories, n_recent=n_recent)
        for row, history in enumerate(histories):
            expected = np.zeros(30)
            for item in history[-n_recent:]:
                expected += counts[item]
            expected[history] = -np.inf
            np.testing.assert_array_equal(got[row], expected)


def test_profiles_match_a_brute_force_count(ns):
    rng = np.random.default_rng(4)
    categories = ["b", "a", "d", "c"]
    items = pd.DataFrame(
        {
            S.ITEM: np.arange(12),
            S.CATEGORY: [categories[i % 4] for i in range(12)],
            S.PRICE_TIER: [S.PRICE_TIERS[i % 3] for i in range(12)],
        }
    )
    events = pd.DataFrame(
        {
            S.USER: rng.integers(0, 30, size=300),
            S.ITEM: rng.integers(0, 12, size=300),
            S.EVENT_TYPE: rng.choice(list(S.EVENT_TYPES), size=300),
        }
    )
    shares = ns["category_shares"](events, items)
    band = ns["price_band"](events, items)
    views = events[events[S.EVENT_TYPE] == "view"]
    users = sorted(set(views[S.USER]))
    assert list(shares.index) == users and list(band.index) == users
    assert list(shares.columns) == ["a", "b", "c", "d"]
    for user in users:
        viewed = views.loc[views[S.USER] == user, S.ITEM].tolist()
        by_category = Counter(items.loc[viewed, S.CATEGORY])
        expected = [by_category[c] / len(viewed) for c in ["a", "b", "c", "d"]]
        np.testing.assert_allclose(shares.loc[user].to_numpy(dtype=float), expected)
        by_tier = Counter(items.loc[viewed, S.PRICE_TIER])
        best = max(by_tier.values())
        cheapest_best = next(t for t in S.PRICE_TIERS if by_tier[t] == best)
        assert str(band.loc[user]) == cheapest_best, user


# ------------------------------------------------------------------ the notebook's own tests


def test_solution_passes_every_test_cell(base):
    """Hidden tests included; each cell alone, so no test relies on another test's names."""
    for cell in _read().cells:
        if _is_test_cell(cell):
            run_test_cell(cell.source, base, _nbgrader(cell)["grade_id"])


def test_visible_tests_pass_on_their_own(base):
    release = copy.deepcopy(_read())
    release, _ = ClearHiddenTests().preprocess(release, {})
    for cell in release.cells:
        if _is_test_cell(cell):
            assert "HIDDEN" not in cell.source
            run_test_cell(cell.source, base, _nbgrader(cell)["grade_id"])


def test_untouched_release_fails_every_test_cell(base):
    release = copy.deepcopy(_read())
    release, _ = ClearSolutions().preprocess(release, {})
    stubs = dict(base)
    for cell in release.cells:
        if _is_solution_code(cell):
            assert "raise NotImplementedError()" in cell.source
            exec(compile(cell.source, "stub", "exec"), stubs)
    for cell in _read().cells:
        if _is_test_cell(cell):
            with pytest.raises(NotImplementedError):
                run_test_cell(cell.source, stubs)


# which student functions each test cell calls: a mistake in one function costs the points of
# the cells that call it and no others (beating popularity needs both co-occurrence steps)
CALLS = {
    "test_hr_at_k": {"hr_at_k"},
    "test_ndcg_at_k": {"ndcg_at_k"},
    "test_category_shares": {"category_shares"},
    "test_price_band": {"price_band"},
    "test_cooccurrence_counts": {"cooccurrence_counts"},
    "test_cooccurrence_scores_and_recommend": {"cooccurrence_scores", "recommend"},
    "test_beats_popularity": {"cooccurrence_counts", "cooccurrence_scores"},
}


def test_each_test_cell_calls_only_its_own_functions(ns):
    nb = _read()
    student_functions = {
        node.name
        for cell in nb.cells
        if _is_solution_code(cell)
        for node in ast.parse(cell.source).body
        if isinstance(node, ast.FunctionDef)
    }
    assert student_functions == set().union(*CALLS.values())
    for cell in nb.cells:
        if _is_test_cell(cell):
            names = {n.id for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.Name)}
            assert names & student_functions == CALLS[_nbgrader(cell)["grade_id"]]


CONSECUTIVE_PAIRS_ONLY = """
def cooccurrence_counts(interactions, n_items):
    sessions = interactions[S.SESSION].to_numpy()
    items = interactions[S.ITEM].to_numpy()
    same = sessions[1:] == sessions[:-1]
    first, second = items[:-1][same], items[1:][same]
    counts = np.zeros((n_items, n_items))
    np.add.at(counts, (first, second), 1)
    np.add.at(counts, (second, first), 1)
    np.fill_diagonal(counts, 0)
    return counts
"""

# (solution cell, text replaced, replacement, test cell that must fail, caught by hidden tests only)
WRONG_ANSWERS = {
    "hr off by one": (
        "hr_at_k",
        "list(ranked)[:k]",
        "list(ranked)[: k + 1]",
        "test_hr_at_k",
        False,
    ),
    "hr raises on an absent target": (
        "hr_at_k",
        "target in list(ranked)[:k]",
        "list(ranked).index(target) < k",
        "test_hr_at_k",
        True,
    ),
    "ndcg rank from 0": (
        "ndcg_at_k",
        "math.log2(rank + 1)",
        "math.log2(rank + 2)",
        "test_ndcg_at_k",
        False,
    ),
    "ndcg natural log": ("ndcg_at_k", "math.log2(", "math.log(", "test_ndcg_at_k", False),
    "ndcg ignores k": ("ndcg_at_k", "list(ranked)[:k]", "list(ranked)", "test_ndcg_at_k", True),
    "shares count every event": (
        "category_shares",
        'events.loc[events[S.EVENT_TYPE] == "view", [S.USER, S.ITEM]]',
        "events[[S.USER, S.ITEM]]",
        "test_category_shares",
        False,
    ),
    "band ties go to the dearer tier": (
        "price_band",
        "list(S.PRICE_TIERS)",
        "list(S.PRICE_TIERS)[::-1]",
        "test_price_band",
        False,
    ),
    "band counts every event": (
        "price_band",
        'events.loc[events[S.EVENT_TYPE] == "view", [S.USER, S.ITEM]]',
        "events[[S.USER, S.ITEM]]",
        "test_price_band",
        True,
    ),
    "pairs counted twice in a session": (
        "cooccurrence_counts",
        ".drop_duplicates()",
        "",
        "test_cooccurrence_counts",
        True,
    ),
    "consecutive pairs only": (
        "cooccurrence_counts",
        None,
        CONSECUTIVE_PAIRS_ONLY,
        "test_cooccurrence_counts",
        False,
    ),
    "seen items kept": (
        "cooccurrence_scores",
        "scores[row, history] = -np.inf",
        "pass",
        "test_cooccurrence_scores_and_recommend",
        False,
    ),
    "only the last n_recent excluded": (
        "cooccurrence_scores",
        "scores[row, history] = -np.inf",
        "scores[row, history[-n_recent:]] = -np.inf",
        "test_cooccurrence_scores_and_recommend",
        True,
    ),
    "whole history summed": (
        "cooccurrence_scores",
        "counts[history[-n_recent:]]",
        "counts[history]",
        "test_cooccurrence_scores_and_recommend",
        True,
    ),
    "ties to the higher id": (
        "cooccurrence_scores",
        'np.argsort(-np.asarray(scores, dtype=np.float64), axis=1, kind="stable")',
        "np.argsort(np.asarray(scores), axis=1)[:, ::-1]",
        "test_cooccurrence_scores_and_recommend",
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
    namespace = dict(base)
    exec(compile(mutated, solution_id, "exec"), namespace)
    test_source = _cell(nb, test_id).source
    with pytest.raises(AssertionError):
        run_test_cell(test_source, namespace, test_id)
    if hidden_only:  # the visible sample passes: only the hidden tests catch this one
        run_test_cell(test_source.split("### BEGIN HIDDEN TESTS")[0], namespace, test_id)

"""Assignment 01 (nbgrader source notebook): the solutions against the course library.

The solution functions are taken out of the source notebook and checked against the course
library (`ecomrec.metrics`) and brute-force counts on random data. The structure every
assignment shares (points, cell roles, solution passes, stub fails, wrong answers such as an
off-by-one rank, a natural log or seen items kept) is tests/test_assignment_structure.py's,
with this assignment's facts in tests/assignments/a01.py.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from assignments.a01 import ASSIGNMENT
from nbsource import cell as _cell
from nbsource import is_solution_code as _is_solution_code
from nbsource import nbgrader as _nbgrader

from ecomrec import metrics
from ecomrec import schema as S


def _read():
    return ASSIGNMENT.read()


def solution_namespace(nb=None) -> dict:
    """Exec the imports cell and every solution cell (no data loading, no tests)."""
    nb = nb or _read()
    namespace: dict = {}
    exec(compile(_cell(nb, "imports").source, "imports", "exec"), namespace)
    for cell in nb.cells:
        if _is_solution_code(cell):
            exec(compile(cell.source, _nbgrader(cell)["grade_id"], "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def ns() -> dict:
    return solution_namespace()


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

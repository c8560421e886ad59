"""Assignment 01-data-and-profiles: points, which answers each test cell uses, and the wrong
answers its tests must catch (checked by tests/test_assignment_structure.py)."""

from assignments.spec import Assignment

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


ASSIGNMENT = Assignment(
    slug="01-data-and-profiles",
    points=EXPECTED_POINTS,
    calls=CALLS,
    wrong_answers=WRONG_ANSWERS,
)

"""Assignment 05-multi-stage-ranking: points, which answers each test cell uses, and the wrong
answers its tests must catch (checked by tests/test_assignment_structure.py)."""

from assignments.spec import Assignment

TRAINING_CELL = "train_model"  # the one answer cell that trains (left to course check)
TRAINED_TEST = "test_ranker_ndcg"

# grade_id -> points, as in the syllabus: 2 + 1 + 2 + 2 + (1 + 2) autograded, 2 by hand
EXPECTED_POINTS = {
    "test_recall_at_k": 2,
    "test_category_share": 1,
    "test_friends_bought_recently": 2,
    "test_listwise_loss": 2,
    "test_ranker_model": 1,
    "test_ranker_ndcg": 2,
    "written_answer": 2,
}

CALLS = {
    "test_recall_at_k": {"recall_at_k"},
    "test_category_share": {"category_share"},
    "test_friends_bought_recently": {"friends_bought_recently"},
    "test_listwise_loss": {"listwise_loss"},
    "test_ranker_model": {"Ranker"},
    "test_ranker_ndcg": {"Ranker"},
}

NAIVE_SOFTMAX = "log_p = torch.log(torch.exp(scores) / torch.exp(scores).sum(dim=1, keepdim=True))"

# (answer cell, text replaced, replacement, test cell that must fail, caught by hidden tests only)
WRONG_ANSWERS = {
    "recall counts repeats as places": (
        "recall_at_k",
        "first = list(dict.fromkeys(np.asarray(ranked).tolist()))[:k]",
        "first = np.asarray(ranked).tolist()[:k]",
        "test_recall_at_k",
        False,
    ),
    "category share reads the target's time": (
        "category_share",
        "(views[S.TIMESTAMP] < time)",
        "(views[S.TIMESTAMP] <= time)",
        "test_category_share",
        False,
    ),
    "category share reads the whole history": (
        "category_share",
        " & (views[S.TIMESTAMP] < time)]",
        "]",
        "test_category_share",
        False,
    ),
    "friends' purchases at the target's time": (
        "friends_bought_recently",
        "(purchases[S.TIMESTAMP] < time)",
        "(purchases[S.TIMESTAMP] <= time)",
        "test_friends_bought_recently",
        True,
    ),
    "friends' window without its start": (
        "friends_bought_recently",
        "(purchases[S.TIMESTAMP] >= start)",
        "(purchases[S.TIMESTAMP] > start)",
        "test_friends_bought_recently",
        True,
    ),
    "friends' purchases from anyone": (
        "friends_bought_recently",
        "purchases[S.USER].isin(list(friends))\n        & ",
        "",
        "test_friends_bought_recently",
        False,
    ),
    "loss with an unstable softmax": (
        "listwise_loss",
        "log_p = scores - torch.logsumexp(scores, dim=1, keepdim=True)",
        NAIVE_SOFTMAX,
        "test_listwise_loss",
        True,
    ),
    "loss summed over lists": (
        "listwise_loss",
        "/ positives).mean()",
        "/ positives).sum()",
        "test_listwise_loss",
        False,
    ),
    "ranker reads the other candidates": (
        "ranker_model",
        "return self.net(values).squeeze(-1)",
        "return self.net(values - values.mean(dim=1, keepdim=True)).squeeze(-1)",
        "test_ranker_model",
        True,
    ),
}


ASSIGNMENT = Assignment(
    slug="05-multi-stage-ranking",
    points=EXPECTED_POINTS,
    calls=CALLS,
    wrong_answers=WRONG_ANSWERS,
    skipped_cells=frozenset({TRAINING_CELL}),
    training_cell=TRAINING_CELL,
    trained_test=TRAINED_TEST,
    assigned_names=frozenset({"model", "valid_ndcg"}),
    training_calls=frozenset({"train_ranker", "ablation"}),
)

"""Assignment 02-interest-modeling: points, which answers each test cell uses, and the wrong
answers its tests must catch (checked by tests/test_assignment_structure.py)."""

from assignments.spec import Assignment

TRAINING_CELL = "train_sequence_model"  # the one answer cell that trains (left to course check)
TRAINED_TEST = "test_beats_markov"  # checked with stand-in models in test_assignment_02.py

# grade_id -> points, as in the syllabus: 3 + 2 + 2 + (1 + 2) autograded, 2 by hand
EXPECTED_POINTS = {
    "test_rnn_cell": 3,
    "test_interest_scores": 2,
    "test_pad_batch": 2,
    "test_sequence_model": 1,
    "test_beats_markov": 2,
    "written_answer": 2,
}


# which student names each test cell uses: a mistake in one answer costs the points of the
# cells that use it and no others (the trained-model test reads `model`, which the training
# call sets, through globals() so that the release, where the call is a stub, still lints)
CALLS = {
    "test_rnn_cell": {"rnn_cell"},
    "test_interest_scores": {"interest_scores"},
    "test_pad_batch": {"pad_batch"},
    "test_sequence_model": {"SequenceRecommender"},
    "test_beats_markov": {"SequenceRecommender"},
}


BIDIRECTIONAL = "self.gru = nn.GRU(dim, dim // 2, batch_first=True, bidirectional=True)"


NAIVE_SIGMOID = """
def interest_scores(user_states, item_embeddings):
    return 1 / (1 + np.exp(-(np.asarray(user_states) @ np.asarray(item_embeddings).T)))
"""


TWO_BRANCH_SIGMOID = """
def interest_scores(user_states, item_embeddings):
    z = np.asarray(user_states) @ np.asarray(item_embeddings).T
    return np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))
"""


CATEGORY_ONLY = (
    "for number, codes in enumerate(features.values()):",
    "for number, codes in enumerate([features[S.CATEGORY]]):",
)


# (answer cell, text replaced, replacement, test cell that must fail, caught by hidden tests only)
WRONG_ANSWERS = {
    "rnn sigmoid (the article's sigma)": (
        "rnn_cell",
        "np.tanh(stacked @ W_h.T + b_h)",
        "1 / (1 + np.exp(-(stacked @ W_h.T + b_h)))",
        "test_rnn_cell",
        False,
    ),
    "rnn [x; h] instead of [h; x]": (
        "rnn_cell",
        "[h_prev, x]",
        "[x, h_prev]",
        "test_rnn_cell",
        False,
    ),
    "rnn without bias": ("rnn_cell", "@ W_h.T + b_h", "@ W_h.T", "test_rnn_cell", False),
    "interest overflows": ("interest_scores", None, NAIVE_SIGMOID, "test_interest_scores", True),
    "interest np.where computes both branches": (
        "interest_scores",
        None,
        TWO_BRANCH_SIGMOID,
        "test_interest_scores",
        True,
    ),
    "interest items by users": (
        "interest_scores",
        "return np.where(z >= 0, 1.0 / (1.0 + small), small / (1.0 + small))",
        "return np.where(z >= 0, 1.0 / (1.0 + small), small / (1.0 + small)).T",
        "test_interest_scores",
        False,
    ),
    "interest without sigmoid": (
        "interest_scores",
        "return np.where(z >= 0, 1.0 / (1.0 + small), small / (1.0 + small))",
        "return z",
        "test_interest_scores",
        False,
    ),
    "pad keeps the oldest items": (
        "pad_batch",
        "[-max_len:]",
        "[:max_len]",
        "test_pad_batch",
        False,
    ),
    "pad without the shift": ("pad_batch", "= items + 1", "= items", "test_pad_batch", False),
    "pad always max_len wide": (
        "pad_batch",
        "width = max((len(s) for s in kept), default=0)",
        "width = max_len",
        "test_pad_batch",
        True,
    ),
    "pad integer mask": ("pad_batch", "dtype=bool)", "dtype=np.int64)", "test_pad_batch", True),
    "pad left reverses the items": (
        "pad_batch",
        "ids[row, begin : begin + len(items)] = items + 1",
        "ids[row, begin : begin + len(items)] = "
        "(items + 1) if side == 'right' else (items[::-1] + 1)",
        "test_pad_batch",
        False,
    ),
    "pad accepts any side": (
        "pad_batch",
        "raise ValueError",
        "pass  # ValueError",
        "test_pad_batch",
        True,
    ),
    "model reads the future": (
        "sequence_model",
        "self.gru = nn.GRU(dim, dim, batch_first=True)",
        BIDIRECTIONAL,
        "test_sequence_model",
        True,
    ),
    "model reads the targets": (
        "sequence_model",
        "+ self.next_start_flag(batch.next_starts.long())",
        "+ self.next_start_flag(batch.next_starts.long()) + table[batch.targets.clamp(min=0)]",
        "test_sequence_model",
        True,
    ),
    "model uses the category only": (
        "sequence_model",
        *CATEGORY_ONLY,
        "test_sequence_model",
        True,
    ),
}


ASSIGNMENT = Assignment(
    slug="02-interest-modeling",
    points=EXPECTED_POINTS,
    calls=CALLS,
    wrong_answers=WRONG_ANSWERS,
    skipped_cells=frozenset({TRAINING_CELL}),
    training_cell=TRAINING_CELL,
    trained_test=TRAINED_TEST,
    assigned_names=frozenset({"model", "run"}),
    training_calls=frozenset({"train_next_item_model"}),
)

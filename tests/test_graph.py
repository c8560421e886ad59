"""Unit tests for ecomrec.graph: exact values on small graphs, fast."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import average_precision_score

from ecomrec import schema as S
from ecomrec.graph import (
    GCN,
    BPRSampler,
    FeatureMLP,
    GraphConv,
    GraphSAGE,
    LightGCN,
    LightGCNRecommender,
    LinkPredictor,
    MessageGraph,
    adjacency_matrix,
    assortativity,
    auc_bootstrap,
    average_precision,
    bipartite_normalized_adjacency,
    blend_scores,
    blend_sweep,
    bpr_loss,
    co_purchase_graph,
    friend_purchase_counts,
    intra_list_diversity,
    layer_combination,
    layer_combined_logits,
    link_prediction_metrics,
    mean_adjacency,
    minmax_rows,
    normalized_adjacency,
    ranking_and_diversity,
    sample_negative_edges,
    split_edges,
    split_edges_by_time,
    train_link_predictor,
    undirected_edges,
    user_features,
)
from ecomrec.scoring import ScoringContext

PATH = np.array([[0, 1], [1, 2]])  # 0 - 1 - 2


def random_graph(n_nodes=40, n_edges=120, seed=0):
    rng = np.random.default_rng(seed)
    return undirected_edges(rng.integers(0, n_nodes, n_edges), rng.integers(0, n_nodes, n_edges))


def test_normalized_adjacency_is_exact_on_a_three_node_path():
    s6, s2 = 1 / math.sqrt(6), 1 / math.sqrt(2)
    expected = np.array([[1 / 2, s6, 0], [s6, 1 / 3, s6], [0, s6, 1 / 2]])
    np.testing.assert_allclose(normalized_adjacency(PATH, 3).numpy(), expected, atol=1e-7)
    sparse = normalized_adjacency(PATH, 3, sparse=True)
    assert sparse.is_sparse
    np.testing.assert_allclose(sparse.to_dense().numpy(), expected, atol=1e-7)
    no_loops = normalized_adjacency(PATH, 3, self_loops=False).numpy()
    np.testing.assert_allclose(no_loops, [[0, s2, 0], [s2, 0, s2], [0, s2, 0]], atol=1e-7)


def test_adjacency_is_symmetric_and_collapses_duplicates():
    edges = np.array([[0, 1, 1, 2], [1, 0, 0, 2]])  # duplicates and a self-loop
    a = adjacency_matrix(edges, 3).numpy()
    np.testing.assert_array_equal(a, [[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(
        adjacency_matrix(PATH, 3, self_loops=True).numpy(), [[1, 1, 0], [1, 1, 1], [0, 1, 1]]
    )
    m = mean_adjacency(PATH, 3, sparse=False).numpy()
    np.testing.assert_allclose(m, [[0, 1, 0], [0.5, 0, 0.5], [0, 1, 0]])
    with pytest.raises(ValueError):
        adjacency_matrix(np.array([[0], [5]]), 3)


def test_gcn_layer_matches_a_hand_computation():
    torch.manual_seed(0)
    layer = GraphConv(2, 2)
    with torch.no_grad():
        layer.linear.weight.copy_(torch.tensor([[1.0, 2.0], [0.0, -1.0]]))
        layer.bias.copy_(torch.tensor([0.5, 0.0]))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]])
    out = layer(x, normalized_adjacency(PATH, 3)).detach().numpy()
    # h_v = sum_{u in N(v) + v} W x_u / sqrt(d_u d_v) + b, with d = (2, 3, 2)
    w, b, deg = np.array([[1.0, 2.0], [0.0, -1.0]]), np.array([0.5, 0.0]), [2, 3, 2]
    neighbours = {0: [0, 1], 1: [0, 1, 2], 2: [1, 2]}
    for v, around in neighbours.items():
        expected = sum(w @ x[u].numpy() / math.sqrt(deg[u] * deg[v]) for u in around) + b
        np.testing.assert_allclose(out[v], expected, atol=1e-6)
    # the raw-sum formula of the seed: same layer, unnormalised adjacency without self-loops
    raw = layer(x, adjacency_matrix(PATH, 3)).detach().numpy()
    np.testing.assert_allclose(raw[1], w @ (x[0] + x[2]).numpy() + b, atol=1e-6)
    np.testing.assert_allclose(raw[0], w @ x[1].numpy() + b, atol=1e-6)


def test_dense_and_sparse_propagation_agree():
    edges = random_graph()
    x = torch.randn(40, 5, generator=torch.Generator().manual_seed(1))
    for encoder, kind in [(GCN(5, [8, 4]), "normalized"), (GraphSAGE(5, [8, 4]), "mean")]:
        graph = MessageGraph(edges, 40)
        dense = graph.matrix(kind).to_dense()
        torch.testing.assert_close(encoder(x, graph.matrix(kind))[-1], encoder(x, dense)[-1])


def test_message_passing_uses_the_edges_and_the_mlp_ignores_them():
    torch.manual_seed(0)
    edges = random_graph()
    x = torch.randn(40, 5)
    shuffled = np.random.default_rng(3).permutation(40)[edges]  # same degrees, other wiring
    a, b = MessageGraph(edges, 40), MessageGraph(shuffled, 40)
    gcn, sage, mlp = GCN(5, [8, 4]), GraphSAGE(5, [8, 4]), FeatureMLP(5, [8, 4])
    assert not torch.allclose(
        gcn.embed(x, a.matrix("normalized")), gcn.embed(x, b.matrix("normalized"))
    )
    assert not torch.allclose(sage.embed(x, a.matrix("mean")), sage.embed(x, b.matrix("mean")))
    torch.testing.assert_close(mlp.embed(x, a.matrix("normalized")), mlp.embed(x, None))


def test_negative_sampling_excludes_true_edges():
    edges = random_graph(n_nodes=30, n_edges=150)
    negatives = sample_negative_edges(30, 200, edges, rng=0)
    assert negatives.shape == (2, 200)
    assert (negatives[0] < negatives[1]).all()
    keys = set(map(tuple, negatives.T.tolist()))
    assert len(keys) == 200, "no repeated pair"
    assert not keys & set(map(tuple, edges.T.tolist()))
    np.testing.assert_array_equal(negatives, sample_negative_edges(30, 200, edges, rng=0))
    with pytest.raises(ValueError):
        sample_negative_edges(4, 10, np.array([[0], [1]]))


def test_edge_split_leaves_no_held_out_edge_in_the_training_graph():
    edges = random_graph(n_nodes=60, n_edges=300)
    split = split_edges(edges, 0.1, 0.2, seed=0)
    parts = [set(map(tuple, p.T.tolist())) for p in (split.train, split.valid, split.test)]
    assert sum(map(len, parts)) == edges.shape[1]
    assert set().union(*parts) == set(map(tuple, edges.T.tolist()))
    assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
    adjacency = MessageGraph(split.train, 60).matrix("normalized").to_dense()
    held_out = np.concatenate([split.valid, split.test], axis=1)
    assert (adjacency[held_out[0], held_out[1]] == 0).all()
    assert (adjacency[held_out[1], held_out[0]] == 0).all()


def test_common_neighbours_on_a_small_graph():
    graph = MessageGraph(np.array([[0, 0, 1, 1, 2], [1, 2, 2, 3, 3]]), 5)
    common = graph.common_neighbours(np.array([[0, 0, 3], [3, 4, 4]])).to_dense().numpy()
    np.testing.assert_array_equal(common, [[0, 1, 1, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]])


def test_layer_combination_matches_a_hand_computation():
    h1 = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.0, 1.0]])
    h2 = torch.tensor([[0.5, 0.0], [2.0, 2.0], [1.0, 1.0]])
    pairs = torch.tensor([[0, 1], [1, 2]])
    logits = layer_combined_logits([h1, h2], pairs, [0.25, 0.75], a=2.0)
    # pair (0, 1): 2 * (0.25 * (3 - 2) + 0.75 * (1 + 0)) = 2.0
    # pair (1, 2): 2 * (0.25 * (0 - 1) + 0.75 * (2 + 2)) = 5.5
    torch.testing.assert_close(logits, torch.tensor([2.0, 5.5]))
    combined = layer_combination([h1, h2], [0.25, 0.75])
    torch.testing.assert_close(combined[1], torch.tensor([2.25, 1.25]))
    with pytest.raises(ValueError):
        layer_combination([h1], [0.5, 0.5])


def test_average_precision_and_auc_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300) + 0.3 * y, 1)  # many ties
    assert average_precision(y, scores) == pytest.approx(average_precision_score(y, scores))
    metrics = link_prediction_metrics(np.array([0.9, 0.8, 0.3]), np.array([0.1, 0.5]))
    assert metrics["auc"] == pytest.approx(5 / 6)
    # ranked: + + - + -, precision at each positive 1, 1, 3/4
    assert metrics["ap"] == pytest.approx((1 + 1 + 3 / 4) / 3)


def test_assortativity_matches_networkx():
    edges = random_graph(n_nodes=50, n_edges=200)
    labels = np.random.default_rng(1).integers(0, 3, 50)
    graph = nx.Graph(edges.T.tolist())
    nx.set_node_attributes(graph, dict(enumerate(labels.tolist())), "label")
    assert assortativity(edges, labels) == pytest.approx(
        nx.attribute_assortativity_coefficient(graph, "label")
    )


def test_training_is_deterministic_and_learns_a_planted_structure():
    # two communities, edges only inside; features reveal the community weakly
    rng = np.random.default_rng(0)
    group = np.repeat([0, 1], 30)
    a, b = rng.integers(0, 30, 200), rng.integers(0, 30, 200)
    edges = undirected_edges(np.r_[a, a + 30], np.r_[b, b + 30])
    x = torch.tensor(
        np.c_[group + rng.normal(0, 1.0, 60), rng.normal(size=(60, 3))], dtype=torch.float32
    )
    split = split_edges(edges, 0.1, 0.2, seed=0)
    valid_neg = sample_negative_edges(60, split.valid.shape[1], edges, rng=1)
    test_neg = sample_negative_edges(60, split.test.shape[1], edges, rng=2)

    def run():
        torch.manual_seed(0)
        model = LinkPredictor(GCN(4, [16, 8]), "common")
        history = train_link_predictor(
            model, x, split.train, split.valid, valid_neg, epochs=100, seed=0, progress=False
        )
        graph = MessageGraph(split.train, 60)
        from ecomrec.graph import evaluate_link_predictor

        return history, evaluate_link_predictor(model, x, graph, split.test, test_neg)

    (h1, m1), (h2, m2) = run(), run()
    assert h1.epochs_run == 100 and [r["loss"] for r in h1.history] == [
        r["loss"] for r in h2.history
    ]
    assert m1 == m2
    assert m1["auc"] > 0.8
    validated = [r for r in h1.history if "valid_auc" in r]
    assert [r["epoch"] for r in validated] == list(range(5, 101, 5))
    assert h1.best_score == max(r["valid_auc"] for r in validated)


def test_user_features_and_co_purchase_graph():
    users = pd.DataFrame(
        {S.USER: [0, 1], S.AGE: [20, 40], S.GENDER: ["female", "male"], S.CITY_TIER: [1, 2]}
    )
    items = pd.DataFrame(
        {
            S.ITEM: [0, 1, 2],
            S.CATEGORY: ["a", "b", "a"],
            S.PRICE_TIER: ["budget", "premium", "budget"],
        }
    )
    views = pd.DataFrame({S.USER: [0, 0, 0, 1], S.ITEM: [0, 1, 2, 1]})
    x, names = user_features(users, items, views)
    assert x.shape == (2, len(names))
    np.testing.assert_allclose(x[0, :2], [2 / 3, 1 / 3], rtol=1e-6)  # category shares
    np.testing.assert_allclose(x[1, :2], [0, 1])
    events = pd.DataFrame(
        {
            S.USER: [0, 0, 1, 1, 1],
            S.ITEM: [0, 1, 0, 1, 2],
            S.EVENT_TYPE: ["purchase"] * 4 + ["view"],
        }
    )
    graph = co_purchase_graph(events, items)
    assert graph.number_of_nodes() == 3 and graph[0][1]["weight"] == 2
    assert not graph.has_edge(1, 2)


# ----------------------------------------------------------------------- LightGCN

# two users, three items: u0 - i0, u0 - i1, u1 - i1, u1 - i2 (nodes: u0 u1 i0 i1 i2)
TINY_USER_ITEM = np.array([[0, 0, 1, 1], [0, 1, 1, 2]])


def test_bipartite_adjacency_of_the_tiny_graph():
    a = bipartite_normalized_adjacency(TINY_USER_ITEM, 2, 3, sparse=False).numpy()
    s2 = 1 / math.sqrt(2)
    expected = np.zeros((5, 5))
    # degrees: u0 2, u1 2, i0 1, i1 2, i2 1; entry 1 / sqrt(d_u d_i), no self-loops
    for (u, i), value in {(0, 2): s2, (0, 3): 0.5, (1, 3): 0.5, (1, 4): s2}.items():
        expected[u, i] = expected[i, u] = value
    np.testing.assert_allclose(a, expected, atol=1e-7)


def test_lightgcn_propagation_matches_a_hand_computation():
    model = LightGCN(2, 3, dim=2, n_layers=2)
    e0 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    with torch.no_grad():
        model.embedding.copy_(e0)
    adjacency = bipartite_normalized_adjacency(TINY_USER_ITEM, 2, 3)
    s2 = 1 / math.sqrt(2)
    u0, u1, i0, i1, i2 = e0.numpy()
    # one layer: e_v' = sum_{w in N(v)} e_w / sqrt(d_v d_w), no weights, no activation
    e1 = np.array([s2 * i0 + 0.5 * i1, 0.5 * i1 + s2 * i2, s2 * u0, 0.5 * u0 + 0.5 * u1, s2 * u1])
    e2 = np.array(
        [
            s2 * e1[2] + 0.5 * e1[3],
            0.5 * e1[3] + s2 * e1[4],
            s2 * e1[0],
            0.5 * e1[0] + 0.5 * e1[1],
            s2 * e1[1],
        ]
    )
    layers = model.layers(adjacency)
    np.testing.assert_allclose(layers[1].detach().numpy(), e1, atol=1e-6)
    np.testing.assert_allclose(layers[2].detach().numpy(), e2, atol=1e-6)
    # layer combination with alpha_l = 1 / (L + 1) = 1/3
    final = (e0.numpy() + e1 + e2) / 3
    np.testing.assert_allclose(model(adjacency).detach().numpy(), final, atol=1e-6)
    np.testing.assert_allclose(model.alphas.numpy(), [1 / 3] * 3)
    scores = model.scores(adjacency, np.array([1, 0]))
    np.testing.assert_allclose(scores, final[[1, 0]] @ final[2:].T, atol=1e-6)


def test_lightgcn_without_layers_is_matrix_factorisation():
    model = LightGCN(2, 3, dim=4, n_layers=0, seed=1)
    adjacency = bipartite_normalized_adjacency(TINY_USER_ITEM, 2, 3)
    torch.testing.assert_close(model(adjacency), model.embedding)
    np.testing.assert_array_equal(model.alphas.numpy(), [1.0])
    # same seed, same start; another seed, another start
    torch.testing.assert_close(LightGCN(2, 3, 4, seed=1).embedding, model.embedding)
    assert not torch.allclose(LightGCN(2, 3, 4, seed=2).embedding, model.embedding)


def test_lightgcn_agrees_with_torch_geometric():
    from torch_geometric.nn.models import LightGCN as ReferenceLightGCN

    rng = np.random.default_rng(0)
    user_item = np.unique(np.stack([rng.integers(0, 30, 200), rng.integers(0, 20, 200)]), axis=1)
    ours = LightGCN(30, 20, dim=8, n_layers=3, seed=0)
    reference = ReferenceLightGCN(50, 8, 3)
    with torch.no_grad():
        reference.embedding.weight.copy_(ours.embedding)
    both_ways = torch.tensor(
        np.c_[[user_item[0], user_item[1] + 30], [user_item[1] + 30, user_item[0]]]
    )
    adjacency = bipartite_normalized_adjacency(user_item, 30, 20)
    torch.testing.assert_close(
        ours(adjacency), reference.get_embedding(both_ways), atol=1e-6, rtol=1e-5
    )


def test_bpr_loss_matches_a_hand_computation():
    final = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [3.0, 0.0]])  # 1 user, 3 items
    ego = torch.tensor([[1.0, 1.0], [0.0, 1.0], [2.0, 0.0], [1.0, 0.0]])
    loss = bpr_loss(final, ego, torch.tensor([0]), torch.tensor([2]), torch.tensor([0]), 1, 0.5)
    # margin e_u.(e_i - e_j) = 3 - 0 = 3; penalty (|e_u|^2 + |e_2|^2 + |e_0|^2) / 1 = 2 + 1 + 1
    assert loss.item() == pytest.approx(math.log1p(math.exp(-3.0)) + 0.5 * 4, rel=1e-6)


def test_bpr_sampler_draws_unseen_negatives_reproducibly():
    rng = np.random.default_rng(0)
    user_item = np.unique(np.stack([rng.integers(0, 10, 60), rng.integers(0, 8, 60)]), axis=1)
    observed = set(map(tuple, user_item.T.tolist()))
    a, b = BPRSampler(user_item, 8, batch_size=16, seed=3), BPRSampler(user_item, 8, 16, seed=3)
    for epoch in (1, 2, 3, 2):  # an epoch's batches depend on (seed, epoch) only
        batches_a, batches_b = a(epoch), b(epoch)
        assert len(batches_a) == len(a) == -(-user_item.shape[1] // 16)
        parts = zip(*batches_a, strict=True)
        users, positives, negatives = (torch.cat(part).numpy() for part in parts)
        assert sorted(zip(users.tolist(), positives.tolist(), strict=True)) == sorted(observed)
        assert not set(zip(users.tolist(), negatives.tolist(), strict=True)) & observed
        for x, y in zip(batches_a, batches_b, strict=True):
            for p, q in zip(x, y, strict=True):
                torch.testing.assert_close(p, q)


def test_lightgcn_learns_a_planted_structure_deterministically():
    # users 0-19 like items 0-9, users 20-39 like items 10-19
    rng = np.random.default_rng(0)
    users = rng.integers(0, 40, 400)
    items = rng.integers(0, 10, 400) + 10 * (users >= 20)
    log = pd.DataFrame({S.USER: users, S.ITEM: items}).drop_duplicates()

    def run():
        model = LightGCNRecommender(dim=8, n_layers=2, epochs=30, batch_size=64, lr=0.05, seed=0)
        model.progress = False
        return model.fit(log, n_items=20, n_users=40).score(
            ScoringContext(np.arange(40), [[]] * 40)
        )

    scores = run()
    np.testing.assert_array_equal(scores, run())
    in_group = np.where(np.arange(40)[:, None] >= 20, np.arange(20) >= 10, np.arange(20) < 10)
    assert scores[in_group].mean() > scores[~in_group].mean() + 1.0
    assert (scores.argmax(axis=1) >= 10).tolist() == (np.arange(40) >= 20).tolist()


# ------------------------------------------------------------------------- social


def test_friend_purchases_count_only_friends_strictly_before_the_target():
    t = pd.Timestamp("2026-02-01 12:00:00")
    events = pd.DataFrame(
        {
            S.USER: [1, 1, 1, 1, 2, 3],
            S.ITEM: [4, 4, 5, 6, 4, 7],
            S.TIMESTAMP: [
                t - pd.Timedelta(days=1),  # counts
                t - pd.Timedelta(days=2),  # counts again: two purchases of item 4
                t,  # at the target time: the future, excluded
                t - pd.Timedelta(days=40),  # outside the 30-day window
                t - pd.Timedelta(hours=1),  # user 2 is a friend too
                t - pd.Timedelta(hours=1),  # user 3 is not a friend of user 0
            ],
            S.EVENT_TYPE: ["purchase", "purchase", "purchase", "purchase", "purchase", "purchase"],
        }
    )
    views = events.assign(**{S.EVENT_TYPE: "view", S.ITEM: 0})  # views never count
    friendships = pd.DataFrame({S.USER_A: [0, 2], S.USER_B: [1, 0]})
    targets = pd.DataFrame({S.USER: [0, 3], S.TIMESTAMP: [t, t]})
    counts = friend_purchase_counts(pd.concat([events, views]), friendships, targets, 8)
    np.testing.assert_array_equal(counts[0], [0, 0, 0, 0, 3, 0, 0, 0])
    np.testing.assert_array_equal(counts[1], np.zeros(8))  # user 3 has no friends
    everything = friend_purchase_counts(events, friendships, targets, 8, window_days=None)
    np.testing.assert_array_equal(everything[0], [0, 0, 0, 0, 3, 0, 1, 0])


def test_blending_and_intra_list_diversity_are_exact():
    base = np.array([[1.0, 3.0, 2.0, 0.0], [4.0, 3.0, 2.0, 1.0]])
    friends = np.array([[0.0, 0.0, 1.0, 2.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(blend_scores(base, friends, 0.0), minmax_rows(base))
    blended = blend_scores(base, friends, 0.4)
    np.testing.assert_allclose(blended[0], [0.2, 0.6, 0.4 + 0.2, 0.4])
    np.testing.assert_allclose(blended[1], 0.6 * np.array([1, 2 / 3, 1 / 3, 0]))
    with pytest.raises(ValueError):
        blend_scores(base, friends, 1.5)

    labels = np.array(["a", "a", "b", "c"])
    assert intra_list_diversity(np.array([[0, 1], [0, 2]]), labels) == 0.5
    assert intra_list_diversity(np.array([[0, 2, 3]]), labels) == 1.0
    assert intra_list_diversity(np.array([[0, 1, 2]]), labels) == pytest.approx(2 / 3)

    report = ranking_and_diversity(base, np.array([2, 3]), [[1], None], labels, k=2)
    # row 0 without item 1: 2 (score 2) > 0 (1) > 3 (0); target 2 ranked 1
    # row 1: 0 > 1 > 2 > 3; target 3 ranked 4
    assert report["ndcg@2"] == pytest.approx(0.5)
    assert report["recall@2"] == pytest.approx(0.5)
    assert report["ild@2"] == pytest.approx(0.5)  # lists [2, 0] (b, a) and [0, 1] (a, a)
    assert report["coverage@2"] == pytest.approx(3 / 4)
    sweep = blend_sweep(base, friends, [0.0, 0.4], np.array([2, 3]), [[1], None], labels, k=2)
    assert sweep.loc[0.0, "ndcg@2"] == pytest.approx(0.5)
    assert list(sweep.index) == [0.0, 0.4]
    # blended, row 0 becomes 2 (0.6) > 3 (0.4) > 0 (0.2): a friend's item enters the list
    assert sweep.loc[0.4, "ndcg@2"] == pytest.approx(0.5)
    assert sweep.loc[0.4, "ild@2"] == pytest.approx(0.5)  # lists [2, 3] (b, c) and [0, 1]
    assert sweep.loc[0.4, "coverage@2"] == pytest.approx(1.0)


def test_auc_bootstrap_reports_the_two_aucs_and_an_interval_that_can_fail():
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1.0, 1.0, 400), rng.normal(0.0, 1.0, 400)
    better = auc_bootstrap(pos + 1.0, neg, pos, neg, n_resamples=300, seed=1)
    expected = (
        link_prediction_metrics(pos + 1.0, neg)["auc"],
        link_prediction_metrics(pos, neg)["auc"],
    )
    assert (better.mean_a, better.mean_b) == pytest.approx(expected)
    assert better.relative == pytest.approx(expected[0] / expected[1] - 1)
    assert better.low < better.relative < better.high
    assert better.a_beats_b and better.n_users == 800
    # a model never beats itself, and a tiny difference is within noise
    assert not auc_bootstrap(pos, neg, pos, neg, n_resamples=300).significant
    assert not auc_bootstrap(
        pos + rng.normal(0, 0.01, 400), neg, pos, neg, n_resamples=300
    ).significant
    # the same seed gives the same interval
    again = auc_bootstrap(pos + 1.0, neg, pos, neg, n_resamples=300, seed=1)
    assert (again.low, again.high) == (better.low, better.high)


def test_auc_bootstrap_refuses_pairs_that_do_not_match():
    with pytest.raises(ValueError, match="same pairs"):
        auc_bootstrap(np.zeros(5), np.zeros(5), np.zeros(4), np.zeros(5))
    with pytest.raises(ValueError, match="finite"):
        auc_bootstrap(np.r_[np.nan, 1.0], np.zeros(2), np.zeros(2), np.zeros(2))


def test_time_split_holds_out_the_newest_friendships():
    rng = np.random.default_rng(0)
    n = 200
    a, b = rng.integers(0, 50, n), rng.integers(0, 50, n)
    dates = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.permutation(n), unit="D")
    friendships = pd.DataFrame({S.USER_A: a, S.USER_B: b, S.CREATED_AT: dates})
    split = split_edges_by_time(friendships, 0.1, 0.2)
    date_of = {}
    for u, v, t in zip(np.minimum(a, b), np.maximum(a, b), dates, strict=True):
        if u != v:
            date_of[(u, v)] = min(t, date_of.get((u, v), t))
    newest_train = max(date_of[tuple(e)] for e in split.train.T.tolist())
    oldest_valid = min(date_of[tuple(e)] for e in split.valid.T.tolist())
    assert newest_train <= oldest_valid <= min(date_of[tuple(e)] for e in split.test.T.tolist())
    together = np.concatenate([split.train, split.valid, split.test], axis=1)
    assert sorted(map(tuple, together.T.tolist())) == sorted(date_of)  # each friendship once
    assert split.test.shape[1] == round(0.2 * len(date_of))
    with pytest.raises(ValueError, match="created_at"):
        split_edges_by_time(friendships.drop(columns=S.CREATED_AT))

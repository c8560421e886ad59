"""ecomrec.ranking: candidate sources, features (no future leakage), rankers and losses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ecomrec import schema as S
from ecomrec.baselines import Markov
from ecomrec.datasets import load_shopsim
from ecomrec.oracle import oracle_probabilities
from ecomrec.ranking import (
    FEATURE_NAMES,
    DCNRanker,
    LambdaMART,
    RankingTargets,
    ShopStatistics,
    candidate_mass,
    candidate_recall,
    candidate_table,
    full_catalogue_scores,
    list_batches,
    listwise_softmax_loss,
    mass_curve,
    merge_candidates,
    pairwise_logistic_loss,
    ranking_features,
    recall_curve,
    source_scores,
    top_candidates,
    training_lists,
    training_targets,
    union_order,
)
from ecomrec.scoring import ScoringContext
from ecomrec.splits import known_interactions, temporal_split
from ecomrec.training import train


@pytest.fixture(scope="module")
def shop():
    data = load_shopsim()
    split = temporal_split(data.interactions)
    known = known_interactions(split, "test")
    stats = ShopStatistics(known, data.items, data.events, data.friendships)
    return data, split, known, stats


def _targets(split, known, n=200):
    return RankingTargets.from_log(known, split.test.iloc[:n])


# --------------------------------------------------------------------------- targets
def test_histories_hold_only_views_strictly_before_the_target():
    log = pd.DataFrame(
        {
            S.USER: [0, 0, 0, 0],
            S.ITEM: [1, 2, 3, 4],
            S.SESSION: [5, 5, 6, 6],
            S.TIMESTAMP: pd.to_datetime(["2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"]),
        }
    )
    targets = log.iloc[[2]]  # the view at 2026-01-04: itself and the later one are not history
    t = RankingTargets.from_log(log, targets)
    assert t.histories[0].tolist() == [1, 2]
    assert t.mission_items().tolist() == [-1] and t.session_starts().tolist() == [True]
    t = RankingTargets.from_log(log, log.iloc[[3]])
    assert t.histories[0].tolist() == [1, 2, 3] and t.mission_items().tolist() == [3]


def test_training_targets_leave_the_targets_out_of_the_statistics_log(shop):
    _, split, _, _ = shop
    stats_log, targets = training_targets(split.train, n_last=2)
    assert len(stats_log) + len(targets) == len(split.train)
    last = split.train.groupby(S.USER)[S.TIMESTAMP].max()
    first_target = targets.groupby(S.USER)[S.TIMESTAMP].min()
    latest_stat = stats_log.groupby(S.USER)[S.TIMESTAMP].max()
    assert (latest_stat.loc[first_target.index] <= first_target).all()
    assert (targets.groupby(S.USER).size() == 2).all()
    assert (targets.groupby(S.USER)[S.TIMESTAMP].max() == last.loc[first_target.index]).all()
    with pytest.raises(ValueError, match="n_last"):
        training_targets(split.train, n_last=0)


# --------------------------------------------------------------------------- candidates
def test_candidate_recall_counts_duplicates_once_and_handles_empty_sets():
    assert candidate_recall([[3, 3, 1], [], [2]], [1, 5, 2]) == pytest.approx(2 / 3)
    assert candidate_recall(np.array([[1, 2], [2, 1]]), [2, 3]) == 0.5
    with pytest.raises(ValueError, match="candidate sets"):
        candidate_recall([[1]], [1, 2])
    with pytest.raises(ValueError, match="at least one target"):
        candidate_recall([], [])


def test_merge_takes_sources_in_turn_and_leaves_seen_items_out():
    a = np.array([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    b = np.array([[-np.inf, -np.inf, -np.inf, -np.inf, 2.0, 9.0]])
    top = merge_candidates({"a": a, "b": b}, [np.array([0])], k=4)
    assert top.tolist() == [[1, 5, 2, 4]]  # a's best unseen, b's best, a's next, b's next
    with pytest.raises(ValueError, match="fewer than k"):
        merge_candidates({"b": b}, [np.array([0])], k=3)
    with pytest.raises(ValueError, match="quota"):
        merge_candidates({"a": a}, [np.array([0])], k=2, quotas={"a": 0.0})


def test_sources_on_shopsim_propose_unseen_items_and_the_union_beats_each(shop):
    _, split, known, stats = shop
    t = _targets(split, known)
    scores = source_scores(stats, t)
    assert set(scores) == {"co-occurrence", "mission", "complements", "friends", "taste", "popular"}
    starts = t.session_starts()
    assert np.isneginf(scores["mission"][starts]).all(), "no mission at a session start"
    row = int(np.flatnonzero(~starts)[0])
    mission_cat = stats.item_category[t.mission_items()[row]]
    proposed = np.isfinite(scores["mission"][row])
    assert (stats.item_category[proposed] == mission_cat).all()
    candidates = merge_candidates(scores, t.histories, 100)
    for row, history in enumerate(t.histories):
        assert not np.isin(candidates[row], history).any()
        assert len(set(candidates[row].tolist())) == 100
    curve = recall_curve(scores, t.histories, t.items, [50, 100])
    assert curve["union"][100] == pytest.approx(candidate_recall(candidates, t.items))
    assert curve["union"][100] > max(curve[name][100] for name in scores)
    assert curve["union"][100] >= curve["union"][50]


def test_candidate_mass_sums_the_true_probability_of_distinct_candidates():
    p = np.array([[0.5, 0.25, 0.25, 0.0], [0.1, 0.1, 0.0, 0.8]])
    assert candidate_mass([[0, 0, 1], []], p) == pytest.approx((0.75 + 0.0) / 2)
    assert candidate_mass(np.array([[3, 2], [3, 0]]), p) == pytest.approx((0.25 + 0.9) / 2)
    with pytest.raises(ValueError, match="one \\(n_items,\\) distribution per target"):
        candidate_mass([[0]], p)
    with pytest.raises(ValueError, match="at least one target"):
        candidate_mass([], np.zeros((0, 4)))


def test_mass_curve_on_shopsim_is_bounded_by_the_oracles_own_top_k(shop):
    data, split, known, stats = shop
    t = _targets(split, known)
    probabilities = _oracle(data, split.test.iloc[:200])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    scores = source_scores(stats, t)
    ks = [50, 100, 200]
    mass = mass_curve(scores, t.histories, probabilities, ks)
    ceiling = mass_curve({"oracle": probabilities}, t.histories, probabilities, ks, union=False)
    assert set(mass) == {*scores, "union"} and set(ceiling) == {"oracle"}
    for k in ks:
        assert 0 < mass["union"][k] <= ceiling["oracle"][k] + 1e-12
        assert mass["union"][k] >= max(mass[name][k] for name in scores) - 1e-12
    assert mass["union"][200] == pytest.approx(
        candidate_mass(merge_candidates(scores, t.histories, 200), probabilities)
    )
    # mass and realised recall estimate the same thing: they agree up to sampling noise
    recall = recall_curve(scores, t.histories, t.items, ks)
    assert abs(recall["union"][100] - mass["union"][100]) < 0.08


def _oracle(data, targets):
    return oracle_probabilities(data.events, data.friendships, data.load_truth(), targets)


# --------------------------------------------------------------------------- features
def test_features_line_up_with_their_definitions(shop):
    _, split, known, stats = shop
    t = _targets(split, known, n=50)
    candidates = merge_candidates(source_scores(stats, t), t.histories, 30)
    table = ranking_features(stats, t, candidates)
    assert table.values.shape == (50, 30, len(FEATURE_NAMES))
    assert np.isfinite(table.values).all()
    assert table.labels.sum() == candidate_recall(candidates, t.items) * 50
    col = {n: table.values[:, :, i] for i, n in enumerate(table.names)}
    np.testing.assert_allclose(col["log_popularity"], np.log1p(stats.popularity)[candidates], 1e-6)
    starts = t.session_starts()
    assert (col["within_session"][:, 0] == ~starts).all()
    assert (col["mission_category"][starts] == 0).all()
    fewer = table.without("friends")
    assert "friend_purchases" not in fewer.names and "friends" not in fewer.groups
    assert fewer.values.shape[2] == len(FEATURE_NAMES) - 2
    with pytest.raises(ValueError, match="candidates must be"):
        ranking_features(stats, t, candidates[:3])


def test_a_sequence_model_adds_the_gru_group(shop):
    """Any scorer with the course's ``score(context)`` gives the ``gru`` group: its
    log-probability among the unseen items and the log of its rank there."""
    data, split, known, stats = shop
    t = _targets(split, known, n=40)
    candidates = merge_candidates(source_scores(stats, t), t.histories, 30)
    plain = ranking_features(stats, t, candidates)
    table = ranking_features(stats, t, candidates, sequence_model=stats.markov)
    assert table.names == (*plain.names, "gru_log_prob", "gru_log_rank")
    assert set(table.groups) == {*plain.groups, "gru"}
    np.testing.assert_array_equal(table.without("gru").values, plain.values)
    scores = stats.markov.score(t.scoring_context())
    row = 3
    unseen = np.setdiff1d(np.arange(data.n_items), t.histories[row])
    log_p = scores[row, unseen] - np.log(np.exp(scores[row, unseen]).sum())
    lookup = dict(zip(unseen.tolist(), log_p, strict=True))
    got = table.values[row, :, table.names.index("gru_log_prob")]
    expected = np.maximum([lookup[int(c)] for c in candidates[row]], -50.0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    ranks = np.exp(table.values[:, :, table.names.index("gru_log_rank")])
    assert ranks.min() >= 1.0 - 1e-4 and ranks.max() <= data.n_items + 1e-3
    best = np.argmax(table.values[:, :, table.names.index("gru_log_prob")], axis=1)
    assert np.all(ranks[np.arange(40), best] <= ranks.min(axis=1) + 1e-3)


def test_lesson_02s_gru_scores_the_targets_through_the_one_interface(shop):
    from ecomrec.models.recommender import SequenceRecommender

    data, split, known, stats = shop
    small = known[known[S.USER] < 60]
    gru = SequenceRecommender(items=data.items, dim=8, epochs=1, seed=0, progress=False)
    gru.fit(small, data.n_items)
    t = _targets(split, known, n=20)
    candidates = merge_candidates(source_scores(stats, t), t.histories, 10)
    table = ranking_features(stats, t, candidates, sequence_model=gru)
    assert np.isfinite(table.values).all() and "gru_log_prob" in table.names
    with pytest.raises(ValueError, match="session-start flags"):
        gru.score(ScoringContext(t.users, t.histories))


def test_no_feature_reads_an_event_at_or_after_its_target(shop):
    """Add views, and friends' purchases, at and after each target's time: nothing changes."""
    data, split, known, stats = shop
    targets = split.test.iloc[:100]
    t = RankingTargets.from_log(known, targets)
    candidates = merge_candidates(source_scores(stats, t), t.histories, 40)
    markov = Markov().fit(known, data.n_items)  # the gru group's scorer: it reads histories
    before = ranking_features(stats, t, candidates, sequence_model=markov).values

    # the future: each target user views the target and more items at and after its time,
    # and every friend buys every candidate at the target's time and a minute later
    future_views = pd.concat(
        [targets, targets.assign(**{S.TIMESTAMP: targets[S.TIMESTAMP] + pd.Timedelta(minutes=5)})]
    )
    leaky_log = pd.concat([known, future_views], ignore_index=True)
    # a friend's purchase is in the future of every target it could reach: it happens at
    # the latest target time among the target users that friend is friends with
    time_of = dict(zip(targets[S.USER], targets[S.TIMESTAMP], strict=True))
    buys = []
    for row, user in enumerate(targets[S.USER]):
        for friend in stats.friends[user]:
            latest = max(time_of[v] for v in stats.friends[friend] if v in time_of)
            for item in candidates[row][:5]:
                for when in (latest, latest + pd.Timedelta(minutes=1)):
                    buys.append((friend, item, -1, when, "purchase"))
    future_buys = pd.DataFrame(buys, columns=[S.USER, S.ITEM, S.SESSION, S.TIMESTAMP, S.EVENT_TYPE])
    leaky_events = pd.concat([data.events, future_buys], ignore_index=True)
    leaky_stats = ShopStatistics(known, data.items, leaky_events, data.friendships)
    leaky_targets = RankingTargets.from_log(leaky_log, targets)
    after = ranking_features(leaky_stats, leaky_targets, candidates, markov).values
    np.testing.assert_array_equal(before, after)

    # the check can fail: the same purchases one second before the targets do change features
    past = future_buys.assign(**{S.TIMESTAMP: future_buys[S.TIMESTAMP] - pd.Timedelta(seconds=61)})
    past_stats = ShopStatistics(
        known, data.items, pd.concat([data.events, past], ignore_index=True), data.friendships
    )
    changed = ranking_features(past_stats, t, candidates, markov).values
    assert not np.array_equal(before, changed)


# --------------------------------------------------------------------------- losses and rankers
def test_listwise_loss_matches_an_independent_computation():
    scores = torch.tensor([[2.0, 1.0, 0.0], [0.5, 0.5, 3.0]])
    labels = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    expected = np.mean(
        [
            -np.log(np.exp(2) / np.exp([2, 1, 0]).sum()),
            -np.log(np.exp(3) / np.exp([0.5, 0.5, 3]).sum()),
        ]
    )
    assert float(listwise_softmax_loss(scores, labels)) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="positive"):
        listwise_softmax_loss(scores, torch.zeros_like(labels))


def test_pairwise_loss_matches_an_independent_computation():
    scores = torch.tensor([[2.0, 1.0, 0.0]])
    labels = torch.tensor([[0.0, 1.0, 0.0]])
    expected = np.mean([np.log1p(np.exp(-(1.0 - 2.0))), np.log1p(np.exp(-(1.0 - 0.0)))])
    assert float(pairwise_logistic_loss(scores, labels)) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="no list"):
        pairwise_logistic_loss(scores, torch.zeros_like(labels))


def test_full_catalogue_scores_put_every_non_candidate_below_every_candidate():
    full = full_catalogue_scores(np.array([[3, 1]]), np.array([[0.2, -5.0]]), n_items=5)
    assert full.shape == (1, 5)
    assert full[0, 3] == 0.2 and full[0, 1] == -5.0
    assert full[0, [0, 2, 4]].max() < -5.0


def _toy_lists(seed=0, n=400, length=10):
    """Lists where the positive has a larger first feature: any working ranker finds it."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, length, 4)).astype(np.float32)
    labels = np.zeros((n, length), dtype=np.float32)
    best = values[:, :, 0].argmax(axis=1)
    labels[np.arange(n), best] = 1.0
    return values, labels


def test_training_lists_keep_the_positive_first_and_drop_lists_without_one():
    values, labels = _toy_lists(n=5)
    labels[0] = 0.0
    x, y = training_lists(values, labels, n_negatives=3, seed=1)
    assert x.shape == (4, 4, 4) and (y[:, 0] == 1).all() and (y[:, 1:] == 0).all()
    with pytest.raises(ValueError, match="n_negatives"):
        training_lists(values, labels, n_negatives=10, seed=1)


@pytest.mark.parametrize("which", ["lambdamart", "dcn"])
def test_rankers_learn_a_toy_ranking(which):
    values, labels = _toy_lists()
    test_values, test_labels = _toy_lists(seed=1)
    if which == "lambdamart":
        model = LambdaMART(n_estimators=50).fit(values, labels)
    else:
        torch.manual_seed(0)
        model = DCNRanker(4).fit_scaler(values)
        train(model, list_batches(values, labels, 64, seed=0), 20, lr=1e-2, progress=False)
    predicted = model.predict(test_values).argmax(axis=1)
    accuracy = np.mean(test_labels[np.arange(len(predicted)), predicted] == 1)
    # chance is 0.1; trees step through a continuous feature, so they stop short of 1
    assert accuracy >= 0.75, f"{which} top-1 accuracy {accuracy:.2f} on an easy toy"


def test_lambdamart_is_deterministic():
    values, labels = _toy_lists()
    a = LambdaMART(n_estimators=20, seed=3).fit(values, labels).predict(values)
    b = LambdaMART(n_estimators=20, seed=3).fit(values, labels).predict(values)
    np.testing.assert_array_equal(a, b)


def test_candidate_table_in_chunks_equals_one_pass(shop):
    _, split, known, stats = shop
    t = _targets(split, known, n=60)
    whole = candidate_table(stats, t, 20, chunk_size=60)
    chunked = candidate_table(stats, t, 20, chunk_size=7)
    np.testing.assert_array_equal(whole.values, chunked.values)
    np.testing.assert_array_equal(whole.candidates, chunked.candidates)
    order = union_order(source_scores(stats, t), t.histories)
    np.testing.assert_array_equal(whole.candidates, top_candidates(order, 20))
    assert t.take(np.array([3, 1])).users.tolist() == t.users[[3, 1]].tolist()

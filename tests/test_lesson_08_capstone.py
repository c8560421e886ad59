"""Lesson 08's capstone companion: the learned models offline and online, and the A/B test.

The numbers come from the strict book build (`built_book`), which executes the lesson once. The
online values are exact expectations from the environment's truth, so a broken policy (the
two-stage ranker deployed with the wrong features, slates that show seen items), a broken
estimator or a broken truth fails here; tolerances leave room for another dataset seed.
"""

from __future__ import annotations

import pytest

from ecomrec.results import load_results

SLUG = "08-online-experiments-capstone"


def test_lesson_08_capstone(built_book):
    r = load_results(SLUG)
    models, learned = r["models"], r["learned"]
    assert set(learned) == {"BPR-MF", "GRU", "LambdaMART"}
    offline, online = r["offline"], r["online"]
    ndcg = {name: offline[name]["expected NDCG@10"] for name in [*models, "oracle"]}
    revenue = {name: online[name]["exact rec. revenue / user"] for name in [*models, "oracle"]}

    # offline: lesson 05's order (the ranker near the oracle, the GRU above co-occurrence)
    assert ndcg["LambdaMART"] >= 0.75 * ndcg["oracle"]
    assert ndcg["LambdaMART"] > ndcg["GRU"] > ndcg["co-occurrence"] > ndcg["popularity"]
    # online: the oracle is the ceiling and the two-stage ranker comes closest to it
    assert max(revenue, key=revenue.get) == "oracle"
    assert max(models, key=revenue.get) == "LambdaMART"
    assert revenue["LambdaMART"] >= 0.6 * revenue["oracle"]
    assert online["LambdaMART"]["exact CTR"] > online["co-occurrence"]["exact CTR"] + 0.05
    # the switch is Markov inside sessions, and online every slate is inside a session
    a = r["agreement"]
    assert a["switch_is_markov"]
    assert revenue["switch"] == pytest.approx(revenue["Markov"], rel=1e-12)

    # rank agreement: Kendall's tau inside its interval, which lies above 0
    low, high = a["tau_interval"]
    assert low - 1e-9 <= a["kendall_tau"] <= high + 1e-9
    assert low > 0 and a["kendall_tau"] >= 0.7
    assert a["best_offline"] == a["best_online"] == "LambdaMART"
    for pair in a["discordant"]:
        for side in ("offline", "online"):
            assert pair[side]["low"] <= pair[side]["relative"] <= pair[side]["high"]
    for name, sides in a["vs_best_simple"].items():
        for side, c in sides.items():
            assert c["low"] <= c["relative"] <= c["high"], (name, side)
    assert a["vs_best_simple"]["LambdaMART"]["online"]["a_beats_b"]
    assert a["vs_best_simple"]["LambdaMART"]["offline"]["a_beats_b"]

    # search: the shipped log has queries, the environment has none
    s = r["search"]
    assert 0.1 < s["shipped_query_share"] < 0.5
    assert not s["env_has_queries"]
    assert s["env_sessions_opened_by_view"] == s["n_env_sessions"] > 1000

    # the A/B test: the true lift is positive, every interval is one and covers its truth
    ab = r["ab"]
    assert ab["control"] in ("popularity", "co-occurrence", "Markov", "switch")
    assert ab["true_lift"] > 0 and ab["true_lift_relative"] > 0.2
    assert ab["srm_p"] > 0.001
    for name, e in ab["effects"].items():
        assert e["ci_low"] <= e["difference"] <= e["ci_high"], name
        assert e["covered"], name
        half = (e["ci_high"] - e["ci_low"]) / 2
        assert abs(e["difference"] - e["true_effect"]) <= 2 * half, name
    ctr = ab["effects"]["CTR"]
    assert ctr["true_effect"] > 0.05 and ctr["ci_low"] > 0
    assert ab["effects"]["revenue / user"]["true_effect"] == pytest.approx(ab["true_lift"])
    # revenue needs more users than the shop has; the sample size says so
    assert ab["power"]["n_needed_total"] > ab["power"]["n_needed_rec"] > 0
    assert 0 < ab["power"]["achieved_power"] < 0.8

    assert r["claims"] and all(r["claims"].values()), r["claims"]

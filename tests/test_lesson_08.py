"""Lesson 08 (online experiments): the recorded numbers support what the lesson teaches.

The numbers come from the strict book build (`built_book`), which executes the lesson once.
Every estimate is checked against the environment's exact truth, so a broken estimator,
environment or assignment fails here; tolerances leave room for another dataset seed.
"""

from __future__ import annotations

import pytest

from ecomrec.results import load_results

SLUG = "08-online-experiments"


def test_lesson_08_numbers(built_book):
    r = load_results(SLUG)
    # the environment: better slates, more clicks, and the oracle is the ceiling
    s = r["summary"]
    assert s["popularity"]["exact CTR"] < s["co-occurrence"]["exact CTR"] < s["oracle"]["exact CTR"]
    for name, row in s.items():
        assert row["CTR"] == pytest.approx(row["exact CTR"], abs=0.02), name
    assert r["n_impressions_full"] > 5000
    # the A/B test: each interval is an interval, the truth is inside or near it
    for name, e in r["ab"].items():
        assert e["ci_low"] <= e["difference"] <= e["ci_high"], name
        half = (e["ci_high"] - e["ci_low"]) / 2
        assert abs(e["difference"] - e["true_effect"]) <= 2 * half, name
    assert r["ab"]["CTR"]["true_effect"] > 0 and r["ab"]["CTR"]["p_value"] < 0.001
    # SRM: the alarm fires on the planted bug and not on the clean split
    assert r["srm"]["bug_p"] < r["srm"]["alarm"] <= r["srm"]["clean_p"]
    # A/A: one test at the end keeps its 5%; peeking every day inflates it
    aa = r["aa"]
    assert abs(aa["fpr_final"] - 0.05) <= aa["half_width_99"]
    assert aa["fpr_peeking"] > 0.05 + aa["half_width_99"]
    assert aa["fpr_by_day"] == sorted(aa["fpr_by_day"])
    # CUPED reduces variance and keeps the effect's expectation (covers the truth)
    c = r["cuped"]
    assert c["variance_reduction"] > 0.02
    assert c["cuped_ci_width"] < c["raw_ci_width"]
    assert c["cuped_ci_low"] <= c["true_effect"] <= c["cuped_ci_high"]
    assert r["power"]["n_needed_cuped"] < r["power"]["n_needed_revenue"]
    # interleaving needs fewer users for the same power
    il = r["interleaving"]
    assert il["ratio"] is not None and il["ratio"] > 1.5
    assert il["power_ab"][-1] >= 0.8 or il["n80_ab"] is None
    # offline vs online and real time: intervals and claims recorded from the checks
    assert -1.0 <= r["offline_online"]["spearman"] <= 1.0
    for name, cmp in r["offline_online"]["vs_best_online"].items():
        assert cmp["low"] <= cmp["relative"] <= cmp["high"], name
    assert r["realtime"]["ctr_realtime"] > r["realtime"]["ctr_daily"]
    claims = r["claims"]
    for name in (
        "srm_alarm",
        "aa_within",
        "peeking_inflates",
        "cuped_reduces",
        "interleaving_fewer",
        "realtime_wins",
    ):
        assert claims[name], name

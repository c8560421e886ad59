"""Lesson 08's off-policy companion: the recorded numbers meet the issue's bars.

The numbers come from the strict book build (`built_book`), which executes the lesson once:
repeated simulated logs from ShopSim's environment (exact truth known) and the Open Bandit
Dataset sample (Thompson sampling's click rate estimated from the uniform-random log, against its
own on-policy click rate). Tolerances would catch a broken estimator, propensity or truth.
"""

from __future__ import annotations

import math

import pytest

from ecomrec.results import load_results

SLUG = "08-online-experiments-off-policy"
TARGETS = ("greedy", "popular")
UNBIASED = ("IPS", "SNIPS", "DR", "DR, exact model")


def test_off_policy_estimates_against_the_exact_truth(built_book):
    r = load_results(SLUG)
    assert r["claims"] == {
        "ips_dr_unbiased": True,
        "dm_biased": True,
        "intervals_cover": True,
        "dr_not_noisier": True,
        "click_noise_dominates": True,
        "obd_covers": True,
        "obd_ts_vs_random_unresolved": True,
    }
    truth = r["truth"]
    # the greedy top candidate beats the exploring logger, which beats nothing: sane truths
    assert truth["greedy"] > truth["popular"] > 0.03
    assert truth["greedy"] > truth["logging"] > 0.03
    assert r["n_contexts"] >= 2000 and r["n_logs"] >= 200
    for target in TARGETS:
        for estimator in UNBIASED:
            row = r["repeated"][f"{target}/{estimator}"]
            # unbiased: the mean over logs within 3.5 standard errors of the exact truth
            assert abs(row["bias"]) < 3.5 * row["standard error of the bias"], (target, estimator)
            assert abs(row["relative bias"]) < 0.03, (target, estimator)
            assert row["std"] > 0
        for estimator in ("IPS", "SNIPS", "DR"):
            # the 95% intervals cover the truth in about 95% of the logs
            n = r["n_logs"]
            coverage = r["coverage"][f"{target}/{estimator}"]
            assert coverage >= 0.95 - 3 * math.sqrt(0.95 * 0.05 / n), (target, estimator)
        dm = r["repeated"][f"{target}/DM"]
        assert abs(dm["bias"]) > 5 * dm["standard error of the bias"]  # the reward model is off
    # the popular policy's larger weights make IPS noisier than for greedy
    assert r["repeated"]["popular/IPS"]["std"] > r["repeated"]["greedy/IPS"]["std"]
    # the one log's intervals cover the truth for the unbiased estimators, mostly
    one = r["one_log"]
    assert sum(one[f"{t}/{e}"]["covers"] for t in TARGETS for e in UNBIASED) >= 6
    for key, row in one.items():
        assert row["low"] <= row["estimate"] <= row["high"], key


def test_open_bandit_estimates_against_the_on_policy_click_rate(built_book):
    obd = load_results(SLUG)["open_bandit"]
    assert obd["n_random"] == obd["n_ts"] == 10_000
    assert (obd["clicks_random"], obd["clicks_ts"]) == (38, 42)
    on_policy = obd["on_policy"]
    assert on_policy["value"] == pytest.approx(0.0042)
    assert obd["random_click_rate"] == pytest.approx(0.0038)
    for name in ("IPS", "SNIPS", "DR"):
        e = obd["estimates"][name]
        assert e["low"] <= on_policy["value"] <= e["high"], name
        # Saito et al.'s check: off-policy within a modest factor of on-policy
        assert abs(e["relative_error"]) < 0.5, name
        assert e["interval"] == "bootstrap" and e["n"] == 10_000
        assert 0.9 < e["mean_weight"] < 1.1 and e["max_weight"] < 80, name

"""Lesson 04 (graphs and user relationships): the recorded headline numbers make sense.

The numbers come from the strict book build (`built_book`), which executes the lesson once.
Tolerances leave room for another dataset seed and catch a broken model, split or metric.
"""

from __future__ import annotations

import pytest

from ecomrec.results import load_results


def test_lesson_04_numbers(built_book):
    r = load_results("04-graph-relations")
    h = r["headline"]
    # the GCN link predictor clears the bar and the edge-blind MLP does not come close
    assert h["gcn_auc"] >= 0.90
    assert h["gcn_ap"] >= 0.85
    assert h["gcn_auc"] >= h["mlp_auc"] + 0.08, "edges must add a clear margin over features"
    assert h["gcn_ap"] > h["mlp_ap"] + 0.08
    assert 0.6 <= h["mlp_auc"] <= 0.88, "the MLP learns homophily from features, no more"
    # seeing the graph helps even with a plain dot product; the shared-neighbour readout more
    assert h["gcn_dot_auc"] > h["mlp_auc"]
    assert h["gcn_auc"] > h["gcn_dot_auc"] + 0.03
    assert h["sage_auc"] >= 0.88
    assert h["mlp_shared_auc"] >= 0.85
    assert h["layer_combined_auc"] > h["mlp_auc"]
    assert sum(r["layer_alphas"]) == pytest.approx(1.0, abs=1e-5)
    for name, m in r["link_prediction"].items():
        assert 0.5 < m["auc"] <= 1.0 and 0.5 < m["ap"] <= 1.0, name

    g, hom = r["graph"], r["homophily"]
    assert g["clustering"] > 10 * g["density"], "triadic closure: far more triangles than random"
    assert 5 <= g["mean_degree"] <= 9
    # homophily: 78% same-segment friendships against about 17% under shuffled labels
    assert 0.65 <= hom["same_segment_share"] <= 0.9
    assert 0.12 <= hom["shuffled_same_segment_share"] <= 0.22
    assert hom["assortativity"] > hom["shuffled_assortativity_mean"] + 20 * max(
        hom["shuffled_assortativity_std"], 1e-3
    )
    assert hom["community_nmi"] > 0.2

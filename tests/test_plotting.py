"""The shared plot helpers draw what they are given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from ecomrec.plotting import plot_long_tail, plot_metric_bars, plot_training_curves  # noqa: E402


def test_long_tail_is_log_log_and_sorted():
    ax = plot_long_tail(np.array([1, 50, 3, 0, 7]))
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    y = ax.lines[0].get_ydata()
    assert list(y) == sorted(y, reverse=True) and 0 not in y
    plt.close("all")


def test_metric_bars_label_values_and_draw_the_oracle():
    table = pd.DataFrame({"ndcg@10": [0.03, 0.12]}, index=["popularity", "markov"])
    ax = plot_metric_bars(table, "ndcg@10", oracle=0.27)
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([0.03, 0.12])
    assert any(line.get_ydata()[0] == pytest.approx(0.27) for line in ax.lines)
    with pytest.raises(KeyError, match="mrr"):
        plot_metric_bars(table, "mrr")
    plt.close("all")


def test_training_curves_one_line_per_quantity():
    history = [{"epoch": e, "loss": 1.0 / e, "seconds": 0.1} for e in range(1, 4)]
    ax = plot_training_curves(history)
    assert len(ax.lines) == 1  # seconds is not drawn
    assert list(ax.lines[0].get_ydata()) == pytest.approx([1.0, 0.5, 1 / 3])
    with pytest.raises(ValueError, match="empty"):
        plot_training_curves([])
    plt.close("all")


def _points_under_legend(ax) -> int:
    ax.figure.canvas.draw()
    box = ax.get_legend().get_window_extent()
    points = np.concatenate([ax.transData.transform(line.get_xydata()) for line in ax.lines])
    return int(sum(box.contains(x, y) for x, y in points))


def test_training_curves_have_whole_epochs_and_a_legend_off_the_data():
    # three epochs would get ticks at 1.5, 2.5 without an integer locator
    history = [{"epoch": e, "loss": 1.0 / e, "val": 0.2 * e} for e in range(1, 4)]
    ax = plot_training_curves(history)
    ticks = [t for t in ax.get_xticks() if 1 <= t <= 3]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    # curves through the upper left and upper right: a legend pinned to a corner there would
    # cover them; "best" finds the empty middle or bottom
    history = [{"epoch": e, "a": (e - 10) ** 2, "b": 100 - e} for e in range(1, 21)]
    ax = plot_training_curves(history)
    assert _points_under_legend(ax) == 0
    plt.close("all")

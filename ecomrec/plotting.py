"""Small matplotlib helpers the lessons share, so every lesson draws the same figure the same way.

Each takes an optional ``ax`` (a new figure is made when it is None) and returns the
Axes; none calls ``plt.show()``, so notebooks and scripts decide how to display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator


def _axes(ax: Axes | None, figsize: tuple[float, float] = (6.0, 4.0)) -> Axes:
    if ax is not None:
        return ax
    _, new_ax = plt.subplots(figsize=figsize)
    return new_ax


def plot_long_tail(
    counts: np.ndarray | pd.Series | Sequence[float], ax: Axes | None = None, label: str = "items"
) -> Axes:
    """Interaction count against popularity rank on log-log axes.

    A straight-ish falling line is the long tail: a few head items get most
    interactions. Items with zero interactions cannot be drawn on a log axis and are
    left out (the title says how many).
    """
    ax = _axes(ax)
    values = np.sort(np.asarray(counts, dtype=np.float64).ravel())[::-1]
    positive = values[values > 0]
    ranks = np.arange(1, len(positive) + 1)
    ax.loglog(ranks, positive, marker=".", linestyle="none", markersize=3, label=label)
    ax.set_xlabel("popularity rank")
    ax.set_ylabel("interactions")
    n_zero = len(values) - len(positive)
    title = "Long tail of item popularity"
    ax.set_title(title if n_zero == 0 else f"{title} ({n_zero} items with none not shown)")
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_metric_bars(
    table: pd.DataFrame | Mapping[str, Mapping[str, float]],
    metric: str,
    ax: Axes | None = None,
    oracle: float | None = None,
) -> Axes:
    """One bar per model for `metric`, value labels on the bars, the oracle as a dashed line.

    Args:
        table: a DataFrame indexed by model name with one column per metric, or a
            mapping ``{model: {metric: value}}`` (e.g. several ``evaluate_ranking`` dicts).
        metric: the column to draw, e.g. ``"ndcg@10"``.
        oracle: the best achievable value (the simulator's truth), drawn for scale.
    """
    frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame.from_dict(table, "index")
    if metric not in frame.columns:
        raise KeyError(f"metric {metric!r} not in table columns {list(frame.columns)}")
    ax = _axes(ax)
    values = frame[metric].astype(float)
    bars = ax.bar([str(name) for name in values.index], values.to_numpy())
    ax.bar_label(bars, fmt="%.3f", padding=2)
    if oracle is not None:
        ax.axhline(oracle, linestyle="--", color="black", label=f"oracle ({oracle:.3f})")
        ax.legend(loc="best")  # where it covers the fewest bars and labels
    top = max([*values.to_numpy(), oracle if oracle is not None else 0.0])
    ax.set_ylim(0, top * 1.15 if top > 0 else 1)
    ax.set_ylabel(metric)
    ax.tick_params(axis="x", labelrotation=20)
    return ax


def plot_training_curves(
    history: pd.DataFrame | Mapping[str, Sequence[float]] | Sequence[Mapping[str, Any]],
    ax: Axes | None = None,
    columns: Sequence[str] | None = None,
) -> Axes:
    """One line per tracked quantity against epoch (whole epochs on the axis, the legend
    where it covers the fewest points).

    Args:
        history: per-epoch records, as a list of dicts (e.g. ``BPRMF().history_``), a
            dict of lists, or a DataFrame. An ``epoch`` column, if present, is the x axis.
        columns: which quantities to draw; default all numeric columns except
            ``epoch`` and ``seconds``. Missing values (a metric measured only every few
            epochs) are skipped, so each line joins the epochs where it was measured. Put
            quantities of very different scale on separate axes (call twice).
    """
    frame = pd.DataFrame(history)
    if frame.empty:
        raise ValueError("history is empty: nothing to plot")
    epochs = frame["epoch"] if "epoch" in frame else pd.Series(np.arange(1, len(frame) + 1))
    if columns is None:
        numeric = frame.select_dtypes("number").columns
        columns = [name for name in numeric if name not in ("epoch", "seconds")]
    ax = _axes(ax)
    for name in columns:
        measured = frame[name].notna().to_numpy()  # e.g. a metric validated every few epochs
        ax.plot(
            epochs.to_numpy()[measured],
            frame[name].to_numpy()[measured],
            marker="o",
            markersize=3,
            label=name,
        )
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 2.5 on the axis
    ax.legend(loc="best")  # where it covers the fewest points of the curves
    ax.grid(True, alpha=0.3)
    return ax

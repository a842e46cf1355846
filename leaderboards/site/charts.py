"""Matplotlib figures for the site: per-metric bars with CI error bars, speed vs quality."""

from __future__ import annotations

import math
from pathlib import Path

from hcvg.atomic import atomic_write
from hcvg.errors import require

require("matplotlib", "site", "the leaderboard site (charts)")
import matplotlib  # noqa: E402

matplotlib.use("Agg")  # files only; never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullFormatter, ScalarFormatter  # noqa: E402


def _metric_grid(count: int, panel_height: float):
    """Up to three panels a row, one per metric."""
    columns = min(3, max(1, count))
    rows = math.ceil(count / columns)
    return plt.subplots(rows, columns, figsize=(4.2 * columns, panel_height * rows), squeeze=False)


def _save(fig, axes, used: int, path: Path, title: str) -> Path:
    """Blank the unused panels, title the figure and write it as PNG."""
    for ax in list(axes.flat)[used:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    finally:
        plt.close(fig)
    return path


def metric_bars(block: pd.DataFrame, path: Path, title: str) -> Path:
    """One bar chart per metric (subplots), error bars from the 95% CIs.

    Args:
        block: Summary rows of one split and scope (entry, metric, value, ci_low,
            ci_high, higher_is_better); ``entry`` names the bar.
        path: PNG to write.
        title: Figure title.
    """
    metrics = sorted(block["metric"].unique())
    fig, axes = _metric_grid(len(metrics), panel_height=3.0)
    for ax, metric in zip(axes.flat, metrics):
        data = block[block["metric"] == metric].sort_values("entry")
        values = data["value"].to_numpy(float)
        low = np.nan_to_num(values - data["ci_low"].to_numpy(float), nan=0.0)
        high = np.nan_to_num(data["ci_high"].to_numpy(float) - values, nan=0.0)
        ax.bar(data["entry"], values, yerr=[np.maximum(low, 0), np.maximum(high, 0)], capsize=4, color="#4c78a8")
        arrow = "↑" if bool(data["higher_is_better"].iloc[0]) else "↓"
        ax.set_title(f"{metric} {arrow}", fontsize=10)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    return _save(fig, axes, len(metrics), path, title)


def speed_quality(points: pd.DataFrame, path: Path, title: str) -> Path:
    """Seconds per clip (log x across decades) against each metric, one subplot per metric.

    Args:
        points: Rows with entry, metric, value, seconds, higher_is_better.
        path: PNG to write.
        title: Figure title.
    """
    fig, axes, used = speed_quality_figure(points)
    return _save(fig, axes, used, path, title)


def speed_quality_figure(points: pd.DataFrame):
    """The figure `speed_quality` writes: (figure, axes grid, number of panels used)."""
    metrics = sorted(points["metric"].unique())
    fig, axes = _metric_grid(len(metrics), panel_height=3.2)
    for ax, metric in zip(axes.flat, metrics):
        data = points[points["metric"] == metric]
        ax.scatter(data["seconds"], data["value"], color="#e45756")
        for entry, x, y in zip(data["entry"], data["seconds"], data["value"]):
            ax.annotate(entry, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        seconds = data["seconds"]
        # A log axis only pays off across decades (paper: 5.7 s to 108 s); within one it
        # has no labelled major tick at all.
        if (seconds > 0).all() and seconds.max() / seconds.min() >= 10:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        else:
            # Matplotlib's default picks up to 9 ticks with labels such as "0.00075",
            # which run together on a 4-inch panel: fewer ticks, and no offset term.
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
            ax.xaxis.set_major_formatter(ScalarFormatter(useOffset=False))
        ax.tick_params(axis="x", labelsize=8)
        ax.margins(x=0.12, y=0.12)  # room for the points' labels inside the panel
        arrow = "↑" if bool(data["higher_is_better"].iloc[0]) else "↓"
        ax.set_xlabel("seconds per clip (generation)", fontsize=8)
        ax.set_ylabel(f"{metric} {arrow}", fontsize=8)
    return fig, axes, len(metrics)

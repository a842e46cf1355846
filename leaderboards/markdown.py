"""A run's summary as Markdown tables: one per split and scope, best per column (on the common set) in bold."""

from __future__ import annotations

import math

import pandas as pd

from leaderboards.ranking import UNRANKED_MARK, basis_notes, entry_n, n_text, ranked_view


# Below this many clips a Fréchet distance is strongly biased (FVD's authors use 256+).
MIN_TRUSTED_CLIPS = 256


def format_value(value: float, low: float | None = None, high: float | None = None) -> str:
    """Four significant digits, with the CI as ``[low, high]`` when it is known."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value:.4g}"
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return text
    low_text, high_text = f"{low:.4g}", f"{high:.4g}"
    if low_text != high_text:  # a CI that rounds to a point says nothing
        text += f" [{low_text}, {high_text}]"
    return text


def best_per_column(table: pd.DataFrame, higher_is_better: dict[str, bool]) -> dict[str, set[str]]:
    """Row labels holding the best value of each metric column (ties all count)."""
    best = {}
    for metric, higher in higher_is_better.items():
        column = table[metric].dropna()
        if column.empty:
            best[metric] = set()
            continue
        target = column.max() if higher else column.min()
        best[metric] = set(column.index[column == target])
    return best


def render_leaderboard(summary: pd.DataFrame, timings: pd.DataFrame | None = None) -> str:
    """Render a summary (see `benchmark.summary.summarize`) as Markdown.

    Adapters are compared only on the samples every one of them was scored on (the
    common set, `leaderboards.ranking`); the n column says how many samples each was
    scored on, of how many, and flags the ones with missing samples. Where some adapter
    is missing samples, a second table gives every adapter's values over all its own
    samples (not ranked). A column with a single value has no best.

    Args:
        summary: Rows of adapter, split, metric, scope, value, ci_low, ci_high, n,
            higher_is_better, and optionally level and the common-set columns
            (`leaderboards.ranking.COMMON_COLUMNS`).
        timings: Optional per-sample timings (adapter, stage, seconds); adds the
            mean generation seconds per clip.

    Returns:
        Markdown text: a heading and a table per (split, scope); metric columns carry
        ↑ (higher is better) or ↓, and the best value in each ranked column is bold.
    """
    if summary.empty:
        return "# Leaderboard\n\nNo scores yet.\n"
    lines = ["# Leaderboard", ""]
    speed = seconds_per_clip(timings)
    for (split, scope), group in summary.groupby(["split", "scope"], sort=True):
        view = ranked_view(group)
        direction = group.drop_duplicates("metric").set_index("metric")["higher_is_better"].to_dict()
        metrics = sorted(direction)
        header = ["adapter", *[f"{m} {'↑' if direction[m] else '↓'}" for m in metrics], "n"]
        if speed:
            header.append("s/clip")
        lines += [f"## {split} — scope `{scope}`", "", *_table(view, metrics, header, speed, full=False), ""]
        notes = basis_notes(view)
        if notes:
            lines += [" ".join(notes), ""]
        if view["missing"].any():
            lines += [f"### {split} — scope `{scope}`: each adapter on all its own samples (not ranked)", "",
                      *_table(view, metrics, header[: len(metrics) + 2], {}, full=True), ""]
    lines.append("Values are means over samples with 95% bootstrap confidence intervals in brackets; n = samples scored.")
    if "level" in summary and ((summary["level"] == "distribution") & (summary["n"] < MIN_TRUSTED_CLIPS)).any():
        lines.append(f"† distribution-level metric (FID/FVD) over fewer than {MIN_TRUSTED_CLIPS} clips: too few to trust.")
    return "\n".join(lines) + "\n"


def _table(view: pd.DataFrame, metrics: list[str], header: list[str], speed: dict[str, float], full: bool) -> list[str]:
    """Markdown rows of one block: ranked values (``full=False``) or each adapter's own, unmarked."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    indexed = view.set_index(["adapter", "metric"])
    for adapter in sorted(view["adapter"].unique()):
        cells = [adapter]
        for metric in metrics:
            if (adapter, metric) not in indexed.index:
                cells.append("–")
                continue
            row = indexed.loc[(adapter, metric)]
            if full:
                source = summary_value(row, "full")
            else:
                source = summary_value(row, "shown")
            text = format_value(*source)
            if row["level"] == "distribution" and row["n"] < MIN_TRUSTED_CLIPS:
                text += "†"
            if not full and row["basis"] == "unranked":
                text += UNRANKED_MARK
            cells.append(f"**{text}**" if not full and row["best"] else text)
        n, total, missing = entry_n(view, adapter)
        cells.append(n_text(n, total, missing))
        if speed:
            cells.append(format_value(speed.get(adapter, math.nan)))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def summary_value(row: pd.Series, which: str) -> tuple[float, float, float]:
    """(value, low, high) of a `ranked_view` row: the shown (ranked) one or the adapter's own."""
    if which == "shown":
        return row["shown_value"], row["shown_low"], row["shown_high"]
    return row["value"], row["ci_low"], row["ci_high"]


def generation_seconds(timings: pd.DataFrame) -> pd.DataFrame:
    """The ``generate`` rows of a run's timings with one ``clip_seconds`` column.

    ``clip_seconds`` is the CUDA-synchronized time where it was measured (work queued
    on a GPU counts), else the wall time; rows with neither are dropped.
    """
    generated = timings[timings["stage"] == "generate"].copy()
    seconds = generated["seconds"].astype(float)
    if "seconds_synchronized" in generated:
        synchronized = generated["seconds_synchronized"].astype(float)
        seconds = synchronized.where(synchronized.notna(), seconds)
    generated["clip_seconds"] = seconds
    return generated.dropna(subset=["clip_seconds"])


def seconds_per_clip(timings: pd.DataFrame | None) -> dict[str, float]:
    """Mean generation seconds per clip by adapter (`generation_seconds`); {} without timings."""
    if timings is None or timings.empty or "stage" not in timings:
        return {}
    return generation_seconds(timings).groupby("adapter")["clip_seconds"].mean().to_dict()

"""Build the static leaderboard site from one or more runs' results.

Inputs are pandas-level (summaries, timings) and arrays (`GallerySample`); the output
is a folder with ``index.html``, PNG charts and GIFs, viewable from disk with no server
and nothing fetched from the network.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hcvg.atomic import atomic_write_text
from leaderboards.formats.html_table import render_html_fragment
from leaderboards.markdown import format_value
from leaderboards.paper_tables import published_table
from leaderboards.ranking import UNRANKED_MARK, basis_notes, entry_n, n_text, ranked_view
from leaderboards.site.charts import metric_bars, speed_quality
from leaderboards.site.gallery import GallerySample, render_gallery, safe_name
from leaderboards.site.page import page
from leaderboards.specs import PAPER_TABLES


@dataclass
class SiteRun:
    """One run's results.

    Attributes:
        name: Short name shown when several runs are merged (the directory name).
        summary: Its summary.parquet.
        timings: Its timings.parquet (may be empty).
    """

    name: str
    summary: pd.DataFrame
    timings: pd.DataFrame


def merge_runs(runs: list[SiteRun]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stack runs' summaries and timings with an ``entry`` column naming each adapter.

    An adapter label that appears in more than one run is shown as ``label (run)``.
    """
    summaries, timings = [], []
    for run in runs:
        summaries.append(run.summary.assign(run=run.name))
        if run.timings is not None and not run.timings.empty:
            timings.append(run.timings.assign(run=run.name))
    summary = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame()
    timing = pd.concat(timings, ignore_index=True) if timings else pd.DataFrame(columns=["run", "adapter", "split", "stage", "seconds"])
    runs_per_label = summary.groupby("adapter")["run"].nunique() if not summary.empty else pd.Series(dtype=int)

    def entry(frame: pd.DataFrame) -> pd.Series:
        shared = frame["adapter"].map(runs_per_label).fillna(1) > 1
        return frame["adapter"].where(~shared, frame["adapter"] + " (" + frame["run"] + ")")

    if not summary.empty:
        summary["entry"] = entry(summary)
    if not timing.empty:
        timing["entry"] = entry(timing)
    return summary, timing


def seconds_per_clip(timings: pd.DataFrame) -> pd.DataFrame:
    """Mean generation seconds per clip by entry and split."""
    if timings.empty or "stage" not in timings:
        return pd.DataFrame(columns=["entry", "split", "seconds"])
    generated = timings[timings["stage"] == "generate"].dropna(subset=["seconds"])
    return generated.groupby(["entry", "split"], as_index=False)["seconds"].mean()


def leaderboard_table(block: pd.DataFrame, speed: dict[str, float], table_id: str) -> str:
    """A sortable HTML table of one split and scope: value with CI per metric, n, s/clip.

    Values and bold follow `leaderboards.ranking.ranked_view` (the common set within
    one run); the notes below the table say what each column is ranked on.
    """
    view = ranked_view(block, entity="entry")
    direction = block.drop_duplicates("metric").set_index("metric")["higher_is_better"].astype(bool).to_dict()
    metrics = sorted(direction)
    indexed = view.set_index(["entry", "metric"])
    head = ["adapter", *[f"{m} {'↑' if direction[m] else '↓'}" for m in metrics], "n", "s/clip"]
    rows = []
    for entry in sorted(view["entry"].unique()):
        cells = [f'<td data-value="" class="adapter">{html.escape(entry)}</td>']
        for metric in metrics:
            if (entry, metric) not in indexed.index:
                cells.append('<td data-value="">–</td>')
                continue
            row = indexed.loc[(entry, metric)]
            low, high = row["shown_low"], row["shown_high"]
            ci = "" if pd.isna(low) or pd.isna(high) or format_value(low) == format_value(high) else f' <span class="ci">[{format_value(low)}, {format_value(high)}]</span>'
            klass = ' class="best"' if row["best"] else ""
            mark = UNRANKED_MARK if row["basis"] == "unranked" else ""
            own = f' title="all its own {int(row["n"])} samples: {format_value(row["value"], row["ci_low"], row["ci_high"])}"'
            cells.append(f'<td data-value="{float(row["shown_value"])!r}"{klass}{own}>{format_value(row["shown_value"])}{mark}{ci}</td>')
        n, total, missing = entry_n(view, entry, entity="entry")
        cells.append(f'<td data-value="{n}">{html.escape(n_text(n, total, missing))}</td>')
        seconds = speed.get(entry, math.nan)
        cells.append(f'<td data-value="{"" if math.isnan(seconds) else repr(seconds)}">{format_value(seconds)}</td>')
        rows.append(f'<tr data-adapter="{html.escape(entry)}">' + "".join(cells) + "</tr>")
    header = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in head)
    notes = "".join(f'<p class="note">{html.escape(note)}</p>' for note in basis_notes(view, entity="entry"))
    return (
        f'<table class="sortable" id="{html.escape(table_id)}"><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{notes}"
    )


def build_site(runs: list[SiteRun], out: Path, gallery: list[GallerySample] | None = None, title: str = "handi-bench leaderboard") -> Path:
    """Write the site.

    Args:
        runs: The runs to show (their tables are merged).
        out: Output folder (created; files in it are overwritten).
        gallery: Samples for the gallery (None or empty: a note instead).
        title: Page title.

    Returns:
        The path of ``index.html``.
    """
    out.mkdir(parents=True, exist_ok=True)
    summary, timings = merge_runs(runs)
    speed = seconds_per_clip(timings)
    tables, charts, scatters = [], [], []
    if summary.empty:
        tables.append('<p class="na">No scores in these runs.</p>')
    for (split, scope), block in summary.groupby(["split", "scope"], sort=True) if not summary.empty else []:
        table_id = f"lb-{safe_name(split)}-{safe_name(scope)}"
        split_speed = speed[speed["split"] == split].set_index("entry")["seconds"].to_dict()
        tables.append(f"<h3>{html.escape(split)} — scope <code>{html.escape(scope)}</code></h3>" + leaderboard_table(block, split_speed, table_id))
        chart = metric_bars(block, out / "charts" / f"{table_id}.png", f"{split} — scope {scope} (error bars: 95% CI)")
        charts.append(f'<h3>{html.escape(split)} — {html.escape(scope)}</h3><img class="chart" src="charts/{chart.name}" alt="metrics of {html.escape(split)} {html.escape(scope)}">')
        if scope == "full" and split_speed:
            points = block.assign(seconds=block["entry"].map(split_speed)).dropna(subset=["seconds"])
            if not points.empty:
                scatter = speed_quality(points, out / "charts" / f"speed-{safe_name(split)}.png", f"{split}: speed vs quality (scope full)")
                scatters.append(f'<img class="chart" src="charts/{scatter.name}" alt="speed vs quality on {html.escape(split)}">')
    runs_list = ", ".join(html.escape(run.name) for run in runs)
    paper = "\n".join(render_html_fragment(published_table(spec)) for spec in map(PAPER_TABLES.get, PAPER_TABLES.names()))
    sections = [
        ("leaderboard", "Leaderboard", f"<p>Runs: {runs_list}. Click a column header to sort. Bold: best per column, on the samples every adapter of the run was scored on (hover a value for its own-sample figure); brackets: 95% bootstrap CI.</p>" + "\n".join(tables)),
        ("charts", "Metrics", "\n".join(charts) or '<p class="na">No metrics.</p>'),
        ("speed", "Speed vs quality", "\n".join(scatters) or '<p class="na">No generation timings in these runs.</p>'),
        ("gallery", "Gallery", render_gallery(gallery or [], out)),
        ("paper", "Paper tables (published)", paper),
    ]
    index = out / "index.html"
    atomic_write_text(index, page(title, sections, footer="Built by <code>hcvg leaderboard build</code>; static files only."))
    return index

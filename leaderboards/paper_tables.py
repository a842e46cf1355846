"""Fill a `TableSpec` with numbers: the published ones, a run's, or both side by side.

The result, a `FilledTable`, is format-free; `leaderboards.formats` renders it as
Markdown, LaTeX, CSV or HTML. Emphasis follows the paper's rule: within each column
of each section, the best value is bold (rank 1) and the second best underlined
(rank 2); ties share a rank. Values are ranked as displayed (rounded to the paper's
decimals), as a reader of the printed table would rank them.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field

import pandas as pd

from hcvg.errors import InvalidInputError
from leaderboards.metric_names import run_metric_names
from leaderboards.reference import UNRANKED_FLAGS, load_reference
from leaderboards.specs import ColumnSpec, SectionSpec, TableSpec, same_variant


@dataclass
class Cell:
    """One metric cell.

    Attributes:
        text: The number as shown ("" when there is none).
        value: The number (NaN when there is none).
        rank: 1 (best), 2 (second best) or None.
        flag: The published data's flag ("" if none).
        note: The flag's explanation.
        published_text: With comparison: the paper's printed number ("" if none).
        published_value: With comparison: the paper's number (NaN if none).
        ci: Our 95% CI (low, high), when the value comes from a run.
    """

    text: str = ""
    value: float = math.nan
    rank: int | None = None
    flag: str = ""
    note: str = ""
    published_text: str = ""
    published_value: float = math.nan
    ci: tuple[float, float] | None = None

    @property
    def delta(self) -> float:
        """Ours minus published (NaN unless both exist)."""
        return self.value - self.published_value


@dataclass
class FilledRow:
    cells: tuple[str, ...]
    adapter: str
    values: list[Cell]


@dataclass
class FilledSection:
    title: str
    split: str
    scope: str
    rows: list[FilledRow]


@dataclass
class FilledTable:
    """A table ready to render.

    Attributes:
        spec: What it is.
        sections: Its blocks of rows.
        source: "published" or a description of the run it was filled from.
        compare: Whether cells carry the published numbers beside ours.
        notes: Extra lines for the caption (where the rows came from, ...).
    """

    spec: TableSpec
    sections: list[FilledSection]
    source: str
    compare: bool = False
    notes: list[str] = field(default_factory=list)

    def footnotes(self) -> list[tuple[str, str]]:
        """(cell reference, note) for every flagged cell, in table order, one per distinct note."""
        seen: dict[str, str] = {}
        for section in self.sections:
            for row in section.rows:
                for column, cell in zip(self.spec.columns, row.values):
                    if cell.flag and cell.note not in seen:
                        seen[cell.note] = f"{section.title} / {' '.join(row.cells)} / {column.info.markdown}"
        return [(where, note) for note, where in seen.items()]

    def footnote_number(self, cell: Cell) -> int | None:
        """1-based footnote number of a flagged cell (None if not flagged)."""
        if not cell.flag:
            return None
        notes = [note for _, note in self.footnotes()]
        return notes.index(cell.note) + 1


def format_number(value: float, decimals: int) -> str:
    """The value with a fixed number of decimals ("" for NaN)."""
    if value is None or math.isnan(value):
        return ""
    return f"{value:.{decimals}f}"


def _select(frame: pd.DataFrame, criteria: dict[str, str]) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for column, value in criteria.items():
        mask &= frame[column] == value
    return frame[mask]


def _published_cell(reference: pd.DataFrame, section: SectionSpec, row_criteria: dict[str, str], column: ColumnSpec) -> Cell:
    hits = _select(reference, {**section.published, **row_criteria, "metric": column.label})
    if hits.empty:
        return Cell()
    if len(hits) > 1:
        raise ValueError(f"published data holds {len(hits)} cells for {section.title} {row_criteria} {column.label}")
    hit = hits.iloc[0]
    return Cell(text=hit["printed"], value=float(hit["value"]), flag=hit["flag"], note=hit["note"])


MARKS = ("computed", "printed")


def published_table(spec: TableSpec, marks: str = "computed") -> FilledTable:
    """The paper's own numbers, every one as printed, with its flags.

    Rows the paper does not print at all (every cell flagged ``missing-row``) are left
    out, as in print, and named in the notes.

    Args:
        spec: The table.
        marks: "computed": bold and underline from the values by the paper's rule
            (flagged cells show where print disagrees); "printed": underlines where
            the text extraction has them, bold on the best value otherwise (the
            extraction keeps no bold).

    Raises:
        ValueError: For an unknown ``marks``.
    """
    if marks not in MARKS:
        raise ValueError(f"marks must be one of {MARKS}, got {marks!r}")
    reference = load_reference(spec.reference)
    sections, absent = [], []
    for section in spec.sections:
        rows = []
        for row in section.rows:
            cells = [_published_cell(reference, section, row.published, column) for column in spec.columns]
            if all(cell.flag == "missing-row" for cell in cells):
                absent.append(f"{section.title} / {' '.join(row.cells)}")
                continue
            rows.append(FilledRow(row.cells, row.adapter, cells))
        sections.append(FilledSection(section.title, section.split, section.scope, rows))
    table = FilledTable(spec, sections, source="published")
    if absent:
        table.notes.append("Not printed in the paper (flag missing-row): " + "; ".join(absent) + ".")
    rank_table(table)
    if marks == "printed":
        _apply_printed_marks(table, reference)
    return table


def _apply_printed_marks(table: FilledTable, reference: pd.DataFrame) -> None:
    for section_spec, section in zip(table.spec.sections, table.sections):
        specs = {row.cells: row for row in section_spec.rows}
        for index, column in enumerate(table.spec.columns):
            cells = [(specs[row.cells], row.values[index]) for row in section.rows]
            markers = {
                id(cell): _select(reference, {**section_spec.published, **row.published, "metric": column.label})["marker"].iloc[0]
                for row, cell in cells
                if cell.text
            }
            for _, cell in cells:
                marker = markers.get(id(cell), "")
                if marker == "underline":
                    cell.rank = 2
                elif marker == "bold":
                    cell.rank = 1
                elif cell.rank == 2:
                    cell.rank = None
            if any(marker == "underline" for marker in markers.values()):
                # A printed underline on the computed best means print ranks another first.
                for _, cell in cells:
                    if cell.rank == 1 and markers.get(id(cell)) not in ("", "bold"):
                        cell.rank = 2


def _run_value(summary: pd.DataFrame, labels: tuple[str, ...], section: SectionSpec, split: str, column: ColumnSpec) -> pd.Series | None:
    metrics = run_metric_names(column.label, section.published.get("benchmark", ""))
    scope = section.scope
    block = summary[(summary["split"] == split) & (summary["scope"] == scope)]
    for label in labels:
        rows = block[[same_variant(adapter, label) for adapter in block["adapter"]]] if len(block) else block
        for metric in metrics:
            hit = rows[rows["metric"] == metric]
            if not hit.empty:
                return hit.iloc[0]
    return None


def run_table(
    spec: TableSpec,
    summary: pd.DataFrame,
    split_map: dict[str, str] | None = None,
    compare: bool = False,
    source: str = "run",
    adapter_map: dict[str, str] | None = None,
) -> FilledTable:
    """Our numbers in the paper's layout.

    Args:
        spec: The table.
        summary: A run's summary (adapter, split, metric, scope, value, ci_low,
            ci_high, ...); see `benchmark.summary.summarize`.
        split_map: Read the spec's split ``k`` from the run's split ``v`` (e.g.
            ``{"ek100-test": "demo"}``).
        compare: Also carry the published numbers (and so the differences).
        source: Where the summary came from, for the caption.
        adapter_map: Fill the row of paper method ``k`` (a row's adapter label, e.g.
            ``handi``) from the run's adapter label ``v`` instead (``--as handi=my-label``).

    Returns:
        The filled table; cells the run lacks are empty.

    Raises:
        InvalidInputError: When a key of ``adapter_map`` is no row of the table, or a value
            is no adapter of the summary (both name what is accepted).
    """
    split_map = split_map or {}
    row_labels = _mapped_row_labels(spec, summary, adapter_map or {})
    reference = load_reference(spec.reference) if compare else None
    sections, common_cells, missing = [], 0, {}
    for section in spec.sections:
        split = split_map.get(section.split, section.split)
        rows = []
        for row in section.rows:
            cells = []
            for column in spec.columns:
                hit = _run_value(summary, row_labels.get(row.adapter, row.adapter_labels), section, split, column)
                cell = Cell()
                if hit is not None:
                    # Sample-level values over the common set (`leaderboards.ranking`), so rows rank on the same samples.
                    common = "common_value" in hit and not pd.isna(hit["common_value"]) and hit.get("level") != "distribution"
                    prefix = "common_" if common else ""
                    common_cells += common
                    value = float(hit[f"{prefix}value"])
                    cell = Cell(text=format_number(value, column.decimals), value=value)
                    if f"{prefix}ci_low" in hit and not pd.isna(hit[f"{prefix}ci_low"]):
                        cell.ci = (float(hit[f"{prefix}ci_low"]), float(hit[f"{prefix}ci_high"]))
                    if "n_total" in hit and not pd.isna(hit["n_total"]) and hit["n"] < hit["n_total"]:
                        missing[f"{hit['adapter']} on {split}"] = f"{int(hit['n'])} of {int(hit['n_total'])}"
                if reference is not None:
                    published = _published_cell(reference, section, row.published, column)
                    cell.published_text, cell.published_value = published.text, published.value
                    cell.flag, cell.note = published.flag, published.note
                cells.append(cell)
            # The adapter column names the run label that filled the row (the mapped one under --as).
            rows.append(FilledRow(row.cells, row_labels.get(row.adapter, (row.adapter,))[0], cells))
        sections.append(FilledSection(section.title, split, section.scope, rows))
    table = FilledTable(spec, sections, source=source, compare=compare)
    if not any(cell.text for section in sections for row in section.rows for cell in row.values):
        splits = sorted({section.split for section in sections})
        table.notes.append(
            f"The run has none of this table's cells: it reads splits {', '.join(splits)} and adapters "
            f"{', '.join(spec.adapters())} (map a split with --split-as PAPER_SPLIT=RUN_SPLIT)."
        )
    if common_cells:
        table.notes.append("Sample-level values are over the common set: the samples every adapter of the run was "
                           "scored on (summary.parquet keeps each adapter's full-n value).")
    if missing:
        table.notes.append("Scored on fewer samples than the split holds: "
                           + "; ".join(f"{where} ({n})" for where, n in missing.items()) + ".")
    table.notes.append(
        "Rows are filled from adapter labels: "
        + "; ".join(f"{' '.join(r.cells)} = `{row_labels.get(r.adapter, (r.adapter,))[0]}`" for r in spec.sections[0].rows)
        + "."
    )
    rank_table(table, use_flags=False)
    return table


def _mapped_row_labels(spec: TableSpec, summary: pd.DataFrame, adapter_map: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """Row adapter label -> the run labels that fill it, for the rows ``adapter_map`` names.

    Raises:
        InvalidInputError: On a paper method that is no row of ``spec``, or a run label that is
            not in ``summary``.
    """
    rows = spec.adapters()
    run_labels = sorted(summary["adapter"].unique()) if "adapter" in summary else []
    mapped = {}
    for method, label in adapter_map.items():
        matches = [row for row in rows if same_variant(row, method)]
        if not matches:
            raise InvalidInputError(f"--as {method}={label}: {spec.name} has no row {method!r}{_did_you_mean(method, rows)}; "
                                    f"its rows are {', '.join(rows)}")
        if label not in run_labels:
            raise InvalidInputError(f"--as {method}={label}: the run has no adapter {label!r}{_did_you_mean(label, run_labels)}; "
                                    f"it has {', '.join(run_labels) or 'none'}")
        for row in matches:
            mapped[row] = (label,)
    return mapped


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def rank_table(table: FilledTable, use_flags: bool = True) -> None:
    """Set each cell's rank (1 best, 2 second) per column and section, in place.

    Args:
        table: The table.
        use_flags: Leave out cells whose published flag says the printed value is not
            a real measurement (`UNRANKED_FLAGS`); off for our own numbers.
    """
    for section in table.sections:
        for index, column in enumerate(table.spec.columns):
            cells = [row.values[index] for row in section.rows]
            candidates = [c for c in cells if c.text and not (use_flags and c.flag in UNRANKED_FLAGS)]
            for cell in cells:
                cell.rank = None
            shown = sorted({float(c.text) for c in candidates}, reverse=column.info.higher_is_better)
            for cell in candidates:
                position = shown.index(float(cell.text))
                cell.rank = position + 1 if position < 2 else None

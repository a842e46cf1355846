"""A filled paper table as Markdown (GitHub flavour; underline and footnotes as inline HTML)."""

from __future__ import annotations

from leaderboards.formats.cells import MISSING, arrow, comparison_text, group_spans
from leaderboards.paper_tables import Cell, FilledTable
from leaderboards.specs import ColumnSpec


def _cell(table: FilledTable, cell: Cell, column: ColumnSpec) -> str:
    text = cell.text or MISSING
    if cell.text and cell.rank == 1:
        text = f"**{text}**"
    elif cell.text and cell.rank == 2:
        text = f"<u>{text}</u>"
    number = table.footnote_number(cell)
    if number is not None:
        text += f"<sup>{number}</sup>"
    if table.compare:
        text += " " + comparison_text(cell, column)
    return text


def render_markdown(table: FilledTable) -> str:
    """Render as Markdown: caption, column groups, the table, footnotes for flagged cells.

    Returns:
        Markdown text; a section's title appears in its first row only, as printed.
    """
    spec = table.spec
    lines = [f"**{spec.title}.** {spec.caption}", ""]
    source = "published numbers (HANDI paper)" if table.source == "published" else table.source
    lines.append(f"Source: {source}." + (" Cells read: ours (paper, ours − paper)." if table.compare else ""))
    groups = [f"{group}: {', '.join(c.info.markdown for c in spec.columns if c.group == group)}" for group, _ in group_spans(spec.columns) if group]
    if groups:
        lines.append("Column groups: " + "; ".join(groups) + ".")
    lines.append("")
    header = [spec.section_header, *spec.row_header, *[f"{c.info.markdown} {arrow(c)}" for c in spec.columns]]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * (1 + len(spec.row_header)) + ["---:"] * len(spec.columns)) + "|"]
    for section in table.sections:
        for index, row in enumerate(section.rows):
            cells = [section.title if index == 0 else "", *row.cells]
            cells += [_cell(table, cell, column) for cell, column in zip(row.values, spec.columns)]
            lines.append("| " + " | ".join(cells) + " |")
    notes = table.footnotes()
    if notes or table.notes:
        lines.append("")
    for number, (where, note) in enumerate(notes, start=1):
        lines.append(f"<sup>{number}</sup> {where}: {note}  ")
    lines += table.notes
    return "\n".join(lines) + "\n"

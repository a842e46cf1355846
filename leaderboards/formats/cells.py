"""What every format shows in a cell: our number, the paper's, the difference."""

from __future__ import annotations

import math

from leaderboards.paper_tables import Cell, format_number
from leaderboards.specs import ColumnSpec

MISSING = "–"


def delta_text(cell: Cell, column: ColumnSpec) -> str:
    """Ours minus published with a sign, at the column's decimals ("" unless both exist)."""
    if math.isnan(cell.delta):
        return ""
    return f"{cell.delta:+.{column.decimals}f}"


def comparison_text(cell: Cell, column: ColumnSpec) -> str:
    """"(published, ±difference)" for a compared cell; "(paper: –)" when the paper has none."""
    if not cell.published_text:
        return f"(paper: {MISSING})"
    delta = delta_text(cell, column)
    return f"({cell.published_text}, {delta})" if delta else f"({cell.published_text})"


def group_spans(columns: tuple[ColumnSpec, ...]) -> list[tuple[str, int]]:
    """Consecutive columns sharing a header group, as (group, width); "" for ungrouped."""
    spans: list[tuple[str, int]] = []
    for column in columns:
        if spans and column.group and spans[-1][0] == column.group:
            spans[-1] = (column.group, spans[-1][1] + 1)
        else:
            spans.append((column.group, 1))
    return spans


def arrow(column: ColumnSpec) -> str:
    return "↑" if column.info.higher_is_better else "↓"


__all__ = ["MISSING", "arrow", "comparison_text", "delta_text", "format_number", "group_spans"]

"""A filled paper table as CSV: one line per row, one column per metric (and comparison)."""

from __future__ import annotations

import csv
import io

from leaderboards.formats.cells import delta_text
from leaderboards.paper_tables import FilledTable


def render_csv(table: FilledTable) -> str:
    """Render as CSV.

    Columns: the section and leading row cells, the adapter label, then per metric
    its value (as shown); with comparison also "<metric> (paper)" and "<metric> (diff)";
    last, "flags" ("metric: flag" for each flagged cell). Emphasis is not kept.
    """
    spec = table.spec
    header = [spec.section_header, *spec.row_header, "adapter"]
    for column in spec.columns:
        header.append(column.info.markdown)
        if table.compare:
            header += [f"{column.info.markdown} (paper)", f"{column.info.markdown} (diff)"]
    header.append("flags")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for section in table.sections:
        for row in section.rows:
            line = [section.title, *row.cells, row.adapter]
            for cell, column in zip(row.values, spec.columns):
                line.append(cell.text)
                if table.compare:
                    line += [cell.published_text, delta_text(cell, column)]
            line.append("; ".join(f"{c.info.markdown}: {cell.flag}" for cell, c in zip(row.values, spec.columns) if cell.flag))
            writer.writerow(line)
    return out.getvalue()

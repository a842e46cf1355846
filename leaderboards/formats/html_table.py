"""A filled paper table as HTML: a fragment for the leaderboard site, or a whole page."""

from __future__ import annotations

import html

from leaderboards.formats.cells import MISSING, arrow, comparison_text, group_spans
from leaderboards.paper_tables import Cell, FilledTable
from leaderboards.specs import ColumnSpec

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em}
table.paper{border-collapse:collapse;font-size:14px}
table.paper th,table.paper td{padding:3px 8px;text-align:right}
table.paper th.lead,table.paper td.lead{text-align:left}
table.paper thead{border-top:2px solid #000;border-bottom:1px solid #000}
table.paper tbody{border-bottom:1px solid #000}
.cmp{color:#666;font-size:12px}"""


def _cell(table: FilledTable, cell: Cell, column: ColumnSpec) -> str:
    text = html.escape(cell.text) if cell.text else MISSING
    if cell.text and cell.rank == 1:
        text = f"<b>{text}</b>"
    elif cell.text and cell.rank == 2:
        text = f"<u>{text}</u>"
    number = table.footnote_number(cell)
    if number is not None:
        text += f'<sup title="{html.escape(cell.note)}">{number}</sup>'
    if table.compare:
        text += f' <span class="cmp">{html.escape(comparison_text(cell, column))}</span>'
    value = "" if not cell.text else f' data-value="{cell.value!r}"'
    return f"<td{value}>{text}</td>"


def render_html_fragment(table: FilledTable) -> str:
    """The ``<figure>`` holding the table, its caption and footnotes (no page around it)."""
    spec = table.spec
    lead = 1 + len(spec.row_header)
    head_top = [f'<th class="lead" colspan="{lead}"></th>']
    head = [f'<th class="lead">{html.escape(h)}</th>' for h in (spec.section_header, *spec.row_header)]
    columns = iter(spec.columns)
    for group, width in group_spans(spec.columns):
        members = [next(columns) for _ in range(width)]
        head_top.append(f'<th colspan="{width}">{html.escape(group)}</th>')
        head += [f"<th>{html.escape(c.info.markdown)} {arrow(c)}</th>" for c in members]
    parts = [f'<figure class="paper-table" id="{spec.name}">', '<table class="paper">', "<thead>"]
    if any(column.group for column in spec.columns):
        parts.append("<tr>" + "".join(head_top) + "</tr>")
    parts += ["<tr>" + "".join(head) + "</tr>", "</thead>"]
    for section in table.sections:
        parts.append(f'<tbody data-section="{html.escape(section.title)}">')
        for index, row in enumerate(section.rows):
            cells = [f'<td class="lead">{html.escape(section.title) if index == 0 else ""}</td>']
            cells += [f'<td class="lead">{html.escape(c)}</td>' for c in row.cells]
            cells += [_cell(table, cell, column) for cell, column in zip(row.values, spec.columns)]
            parts.append(f'<tr data-adapter="{html.escape(row.adapter)}">' + "".join(cells) + "</tr>")
        parts.append("</tbody>")
    parts.append("</table>")
    source = "published numbers (HANDI paper)" if table.source == "published" else table.source
    caption = f"<b>{html.escape(spec.title)}.</b> {html.escape(spec.caption)} Source: {html.escape(source)}."
    notes = [f"<li>{html.escape(where)}: {html.escape(note)}</li>" for where, note in table.footnotes()]
    notes += [f'<li class="extra">{html.escape(line)}</li>' for line in table.notes]
    parts.append(f"<figcaption>{caption}" + (f"<ol>{''.join(notes)}</ol>" if notes else "") + "</figcaption>")
    parts.append("</figure>")
    return "\n".join(parts)


def render_html(table: FilledTable) -> str:
    """A standalone HTML page holding the table (inline CSS, nothing fetched)."""
    title = html.escape(f"{table.spec.title} — handi-bench")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body>\n{render_html_fragment(table)}\n</body></html>\n"
    )

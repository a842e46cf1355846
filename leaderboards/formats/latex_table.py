"""A filled paper table as LaTeX (booktabs), ready to paste into a paper.

Needs ``\\usepackage{booktabs}`` and, for Table 2's ✓, ``\\usepackage{amssymb}``.
"""

from __future__ import annotations

from leaderboards.formats.cells import MISSING, comparison_text, group_spans
from leaderboards.paper_tables import Cell, FilledTable
from leaderboards.specs import ColumnSpec

_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
            "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
            # Table 2 prints × and ✓ for "off" and "on".
            "×": r"$\times$", "✓": r"\checkmark", "–": "--", "−": "$-$"}


def escape(text: str) -> str:
    """Escape LaTeX's special characters in plain text."""
    return "".join(_SPECIAL.get(char, char) for char in text)


def _arrow(column: ColumnSpec) -> str:
    return r"$\uparrow$" if column.info.higher_is_better else r"$\downarrow$"


def _cell(table: FilledTable, cell: Cell, column: ColumnSpec) -> str:
    text = cell.text or "--"
    if cell.text and cell.rank == 1:
        text = rf"\textbf{{{text}}}"
    elif cell.text and cell.rank == 2:
        text = rf"\underline{{{text}}}"
    number = table.footnote_number(cell)
    if number is not None:
        text += rf"$^{{{number}}}$"
    if table.compare:
        text += r" {\scriptsize " + escape(comparison_text(cell, column).replace(MISSING, "-")) + "}"
    return text


def render_latex(table: FilledTable) -> str:
    """Render as a ``table`` environment with a booktabs ``tabular``.

    Column groups become ``\\multicolumn`` headers with ``\\cmidrule``; best values are
    ``\\textbf``, second best ``\\underline``; flagged cells get a numbered note below.
    """
    spec = table.spec
    lead = 1 + len(spec.row_header)
    lines = [
        "% Requires \\usepackage{booktabs} (and amssymb for \\checkmark).",
        "\\begin{table}[t]",
        "\\centering",
        "\\small",
        f"\\begin{{tabular}}{{{'l' * lead}{'c' * len(spec.columns)}}}",
        "\\toprule",
    ]
    spans = group_spans(spec.columns)
    if any(group for group, _ in spans):
        top, rules, position, columns = [""] * lead, [], lead + 1, iter(spec.columns)
        for group, width in spans:
            members = [next(columns) for _ in range(width)]
            if group:
                top.append(f"\\multicolumn{{{width}}}{{c}}{{{escape(group)}}}")
                rules.append(f"\\cmidrule(lr){{{position}-{position + width - 1}}}")
            else:
                top.append(f"{members[0].info.latex} {_arrow(members[0])}")
            position += width
        lines.append(" & ".join(top) + " \\\\")
        lines.append("".join(rules))
        second = [escape(spec.section_header), *map(escape, spec.row_header)]
        second += ["" if not c.group else f"{c.info.latex} {_arrow(c)}" for c in spec.columns]
    else:
        second = [escape(spec.section_header), *map(escape, spec.row_header)]
        second += [f"{c.info.latex} {_arrow(c)}" for c in spec.columns]
    lines.append(" & ".join(second) + " \\\\")
    for section in table.sections:
        lines.append("\\midrule")
        for index, row in enumerate(section.rows):
            cells = [escape(section.title) if index == 0 else "", *map(escape, row.cells)]
            cells += [_cell(table, cell, column) for cell, column in zip(row.values, spec.columns)]
            lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    notes = table.footnotes()
    if notes:
        lines.append("\\par\\vspace{2pt}{\\footnotesize")
        lines += [f"$^{{{n}}}$ {escape(where)}: {escape(note)}\\\\" for n, (where, note) in enumerate(notes, start=1)]
        lines.append("}")
    source = "" if table.source == "published" else f" Filled from {escape(table.source)}."
    lines += [f"\\caption{{{escape(spec.caption)}{source}}}", f"\\label{{tab:handi-{spec.name}}}", "\\end{table}"]
    return "\n".join(lines) + "\n"

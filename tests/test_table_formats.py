"""The table formats (Markdown, LaTeX, CSV, HTML) and the `hcvg tables` options around them."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser

import pandas as pd
import pytest

from benchmark.cli.main import main
from leaderboards.formats import TABLE_FORMATS, get_renderer, render
from leaderboards.paper_tables import published_table, run_table
from leaderboards.specs import PAPER_TABLES, TABLE1, TABLE2


def _rank_counts(table):
    cells = [cell for section in table.sections for row in section.rows for cell in row.values]
    return sum(c.rank == 1 for c in cells), sum(c.rank == 2 for c in cells)


class _Cells(HTMLParser):
    """Collects the text of every body row's cells, and the tags used inside cells."""

    def __init__(self):
        super().__init__()
        self.rows, self.tags, self._in_body, self._cell = [], [], False, None

    def handle_starttag(self, tag, attrs):
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body:
            self._cell = ""
        elif self._cell is not None:
            self.tags.append(tag)

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


@pytest.mark.parametrize("name", PAPER_TABLES.names())
def test_every_format_renders_every_published_table(name):
    table = published_table(PAPER_TABLES.get(name))
    bold, underline = _rank_counts(table)
    rows = sum(len(section.rows) for section in table.sections)

    markdown = render(table, "md")
    assert markdown.count("**") - 2 == 2 * bold  # minus the bold title
    assert markdown.count("<u>") == underline

    latex = render(table, "latex")
    assert latex.count("\\textbf{") == bold and latex.count("\\underline{") == underline
    assert latex.count("{") == latex.count("}")
    assert all(rule in latex for rule in ("\\toprule", "\\midrule", "\\bottomrule", "\\begin{tabular}", "\\end{table}"))

    records = list(csv.reader(io.StringIO(render(table, "csv"))))
    assert len(records) == 1 + rows
    assert all(len(record) == len(records[0]) for record in records)

    parser = _Cells()
    parser.feed(render(table, "html"))
    assert len(parser.rows) == rows
    assert parser.tags.count("b") == bold and parser.tags.count("u") == underline


def test_formats_are_registered_once():
    assert TABLE_FORMATS.names() == ["csv", "html", "latex", "md"]
    for name in TABLE_FORMATS.names():
        assert callable(get_renderer(name))
    with pytest.raises(KeyError, match="unknown table format 'docx'.*Known: csv, html, latex, md"):
        get_renderer("docx")


def test_latex_escapes_and_marks():
    latex = render(published_table(TABLE2), "latex")
    assert "$\\times$" in latex and "\\checkmark" in latex and "×" not in latex
    assert "CLIP$_{GT}$" in latex and "\\cmidrule(lr)" in latex
    assert "CLIP\\_GT" in latex  # in a footnote: plain text is escaped


def test_comparison_in_every_format():
    summary = pd.DataFrame(
        [("handi", "ek100-test", "fid", "full", 5.0, 4.9, 5.1, 10, False)],
        columns=["adapter", "split", "metric", "scope", "value", "ci_low", "ci_high", "n", "higher_is_better"],
    )
    table = run_table(TABLE1, summary, compare=True)
    assert "5.00 (5.27, -0.27)" in render(table, "md").replace("**", "")
    assert "(5.27, -0.27)" in render(table, "html")
    assert "5.00" in render(table, "latex") and "(5.27, -0.27)" in render(table, "latex")
    records = {r["adapter"] + "/" + r["Benchmark"]: r for r in csv.DictReader(io.StringIO(render(table, "csv")))}
    row = records["handi/EpicKitchens"]
    assert (row["FID"], row["FID (paper)"], row["FID (diff)"]) == ("5.00", "5.27", "-0.27")


def test_tables_out_writes_the_file(tmp_path, capsys):
    out = tmp_path / "tables" / "t2.tex"
    assert main(["tables", "--paper", "table2", "--format", "latex", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == capsys.readouterr().out
    html_out = tmp_path / "t1.html"
    assert main(["tables", "--paper", "table1", "--format", "html", "--out", str(html_out)]) == 0
    page = html_out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "http" not in page


def test_tables_option_errors(tmp_path, capsys):
    assert main(["tables", "--paper", "table1", "--compare"]) == 2
    assert "--compare needs --run" in capsys.readouterr().err
    assert main(["tables"]) == 2
    assert main(["tables", "--paper", "table1", "--run", str(tmp_path)]) == 2
    assert "summary.parquet" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["tables", "--paper", "table9"])


def test_tables_run_leaderboard_still_works(tmp_path, capsys):
    summary = pd.DataFrame(
        [("static", "demo", "psnr", "full", 20.0, 19.0, 21.0, 3, True), ("oracle", "demo", "psnr", "full", 100.0, 100.0, 100.0, 3, True)],
        columns=["adapter", "split", "metric", "scope", "value", "ci_low", "ci_high", "n", "higher_is_better"],
    )
    summary.to_parquet(tmp_path / "summary.parquet")
    assert main(["tables", "--run", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Leaderboard") and "| oracle | **100** | 3 |" in out

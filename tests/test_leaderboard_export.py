"""`hcvg tables --run DIR --format md|latex|csv|html`: the run's leaderboard, ranked on the common set."""

import csv
import io

import pandas as pd
import pytest

from benchmark.cli.main import main
from benchmark.summary import summarize
from leaderboards.formats import TABLE_FORMATS
from leaderboards.leaderboard_formats import LEADERBOARD_FORMATS


@pytest.fixture()
def run(tmp_path):
    rows = []
    for adapter, values in {"steady": [30.0] * 11 + [10.0], "fragile": [29.9] * 11}.items():
        for index, value in enumerate(values):
            rows.append(dict(adapter=adapter, split="demo", sample_id=f"demo-{index:04d}", seed=0, metric="psnr",
                             scope="full", value=value, status="ok", higher_is_better=True))
    out = tmp_path / "run"
    out.mkdir()
    summarize(pd.DataFrame(rows)).to_parquet(out / "summary.parquet")
    return out


def test_every_format_of_tables_has_a_leaderboard_renderer():
    assert LEADERBOARD_FORMATS.names() == TABLE_FORMATS.names()


def test_csv_holds_the_ranked_and_the_full_n_values(run, capsys, tmp_path):
    assert main(["tables", "--run", str(run), "--format", "csv", "--out", str(tmp_path / "lb.csv")]) == 0
    rows = {row["adapter"]: row for row in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert (tmp_path / "lb.csv").read_text(encoding="utf-8").count("\n") == 3
    steady, fragile = rows["steady"], rows["fragile"]
    assert (steady["basis"], steady["best"], float(steady["value"]), steady["n"]) == ("common", "True", 30.0, "11")
    assert float(steady["all_value"]) == pytest.approx(28.333333) and steady["all_n"] == "12"
    assert (fragile["best"], fragile["missing_samples"], fragile["all_n"], fragile["n_total"]) == ("False", "True", "11", "12")


def test_latex_bolds_the_common_set_winner(run, capsys):
    assert main(["tables", "--run", str(run), "--format", "latex"]) == 0
    text = capsys.readouterr().out
    assert r"steady & \textbf{30} & 12 of 12 \\" in text
    assert r"fragile & 29.9 & 11 of 12 $^\ddagger$ \\" in text
    assert r"\begin{tabular}" in text and "psnr: 11 of 12" in text


def test_html_and_md(run, capsys):
    assert main(["tables", "--run", str(run), "--format", "html"]) == 0
    page = capsys.readouterr().out
    steady = page.split('data-adapter="steady"')[1].split("</tr>")[0]
    assert 'class="best"' in steady and "http" not in page
    assert main(["tables", "--run", str(run)]) == 0
    assert "| fragile | 29.9 | 11 of 12 ‡ |" in capsys.readouterr().out


def test_paper_only_options_are_refused_without_paper(run, capsys):
    assert main(["tables", "--run", str(run), "--as", "handi=steady"]) == 2
    assert "add --paper TABLE" in capsys.readouterr().err

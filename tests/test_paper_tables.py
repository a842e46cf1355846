"""The paper's tables as data: transcription, flags, specs, and `hcvg tables --paper`."""

from __future__ import annotations

import csv
import io
import re

import pandas as pd
import pytest

from benchmark.cli.main import main
from benchmark.run_config import ComponentSpec
from leaderboards.metric_names import PAPER_METRICS, project_metric
from leaderboards.paper_tables import published_table, run_table
from leaderboards.reference import REFERENCE_FILES, all_flags, load_notes, load_reference
from leaderboards.specs import (
    PAPER_TABLES,
    TABLE1,
    TABLE2,
    ablation_adapter_specs,
    ablation_label,
    parse_variant_label,
    same_variant,
    variant_label,
)

T1_METRICS = ("HS-Err.", "FID", "CLIP_GT", "FVD", "EgoVLP", "CLIP_Cs.", "CLIP_Tx.", "BLIP")

# Every flagged cell: (table, benchmark, scope, method, metric, flag). Adding or removing
# a flag in leaderboards/data must come with a change here.
EXPECTED_CELL_FLAGS = [
    ("1", "EpicKitchens", "Full", "AA", "FID", "cross-table-mismatch"),
    ("1", "EpicKitchens", "Full", "Open Sora", "CLIP_GT", "implausible-value"),
    ("1", "EpicKitchens", "Full", "HANDI", "CLIP_Tx.", "cross-table-mismatch"),
    ("1", "Ego4D", "Full", "PIA", "CLIP_Tx.", "contradicts-text"),
    ("1", "Ego4D", "Full", "CogVideoX", "CLIP_Cs.", "contradicts-text"),
    ("1", "Motion Intensive", "Full", "PIA", "BLIP", "marker-contradicts-values"),
    *[("1", "Motion Intensive", "Full", method, metric, "missing-row") for method in ("Open Sora", "DynamiCrafter", "CogVideoX") for metric in T1_METRICS],
    ("1", "Motion Intensive", "Full", "HANDI", "BLIP", "missing-cell"),
    ("2", "EpicKitchens", "MA", "No. 1", "CLIP_GT", "marker-missing"),
    ("2", "EpicKitchens", "Full", "No. 1", "FID", "cross-table-mismatch"),
    ("2", "EpicKitchens", "Full", "No. 4", "CLIP_Tx.", "cross-table-mismatch"),
    ("2", "EpicKitchens", "Full", "No. 5", "HS-Err.", "marker-missing"),
    ("2", "EpicKitchens", "Full", "No. 5", "CLIP_Cs.", "marker-contradicts-values"),
    ("2", "EpicKitchens", "Full", "No. 6", "CLIP_GT", "marker-missing"),
]
# Table-level notes and prose claims that disagree with the tables: (table, source line, flag).
EXPECTED_NOTE_FLAGS = [
    ("1", "172", "header-misaligned"),
    ("1", "196", "markers-lost"),
    ("1", "223", "contradicts-table"),
    ("1", "225", "contradicts-table"),
    ("2", "217", "markers-lost"),
    ("2", "243", "contradicts-table"),
    ("2", "198", "markers-lost"),
    ("3", "354", "caption-mismatch"),
]


def test_every_flag_is_listed():
    flags = all_flags()
    found = list(flags[["table", "benchmark", "scope", "method", "metric", "flag"]].itertuples(index=False, name=None))
    assert found == EXPECTED_CELL_FLAGS
    assert (flags["note"] != "").all(), "every flag needs a note"
    notes = load_notes()
    flagged = notes[notes["flag"] != ""]
    assert list(flagged[["table", "source_line", "flag"]].itertuples(index=False, name=None)) == EXPECTED_NOTE_FLAGS


@pytest.mark.parametrize("table", sorted(REFERENCE_FILES))
def test_printed_text_parses_to_value(table):
    cells = load_reference(table)
    required = ["paper", "table", "row", "column", "benchmark", "scope", "method", "metric", "printed", "value", "marker", "flag", "note", "source_line"]
    assert set(required) <= set(cells.columns)
    printed = cells[cells["printed"] != ""]
    assert (printed["printed"].map(float) == printed["value"]).all()
    assert printed["printed"].str.fullmatch(r"\d+(\.\d+)?").all(), "printed holds the number only (markers go to `marker`)"
    missing = cells[cells["printed"] == ""]
    assert missing["value"].isna().all() and missing["flag"].isin(["missing-row", "missing-cell"]).all()


def test_cells_match_the_paper_text():
    """Spot checks against paper/HANDI.txt, including the odd cells kept as printed."""
    t1 = load_reference("table1").set_index(["benchmark", "method", "metric"])
    assert t1.loc[("EpicKitchens", "Open Sora", "CLIP_GT"), "printed"] == "93.823"
    assert t1.loc[("EpicKitchens", "HANDI", "CLIP_GT"), "printed"] == "0.9590"
    assert t1.loc[("EpicKitchens", "AA", "FID"), "marker"] == "underline"
    assert t1.loc[("Motion Intensive", "HANDI", "CLIP_Tx."), "printed"] == "31.12"
    assert t1.loc[("Motion Intensive", "HANDI", "BLIP"), "printed"] == ""
    t2 = load_reference("table2").set_index(["scope", "method", "metric"])
    assert t2.loc[("Full", "No. 4", "CLIP_Tx."), "printed"] == "30.055"
    assert (t2.loc[("MA", "No. 8", "FID"), ["mask", "hrl", "printed"]] == ["GT", "✓", "9.816"]).all()
    assert len(load_reference("table1")) == 3 * 8 * 8 and len(load_reference("table2")) == 2 * 8 * 8
    timings = load_reference("timings").set_index("method")["value"].to_dict()
    assert timings == {"HANDI": 8.6, "AnimateAnything": 5.7, "DynamiCrafter": 9.3, "PIA": 13.8, "OpenSora": 44.0, "AVDC": 66.0, "CogVideoX": 108.0}


def test_table3_blip_large_is_table1_blip():
    t1 = load_reference("table1")
    t3 = load_reference("table3")
    large = t3[t3["metric"] == "BLIP_large"].set_index(["benchmark", "method"])["printed"]
    blip = t1[t1["metric"] == "BLIP"].set_index(["benchmark", "method"])["printed"]
    assert len(large) == 10
    assert (blip.loc[large.index] == large).all()


def test_table2_full_rows_repeat_table1():
    """Full No. 4 is HANDI and Full No. 1 is AA on EpicKitchens, except the flagged cells."""
    t1 = load_reference("table1")
    t2 = load_reference("table2")
    ek = t1[t1["benchmark"] == "EpicKitchens"].set_index(["method", "metric"])["value"]
    full = t2[t2["scope"] == "Full"].set_index(["method", "metric"])
    for number, method in (("No. 4", "HANDI"), ("No. 1", "AA")):
        for metric in T1_METRICS:
            ours, theirs = full.loc[(number, metric), "value"], ek.loc[(method, metric)]
            close = abs(ours - theirs) <= 0.005 + 1e-9  # Table 1 prints FID with 2 decimals, Table 2 with 3
            assert close or full.loc[(number, metric), "flag"] == "cross-table-mismatch", (number, metric)


def test_underlines_agree_with_values_except_flagged():
    """Where the paper underlines a cell, the values make it second best, unless flagged."""
    for spec in (TABLE1, TABLE2):
        table = published_table(spec)
        reference = load_reference(spec.reference)
        for section_spec, section in zip(spec.sections, table.sections):
            rows = {r.cells: r for r in section_spec.rows}
            for row in section.rows:
                for column, cell in zip(spec.columns, row.values):
                    criteria = {**section_spec.published, **rows[row.cells].published, "metric": column.label}
                    hit = reference.loc[(reference[list(criteria)] == pd.Series(criteria)).all(axis=1)].iloc[0]
                    if hit["marker"] == "underline" and not cell.flag:
                        assert cell.rank == 2, (spec.name, section.title, row.cells, column.label)


def test_metric_labels_map_to_project_names():
    labels = set()
    for table in REFERENCE_FILES:
        labels |= set(load_reference(table)["metric"])
    assert labels <= set(PAPER_METRICS)
    names = {project_metric(label) for label in labels}
    assert names == {"hs-err", "fid", "clip-gt", "fvd", "egovlp", "clip-cs", "clip-tx", "blip", "blip-large", "blip-base", "seconds-per-clip"}


def test_variant_labels_round_trip_through_hcvg_run():
    assert variant_label("handi", mask="stage1", hrl="on") == "handi[mask=stage1,hrl=on]"
    assert parse_variant_label("handi[mask=stage1,hrl=on]") == ("handi", {"mask": "stage1", "hrl": "on"})
    assert same_variant("handi[hrl=on,mask=stage1]", "handi[mask=stage1,hrl=on]")
    assert parse_variant_label("pia") == ("pia", {})
    texts = ablation_adapter_specs()
    assert texts[3] == "handi:mask=stage1,hrl=on,label=handi[mask=stage1,hrl=on]"  # the label's commas stay in it
    specs = [ComponentSpec.parse(text) for text in texts]
    assert [s.label for s in specs] == [ablation_label(mask, hrl) for _, mask, hrl in (r.cells for r in TABLE2.sections[0].rows)]
    assert len({s.label for s in specs}) == 8
    assert all(s.name == "handi" and parse_variant_label(s.label)[1] == s.options for s in specs)
    assert {s.options["mask"] for s in specs} == {"none", "stage1", "prior", "gt"}


def _markdown_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in rows[1:]]


def _plain(cell: str) -> str:
    cell = re.sub(r"<sup>\d+</sup>", "", cell)
    cell = re.sub(r"\\textsuperscript\{\d+\}|\$\^\{\d+\}\$", "", cell)
    for pattern in (r"\*\*(.*)\*\*", r"<u>(.*)</u>", r"\\textbf\{(.*)\}", r"\\underline\{(.*)\}"):
        cell = re.sub(pattern, r"\1", cell)
    return cell.strip()


def _expected_cells(spec):
    """(section, row cells, column label) → printed text, for the rows the paper prints."""
    reference = load_reference(spec.reference)
    expected = {}
    for section in spec.sections:
        for row in section.rows:
            for column in spec.columns:
                criteria = {**section.published, **row.published, "metric": column.label}
                hit = reference.loc[(reference[list(criteria)] == pd.Series(criteria)).all(axis=1)].iloc[0]
                if hit["flag"] != "missing-row":
                    expected[(section.title, row.cells, column.label)] = hit["printed"]
    return expected


def test_hcvg_tables_paper_table1_markdown_is_as_printed(capsys):
    assert main(["tables", "--paper", "table1"]) == 0
    rows = _markdown_rows(capsys.readouterr().out)
    expected = _expected_cells(TABLE1)
    seen, section = {}, None
    for cells in rows:
        section = cells[0] or section
        for column, text in zip(TABLE1.columns, cells[2:]):
            seen[(section, (cells[1],), column.label)] = "" if _plain(text) == "–" else _plain(text)
    assert seen == expected
    assert len(rows) == 21  # 8 + 8 + 5 printed rows


def test_hcvg_tables_paper_table1_latex_is_as_printed(capsys):
    assert main(["tables", "--paper", "table1", "--format", "latex"]) == 0
    text = capsys.readouterr().out
    body = text[text.index("\\midrule") : text.index("\\bottomrule")]
    rows = [line.removesuffix("\\\\") for line in body.splitlines() if line.endswith("\\\\")]
    expected = _expected_cells(TABLE1)
    seen, section = {}, None
    for line in rows:
        cells = [c.strip() for c in re.split(r"(?<!\\)&", line)]
        section = cells[0] or section
        for column, cell in zip(TABLE1.columns, cells[2:]):
            seen[(section, (cells[1],), column.label)] = "" if _plain(cell) == "--" else _plain(cell)
    assert seen == expected
    assert "\\textbf{0.01512}" in text and "\\underline{5.49}" in text and "\\toprule" in text


def test_published_emphasis_follows_the_papers_rule():
    table = published_table(TABLE1)
    ek = {row.cells[0]: row.values for row in table.sections[0].rows}
    fid, clip_gt, fvd = 1, 2, 3
    assert ek["HANDI"][fid].rank == 1 and ek["AA [14]"][fid].rank == 2
    assert ek["AVDC [75]"][fvd].rank == 1 and ek["HANDI"][fvd].rank == 2
    # Open Sora's 93.823 is flagged implausible and left out of the ranking.
    assert ek["Open Sora [80]"][clip_gt].rank is None and ek["HANDI"][clip_gt].rank == 1
    printed = published_table(TABLE1, marks="printed")
    mi = {row.cells[0]: row.values for row in printed.sections[2].rows}
    assert mi["PIA [79]"][7].rank == 2  # as printed: underlined although the highest shown


def _summary(rows):
    frame = pd.DataFrame(rows, columns=["adapter", "split", "metric", "scope", "value"])
    return frame.assign(ci_low=frame["value"] - 0.001, ci_high=frame["value"] + 0.001, n=10, higher_is_better=True)


def test_run_fills_table1_and_compares():
    summary = _summary([
        ("handi", "ek100-test", "hs-err", "full", 0.0150),
        ("pia", "ek100-test", "hs-err", "full", 0.0180),
        ("animate-anything", "ek100-test", "hs-err", "full", 0.0200),
        ("handi", "ek100-test", "blip-large", "full", 0.301),  # fills BLIP through its alias
        ("handi", "ek100-test", "hs-err", "ma", 0.5),  # another scope: not Table 1
        ("handi", "ego4d-test", "egovlp", "full", 0.1),  # EPIC's EgoVLP model: not Ego4D's column
        ("handi", "ego4d-test", "egovlp-ego4d", "full", 0.65),
    ])
    table = run_table(TABLE1, summary, compare=True)
    ek = {row.adapter: row.values for row in table.sections[0].rows}
    assert ek["handi"][0].text == "0.01500" and ek["handi"][0].rank == 1
    assert ek["pia"][0].rank == 2 and ek["animate-anything"][0].rank is None
    assert ek["handi"][0].published_text == "0.01512"
    assert ek["handi"][0].delta == pytest.approx(0.0150 - 0.01512)
    assert ek["handi"][7].text == "0.301"
    assert ek["lfdm"][0].text == "" and ek["lfdm"][0].published_text == "0.01987"
    ego4d = {row.adapter: row.values for row in table.sections[1].rows}
    assert ego4d["handi"][4].text == "0.650"


def test_table2_reads_variant_labels_and_split_map(capsys, tmp_path):
    summary = _summary([
        ("handi[mask=stage1,hrl=on]", "demo", "fid", "full", 5.0),
        ("handi[mask=gt,hrl=off]", "demo", "fid", "full", 6.0),
        ("handi[mask=none,hrl=off]", "demo", "fid", "ma", 7.0),
    ])
    run = tmp_path / "run"
    run.mkdir()
    summary.to_parquet(run / "summary.parquet")
    assert main(["tables", "--paper", "table2", "--run", str(run), "--split-as", "ek100-test=demo", "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))[1:]  # labels hold commas: CSV quotes them
    assert ["Full", "4", "Stage 1", "✓", "handi[mask=stage1,hrl=on]"] == rows[11][:5]
    lines = {tuple(row[:4]): row[5:7] for row in rows}
    assert lines[("Full", "4", "Stage 1", "✓")][1] == "5.000"
    assert lines[("Full", "7", "GT", "×")][1] == "6.000"
    assert lines[("MA", "1", "×", "×")][1] == "7.000"
    assert lines[("Full", "1", "×", "×")][1] == ""


def test_every_spec_renders_published():
    for spec in map(PAPER_TABLES.get, PAPER_TABLES.names()):
        table = published_table(spec)
        assert any(cell.text for section in table.sections for row in section.rows for cell in row.values)


def test_compare_as_maps_a_run_label_onto_a_paper_method(capsys, tmp_path):
    summary = _summary([
        ("my-model", "ek100-test", "hs-err", "full", 0.0140),
        ("handi", "ek100-test", "hs-err", "full", 0.0999),  # a run adapter called handi must not fill the mapped row
    ])
    run = tmp_path / "run"
    run.mkdir()
    summary.to_parquet(run / "summary.parquet")
    argv = ["tables", "--paper", "table1", "--run", str(run), "--compare", "--format", "csv"]
    assert main([*argv, "--as", "handi=my-model"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    handi = next(row for row in rows if row[:2] == ["EpicKitchens", "HANDI"])
    assert handi[2:5] == ["my-model", "0.01400", "0.01512"]  # the row names the run adapter that filled it
    assert "0.09990" not in str(rows)
    table = run_table(TABLE1, summary, compare=True, adapter_map={"handi": "my-model"})
    assert "HANDI = `my-model`" in " ".join(table.notes)


def test_compare_as_names_what_is_accepted(capsys, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    _summary([("my-model", "ek100-test", "hs-err", "full", 0.014)]).to_parquet(run / "summary.parquet")
    argv = ["tables", "--paper", "table1", "--run", str(run), "--compare"]
    assert main([*argv, "--as", "handy=my-model"]) == 2
    assert "has no row 'handy' (did you mean handi?); its rows are lfdm," in capsys.readouterr().err
    assert main([*argv, "--as", "handi=their-model"]) == 2
    assert "the run has no adapter 'their-model' (did you mean my-model?); it has my-model" in capsys.readouterr().err
    assert main([*argv, "--as", "handi"]) == 2
    assert "PAPER_METHOD=RUN_LABEL" in capsys.readouterr().err


def test_as_splits_variant_labels_at_the_first_top_level_equals():
    from benchmark.cli.tables import parse_adapter_map

    assert parse_adapter_map(["handi[mask=gt,hrl=off]=mine[seed=1]", "pia=x"]) == {
        "handi[mask=gt,hrl=off]": "mine[seed=1]", "pia": "x"}


def test_run_table_shows_common_set_values_and_names_missing_samples():
    summary = _summary([("handi", "ek100-test", "hs-err", "full", 0.0150), ("pia", "ek100-test", "hs-err", "full", 0.0140)])
    summary = summary.assign(level="sample", common_value=[0.0150, 0.0160], common_ci_low=0.01, common_ci_high=0.02,
                             common_n=9, n=[10, 9], n_total=10.0)
    table = run_table(TABLE1, summary)
    ek = {row.adapter: row.values for row in table.sections[0].rows}
    assert ek["pia"][0].text == "0.01600" and ek["handi"][0].rank == 1  # pia's own 9 samples (0.0140) would win
    notes = " ".join(table.notes)
    assert "common set" in notes and "pia on ek100-test (9 of 10)" in notes

"""`hcvg bench speed`: the command runs the generation section and writes the report's schema."""

from __future__ import annotations

import json

import pytest

from benchmark.cli.main import main
from benchmark.speed import SPEED_SECTIONS, SectionUnavailableError, section_measure
from benchmark.speed.report import ROW_KEYS, SCHEMA, check_row, device_peak, make_row, read_speed_json


@pytest.mark.slow
def test_bench_speed_tiny_generation_writes_the_schema(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    out = tmp_path / "speed.json"
    code = main(["bench", "speed", "--size", "tiny", "--device", "cpu", "--only", "generation", "--repeats", "1",
                 "--threads", "1", "--out", str(out), "--run", str(run_dir)])
    assert code == 0
    document = read_speed_json(out)
    assert document["schema"] == SCHEMA and document["size"] == "tiny" and document["device"] == "cpu"
    assert json.loads((run_dir / "speed.json").read_text())["rows"] == document["rows"]
    rows = {(r["name"], r["variant"]): r for r in document["rows"]}
    for row in rows.values():
        assert tuple(row) == ROW_KEYS
        assert row["section"] == "generation"
        assert row["peak_flops_fraction"] is None  # no peak is known for a CPU
    reference = rows[("handi", "reference")]
    assert reference["ratio_vs_reference"] == 1.0
    assert reference["settings"]["stages"] == 2 and reference["settings"]["speed_options"]["cfg"] == "batched"
    assert reference["flops_per_clip"] > 0
    # The fast preset makes fewer UNet calls, so fewer FLOPs; AnimateAnything has no stage 1.
    assert rows[("handi", "fast-preset")]["flops_per_clip"] < reference["flops_per_clip"]
    assert rows[("animate-anything", "reference")]["flops_per_clip"] < reference["flops_per_clip"]
    assert {"sequential-cfg", "math-attention", "bf16", "channels-last", "sync-free", "optimized"} <= {v for _, v in rows}
    assert "flash-attention" in reference["settings"]["skipped_variants"]  # CUDA only, and said so
    assert "handi" in capsys.readouterr().out


def test_missing_evaluation_section_is_reported_not_crashed(tmp_path, capsys, monkeypatch):
    # The evaluation section is written separately; where its module is absent, asking
    # for it alone is a usage error naming the module.
    try:
        section_measure("evaluation")
    except SectionUnavailableError:
        pass
    else:
        pytest.skip("benchmark/speed/evaluation.py is present in this checkout")
    code = main(["bench", "speed", "--size", "tiny", "--device", "cpu", "--only", "evaluation", "--out", str(tmp_path / "s.json")])
    assert code == 2
    err = capsys.readouterr().err
    assert "benchmark.speed.evaluation" in err and "--only generation" in err
    assert not (tmp_path / "s.json").exists()


def test_sections_are_registered_lazily():
    assert SPEED_SECTIONS.names() == ["evaluation", "generation"]


def test_row_schema_and_peaks():
    row = make_row("generation", "handi", "bf16", 2.0, flops_per_clip=500e12, reference_seconds=8.0,
                   device_name="NVIDIA H100 80GB HBM3")
    check_row(row)
    assert row["ratio_vs_reference"] == 4.0 and row["clips_per_second"] == 0.5
    assert row["peak_flops_fraction"] == pytest.approx(500e12 / 2.0 / 989.4e12)
    assert device_peak("NVIDIA H100 PCIe").bf16_dense_flops == 756e12
    assert device_peak("NVIDIA H200").name == "H200 SXM"
    assert device_peak(None) is None and device_peak("AMD EPYC") is None
    with pytest.raises(ValueError, match="seconds_per_clip"):
        make_row("generation", "handi", "x", 0.0)
    with pytest.raises(ValueError, match="missing keys"):
        check_row({k: v for k, v in row.items() if k != "flops_per_clip"})

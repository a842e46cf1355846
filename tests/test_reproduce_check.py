"""`hcvg run --check-reproduce`: a finished run redone from its config agrees with itself,
and a changed video, score or weight file is reported, naming the cell."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.cli.main import main
from benchmark.reproduce_check import chosen_samples, check_reproduce
from benchmark.run_matrix import run_config_from_dict
from benchmark.run_store import RunStore
from benchmark.runner import Runner
from hcvg.video_io import read_video, write_video_lossless

# hand-recall resolves the hand-landmarker asset, so the run records a real weight digest.
MATRIX = dict(adapters=["static", "oracle"], splits=["demo:num_samples=2"], metrics=["psnr", "hand-recall"], scopes=["full", "ma"])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    from hcvg.asset_pins import forget_used_assets

    forget_used_assets()  # the record is per process: other tests resolved assets from their own caches
    out = tmp_path_factory.mktemp("reproduce") / "run"
    result = Runner(run_config_from_dict({**MATRIX, "out": str(out)}), progress=False).run()  # typed, as the CLI makes it
    assert result.complete
    return out


def test_rescoring_a_finished_run_reproduces_every_score(finished_run, tmp_path, capsys):
    check = tmp_path / "check"
    assert main(["run", "--check-reproduce", str(finished_run), "--check-samples", "2", "--check-dir", str(check), "--no-progress"]) == 0
    assert "REPRODUCED" in capsys.readouterr().out
    saved = json.loads((check / "reproduce_report.json").read_text())
    # 2 samples × 2 adapters × 2 metrics × 2 scopes, each compared; features recomputed in the scratch run
    assert saved["reproduced"] is True and saved["compared_scores"] == 16 and saved["score_differences"] == []
    assert sorted(saved["samples"]["demo"]) == ["demo-0000", "demo-0001"]


def test_a_changed_video_is_reported_by_cell(finished_run, tmp_path):
    run = tmp_path / "run"
    import shutil

    shutil.copytree(finished_run, run)
    sample = chosen_samples(__import__("pandas").read_parquet(run / "scores.parquet"), 1)["demo"][0]
    video_path = RunStore(run).video_path("static", "demo", 0, sample)
    frames = read_video(video_path)
    frames[3:, :8] = 255 - frames[3:, :8]  # a clip that is not the one the scores came from
    video_path.unlink()
    write_video_lossless(video_path, frames)
    report = check_reproduce(run, per_split=1, work_dir=tmp_path / "check", progress=False)
    assert not report.reproduced
    cells = {(d["adapter"], d["sample_id"], d["metric"]) for d in report.score_differences}
    assert ("static", sample, "psnr") in cells and all(a == "static" for a, _, _ in cells)


@pytest.mark.slow
def test_regenerating_compares_frames_and_catches_a_changed_clip(finished_run, tmp_path):
    report = check_reproduce(finished_run, per_split=1, regenerate=True, work_dir=tmp_path / "same", progress=False)
    assert report.reproduced and report.regenerated and report.video_differences == []
    run = tmp_path / "run"
    import shutil

    shutil.copytree(finished_run, run)
    sample = report.samples["demo"][0]
    video_path = RunStore(run).video_path("oracle", "demo", 0, sample)
    frames = read_video(video_path)
    frames[-1, 0, 0] = (frames[-1, 0, 0].astype(np.int16) + 9).clip(0, 255).astype(np.uint8)
    video_path.unlink()
    write_video_lossless(video_path, frames)
    changed = check_reproduce(run, per_split=1, regenerate=True, work_dir=tmp_path / "changed", progress=False)
    assert [(d["adapter"], d["sample_id"], d["max_pixel_diff"]) for d in changed.video_differences] == [("oracle", sample, 9)]


def test_the_run_records_weight_digests_and_a_changed_one_is_reported(finished_run, tmp_path):
    import shutil

    from hcvg.assets import resolve_asset, sha256_of

    recorded = RunStore(finished_run).read_config()["weights"]["hand-landmarker"]
    assert recorded["sha256"] == sha256_of(recorded["path"]) == sha256_of(resolve_asset("hand-landmarker"))
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    store = RunStore(run)
    config = store.read_config()
    config["weights"]["hand-landmarker"]["sha256"] = "0" * 64  # as if the run had used other bytes
    store.write_config(config)
    report = check_reproduce(run, per_split=1, work_dir=tmp_path / "check", progress=False)
    assert [d["asset"] for d in report.weight_differences] == ["hand-landmarker"]
    assert not report.reproduced and report.score_differences == []


def test_cli_refuses_matrix_flags_and_unfinished_runs(finished_run, tmp_path, capsys):
    assert main(["run", "--check-reproduce", str(finished_run), "--adapters", "static"]) == 2
    assert "drop --adapters" in capsys.readouterr().err
    assert main(["run", "--check-reproduce", str(tmp_path / "nothing")]) != 0
    assert "holds no finished run" in capsys.readouterr().err


def test_score_stage_uses_the_stored_matrix_when_none_is_given(finished_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (run / "ledger.parquet").unlink()  # every cell unfinished: the score stage redoes them
    assert main(["run", "--stage", "score", "--out", str(run), "--no-progress"]) == 0
    assert "16 of 16 cells scored" in capsys.readouterr().out

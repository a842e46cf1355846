"""End to end through the `hcvg` command line, as a user runs it."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from benchmark.cli.main import main

HCVG = [sys.executable, "-m", "benchmark.cli.main"]
RUN_ARGS = [
    "run", "--adapters", "static", "oracle", "--splits", "demo:num_samples=6",
    "--metrics", "psnr", "background-motion", "--batch-size", "1", "--no-progress",
]


def hcvg(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*HCVG, *map(str, args)], capture_output=True, text=True, timeout=600, **kwargs)


def test_help_explains_every_command(capsys):
    for command in ("demo", "run", "adapters", "metrics", "tables", "assets", "masks", "data", "leaderboard", "train"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert "examples:" in capsys.readouterr().out


@pytest.mark.slow
def test_demo_writes_summary_and_leaderboard(tmp_path):
    out = tmp_path / "demo"
    done = hcvg("demo", "--out", out, "--num-samples", 3, "--no-progress")
    assert done.returncode == 0, done.stderr
    summary = pd.read_parquet(out / "summary.parquet")
    assert set(summary.adapter) == {"static", "oracle", "handi-tiny"}
    assert {"psnr", "ssim", "background-fidelity", "background-motion"} <= set(summary.metric)
    assert set(summary.scope) == {"full", "ma"}
    leaderboard = (out / "leaderboard.md").read_text()
    assert "psnr ↑" in leaderboard and "background-motion ↓" in leaderboard
    assert "Run directory" in done.stdout
    tables = hcvg("tables", "--run", out)
    assert tables.returncode == 0 and tables.stdout.strip() == leaderboard.strip()


# The fast suite's kill-and-resume check is tests/test_fault_injection.py (three SIGKILLs
# over generation, scoring and finalizing); this demo-sized one runs with the slow ones.
@pytest.mark.slow
def test_killed_run_resumes_to_the_same_summary(tmp_path):
    full = hcvg(*RUN_ARGS, "--out", tmp_path / "full")
    assert full.returncode == 0, full.stderr

    killed = tmp_path / "killed"
    process = subprocess.Popen([*HCVG, *RUN_ARGS, "--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = killed / "parts" / "scores"
    deadline = time.monotonic() + 300
    while len(list(parts.glob("*.parquet"))) < 4 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished = len(list(parts.glob("*.parquet")))
    assert 0 < finished < 12, f"the kill did not land halfway ({finished} of 12 batches done)"
    videos_before = {p: p.stat().st_mtime_ns for p in (killed / "videos").rglob("*.mkv")}

    resumed = hcvg(*RUN_ARGS, "--out", killed, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"clips generated now: {12 - len(videos_before)}" in resumed.stdout
    for path, mtime in videos_before.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was regenerated"
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "full" / "summary.parquet"), pd.read_parquet(killed / "summary.parquet")
    )
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "full" / "scores.parquet"), pd.read_parquet(killed / "scores.parquet")
    )


def test_user_errors_are_one_clear_line(tmp_path):
    unknown = hcvg("run", "--adapters", "statik", "--out", tmp_path / "x", "--no-progress")
    assert unknown.returncode == 2
    assert "unknown adapter 'statik'" in unknown.stderr and "Did you mean: static" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    first = hcvg("run", "--adapters", "static", "--splits", "demo:num_samples=1", "--metrics", "psnr", "--out", tmp_path / "y", "--no-progress")
    assert first.returncode == 0, first.stderr
    again = hcvg("run", "--adapters", "static", "--splits", "demo:num_samples=1", "--metrics", "psnr", "--out", tmp_path / "y", "--no-progress")
    assert again.returncode == 2 and "--resume" in again.stderr


def _cells_line(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if "cells scored;" in line]
    assert lines, f"no summary line in:\n{stdout}"
    return lines[-1]


@pytest.mark.slow
def test_run_on_an_empty_folder_fails_then_succeeds_in_place_once_filled(tmp_path):
    from benchmark.splits import load_split
    from hcvg.video_io import write_video_lossless

    videos = tmp_path / "my_model"
    videos.mkdir()
    out = tmp_path / "run"
    args = ["run", "--adapters", f"folder:root={videos},label=my-model", "--splits", "demo:num_samples=2",
            "--metrics", "psnr", "--scopes", "full", "--no-progress", "--out", out]
    empty = hcvg(*args)
    assert empty.returncode == 1, empty.stdout + empty.stderr
    assert _cells_line(empty.stdout) == "0 of 2 cells scored; 2 failures (see failures.jsonl)"
    assert "the rest was scored" not in empty.stdout

    split = load_split("demo", num_samples=2)
    for sample_id in split.ids():
        write_video_lossless(videos / f"{sample_id}.mkv", split.get(sample_id).target)
    filled = hcvg(*args)  # the same command, no --resume: the directory never scored anything
    assert filled.returncode == 0, filled.stdout + filled.stderr
    assert _cells_line(filled.stdout) == "2 of 2 cells scored; 0 failures (see failures.jsonl)"
    assert set(pd.read_parquet(out / "scores.parquet").sample_id) == set(split.ids())
    # The failures of the empty attempt went with it: the directory holds one clean run.
    assert not (out / "failures.jsonl").exists() or not (out / "failures.jsonl").read_text().strip()
    # Now it holds scores: the same command without --resume is refused again.
    again = hcvg(*args)
    assert again.returncode == 2 and "already holds a run" in again.stderr


def test_partly_scored_run_exits_1_and_counts_the_failures_not_shown(tmp_path):
    from benchmark.splits import load_split
    from hcvg.video_io import write_video_lossless

    videos = tmp_path / "my_model"
    videos.mkdir()
    split = load_split("demo", num_samples=8)
    write_video_lossless(videos / "demo-0000.mkv", split.get("demo-0000").target)
    done = hcvg("run", "--adapters", f"folder:root={videos}", "--splits", "demo:num_samples=8", "--metrics", "psnr",
                "--scopes", "full", "ma", "--no-progress", "--out", tmp_path / "run")
    assert done.returncode == 1, done.stdout + done.stderr
    assert _cells_line(done.stdout) == "2 of 16 cells scored; 7 failures (see failures.jsonl)"
    assert "... and 2 more failures" in done.stdout
    assert done.stdout.count("stage=generate") == 5


@pytest.mark.slow
def test_resume_with_another_matrix_names_each_differing_key_briefly(tmp_path):
    out = tmp_path / "run"
    base = ["run", "--adapters", "static", "--metrics", "psnr", "--scopes", "full", "--no-progress", "--out", out]
    first = hcvg(*base[:-2], "--splits", "demo:num_samples=1", "--out", out)
    assert first.returncode == 0, first.stdout + first.stderr
    other = hcvg(*base[:-2], "--splits", "demo:num_samples=2,seed=3", "--out", out, "--resume")
    assert other.returncode == 2
    message = other.stderr.strip()
    assert "split 'demo' option num_samples: 1 → 2" in message and "split 'demo' option seed: (not set) → 3" in message
    assert len(message.splitlines()) == 1 and len(message) < 400, message


def test_version_is_the_installed_package_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"hcvg {version('handi-bench')}"

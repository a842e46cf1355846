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
    for command in ("demo", "run", "adapters", "tables", "assets", "masks", "data", "leaderboard"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert "examples:" in capsys.readouterr().out


def test_demo_writes_summary_and_leaderboard(tmp_path):
    out = tmp_path / "demo"
    done = hcvg("demo", "--out", out, "--num-samples", 3, "--no-progress")
    assert done.returncode == 0, done.stderr
    summary = pd.read_parquet(out / "summary.parquet")
    assert {"static", "oracle"} <= set(summary.adapter)
    assert {"psnr", "ssim", "background-fidelity", "background-motion"} <= set(summary.metric)
    assert set(summary.scope) == {"full", "ma"}
    leaderboard = (out / "leaderboard.md").read_text()
    assert "psnr ↑" in leaderboard and "background-motion ↓" in leaderboard
    assert "Run directory" in done.stdout
    tables = hcvg("tables", "--run", out)
    assert tables.returncode == 0 and tables.stdout.strip() == leaderboard.strip()


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

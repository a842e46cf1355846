"""A metric skipped for missing weights: said once and short, recorded once per run directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_runner import make_runner

REPO_ROOT = Path(__file__).resolve().parent.parent
CLIP_METRICS = ["clip-gt", "clip-cs"]


@pytest.fixture
def no_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Empty asset and hub caches, for this process and the subprocesses it starts."""
    places = {"HCVG_ASSET_DIR": str(tmp_path / "assets"), "HF_HUB_CACHE": str(tmp_path / "hub")}
    for key, value in places.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HCVG_CLIP_VIT_L_14", raising=False)
    return places


def setup_failures(run: Path) -> list[dict]:
    lines = (run / "failures.jsonl").read_text().splitlines()
    return [f for f in map(json.loads, lines) if f.get("stage") == "metric-setup"]


def test_resuming_does_not_repeat_a_skipped_metric_in_failures(tmp_path, square_samples, no_weights) -> None:
    metrics = ["psnr", *CLIP_METRICS]
    first = make_runner(tmp_path, square_samples, ["static"], metrics=metrics).run()
    assert set(first.skipped_metrics) == set(CLIP_METRICS)
    assert "clip-vit-l-14" in first.skipped_metrics["clip-gt"]
    for _ in range(2):
        again = make_runner(tmp_path, square_samples, ["static"], metrics=metrics, resume=True).run()
        assert set(again.skipped_metrics) == set(CLIP_METRICS)  # still skipped, still said
    recorded = setup_failures(tmp_path / "run")
    assert sorted(f["metric"] for f in recorded) == sorted(CLIP_METRICS)  # once each, not once per resume
    assert all("Looked in" in f["error"] for f in recorded)  # the full text is kept


def test_a_new_reason_is_recorded_again(tmp_path, square_samples, no_weights, monkeypatch) -> None:
    make_runner(tmp_path, square_samples, ["static"], metrics=["psnr", "clip-gt"]).run()
    # Another asset cache: the reason (where it was looked for) changes, so it is news.
    monkeypatch.setenv("HCVG_ASSET_DIR", str(tmp_path / "other-assets"))
    make_runner(tmp_path, square_samples, ["static"], metrics=["psnr", "clip-gt"], resume=True).run()
    assert [f["metric"] for f in setup_failures(tmp_path / "run")] == ["clip-gt", "clip-gt"]


def test_console_says_a_skip_once_on_one_line(tmp_path: Path, no_weights: dict[str, str]) -> None:
    env = {**os.environ, **no_weights}
    env.pop("HCVG_CLIP_VIT_L_14", None)
    done = subprocess.run(
        [sys.executable, "-m", "benchmark.cli.main", "run", "--adapters", "static", "--splits", "demo:num_samples=1",
         "--metrics", "psnr", *CLIP_METRICS, "--scopes", "full", "--out", str(tmp_path / "run"), "--no-progress"],
        capture_output=True, text=True, timeout=600, env=env, cwd=REPO_ROOT,
    )
    console = done.stdout + done.stderr
    skip_lines = [line for line in console.splitlines() if "clip-gt" in line and "skip" in line]
    assert skip_lines == [line for line in skip_lines if line.strip().startswith("skipped metrics clip-gt, clip-cs:")]
    assert len(skip_lines) == 1, console
    assert "Looked in" not in console  # the long text is in failures.jsonl, not on the console
    assert "Looked in" in (tmp_path / "run" / "failures.jsonl").read_text()

"""`hcvg metrics list` and `hcvg assets list`, as a user reads them."""

from __future__ import annotations

import os
import re
import subprocess
import sys

HCVG = [sys.executable, "-m", "benchmark.cli.main"]


def hcvg(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*HCVG, *args], capture_output=True, text=True, timeout=300, env=env)


def no_assets_env(tmp_path) -> dict[str, str]:
    """An environment in which no weight file can be found (empty asset and hub caches)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCVG_")}
    env.update(HCVG_ASSET_DIR=str(tmp_path / "assets"), HF_HUB_CACHE=str(tmp_path / "hub"), HF_HUB_OFFLINE="1")
    return env


def test_metrics_list_names_every_registered_metric():
    from metrics.registry import METRICS

    listed = hcvg("metrics", "list")
    assert listed.returncode == 0, listed.stderr
    assert set(METRICS.names()) <= set(listed.stdout.split())


def test_metrics_list_verbose_says_direction_level_features_and_missing_weights(tmp_path):
    listed = hcvg("metrics", "list", "--verbose", env=no_assets_env(tmp_path))
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines() if line and not line.startswith("(")}
    assert re.fullmatch(r"psnr\s+↑\s+sample\s+-\s+none needed", rows["psnr"])
    assert re.fullmatch(r"background-motion\s+↓\s+sample\s+-\s+none needed", rows["background-motion"])
    assert re.search(r"^fid\s+↓\s+distribution\s+inception-pool3\s+MISSING inception-pool3: inception-fid-pytorch", rows["fid"])
    assert re.search(r"^hs-err\s+↓\s+sample\s+hand-keypoints\s+MISSING hand-keypoints: hand-landmarker", rows["hs-err"])
    # Columns line up: every row's weights column starts where the header's does.
    start = rows["metric"].index("weights")
    assert all(line[start - 2 : start] == "  " and line[start] != " " for line in rows.values())


def test_assets_list_columns_line_up_for_long_names():
    listed = hcvg("assets", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    heads = [line for line in lines if not line.startswith(" ")]
    details = [line for line in lines if line.startswith(" ")]
    assert any(len(line.split()[0]) > 20 for line in heads)  # names longer than the old fixed column
    status_at = {re.search(r" (present|MISSING) ", line).start() for line in heads}
    label_at = {len(line) - len(line.lstrip()) for line in details}
    assert len(status_at) == 1 and label_at == {status_at.pop() + 1}
    value_at = {re.match(r"\s+\w+:\s+", line).end() for line in details}
    assert len(value_at) == 1

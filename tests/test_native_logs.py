"""Native log noise (MediaPipe's LiteRT / absl lines on fd 2) is held back; `hcvg -v` shows it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hcvg.native_logs import ENV_VAR, filter_noise, quiet_native_logs

REPO_ROOT = Path(__file__).resolve().parent.parent
HCVG = [sys.executable, "-m", "benchmark.cli.main"]

LITERT_INFO = b"INFO: [environment.cc:36] Creating LiteRT environment with options\n"
TFLITE_INFO = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
ABSL_NOTICE = b"WARNING: Logging before InitGoogle() is written to STDERR\n"
ABSL_WARNING = b"W0000 00:00:1796117846.904218   20894 inference_runner_litert.cc:1433] Input tensor memory is not aligned\n"
ABSL_ERROR = b"E0000 00:00:1796117846.904218   20894 graph.cc:12] Calculator failed\n"
PYTHON_LINE = b"UserWarning: something a user must see\n"


def test_filter_drops_only_the_known_noise() -> None:
    data = LITERT_INFO + ABSL_ERROR + TFLITE_INFO + ABSL_NOTICE + PYTHON_LINE + ABSL_WARNING
    assert filter_noise(data) == ABSL_ERROR + PYTHON_LINE


def test_quiet_block_holds_back_native_writes_and_passes_the_rest(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with quiet_native_logs():
        # os.write on fd 2 is what the C++ side does; it bypasses sys.stderr.
        os.write(2, LITERT_INFO + ABSL_WARNING)
        os.write(2, ABSL_ERROR)
        with quiet_native_logs():  # nested: still held, written once
            os.write(2, TFLITE_INFO + PYTHON_LINE)
    assert capfd.readouterr().err.encode() == ABSL_ERROR + PYTHON_LINE
    os.write(2, LITERT_INFO)  # fd 2 is restored after the block
    assert capfd.readouterr().err.encode() == LITERT_INFO


def test_quiet_block_restores_stderr_when_the_call_raises(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RuntimeError):
        with quiet_native_logs():
            os.write(2, LITERT_INFO)
            raise RuntimeError("native call failed")
    os.write(2, ABSL_ERROR)
    assert capfd.readouterr().err.encode() == ABSL_ERROR


def test_verbose_setting_lets_native_lines_through(capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "1")
    with quiet_native_logs():
        os.write(2, LITERT_INFO)
    assert capfd.readouterr().err.encode() == LITERT_INFO


def _demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    return subprocess.run(
        [*HCVG, *args], capture_output=True, text=True, timeout=600, env=env, cwd=REPO_ROOT,
    )


def _native_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if filter_noise(line.encode() + b"\n") == b""]


@pytest.mark.slow
def test_demo_stderr_is_quiet_by_default_and_verbose_brings_native_logs_back(tmp_path: Path, landmarker_path: Path) -> None:
    quiet = _demo(tmp_path, "demo", "--num-samples", "2", "--out", str(tmp_path / "quiet"), "--no-progress")
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert _native_lines(quiet.stderr) == []
    # Before: ~60 native lines per demo clip. Now nothing but what the suite itself says.
    assert len(quiet.stderr.splitlines()) <= 3, quiet.stderr

    loud = _demo(
        tmp_path, "-v", "demo", "--num-samples", "1", "--adapters", "static", "--metrics", "hs-err",
        "--out", str(tmp_path / "loud"), "--no-progress",
    )
    assert loud.returncode == 0, loud.stderr[-2000:]
    assert sum(line.startswith("INFO: [") for line in loud.stderr.splitlines()) >= 5


def test_verbose_cli_setting_does_not_outlive_the_command(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from benchmark.cli.main import main

    monkeypatch.delenv(ENV_VAR, raising=False)
    assert main(["-v", "adapters", "list"]) == 0
    assert ENV_VAR not in os.environ

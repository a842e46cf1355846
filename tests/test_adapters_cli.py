"""`hcvg adapters list` (capabilities, native settings, weights) and `hcvg adapters check NAME`."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from benchmark.cli.adapters import AdaptersCommand, weights_status
from benchmark.cli.main import main
from hcvg.adapter import Adapter, Capabilities, GenerationRequest
from hcvg.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
HCVG = [sys.executable, "-m", "benchmark.cli.main"]


def hcvg(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*HCVG, *args], capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)


def no_assets_env(tmp_path: Path) -> dict[str, str]:
    """An environment in which no asset is found (empty asset and hub caches, no HCVG_* variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCVG_")}
    env.update(HCVG_ASSET_DIR=str(tmp_path / "assets"), HF_HUB_CACHE=str(tmp_path / "hub"), HF_HUB_OFFLINE="1")
    return env


def listed_blocks(stdout: str) -> dict[str, str]:
    """`adapters list` output as {name: its lines}."""
    blocks: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        if line and not line.startswith(" "):
            blocks[line.split()[0]] = [line]
        elif blocks:
            blocks[list(blocks)[-1]].append(line)
    return {name: "\n".join(lines) for name, lines in blocks.items()}


# -- list ------------------------------------------------------------------------------
def test_list_says_whether_weights_are_present(tmp_path):
    env = no_assets_env(tmp_path)
    # A handi-ivg folder in the asset cache: found locally, no checksum, no torch.
    (tmp_path / "assets" / "IVG_1.0").mkdir(parents=True)
    listed = hcvg("adapters", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    blocks = listed_blocks(listed.stdout)
    assert "weights: none needed" in blocks["static"]
    assert "weights: missing: animate-anything (hcvg assets fetch animate-anything)" in blocks["animate-anything"]
    assert f"weights: present ({tmp_path / 'assets' / 'IVG_1.0'})" in blocks["handi"]
    # handi-tiny's weights ship in the package: present with no asset anywhere else.
    assert re.search(r"weights: present \(.*handi/weights/handi-tiny\)", blocks["handi-tiny"]), blocks["handi-tiny"]


def test_list_shows_capabilities_and_native_settings(tmp_path):
    listed = hcvg("adapters", "list", "handi*", env=no_assets_env(tmp_path))
    assert listed.returncode == 0, listed.stderr
    blocks = listed_blocks(listed.stdout)
    assert set(blocks) == {"handi", "handi-tiny"}
    assert "needs: image; max batch 1; deterministic" in blocks["handi-tiny"]
    assert "native: 64x64 (HxW), 15 frames, 25 steps, guidance 9" in blocks["handi-tiny"]


class NeedsTwoAssets(Adapter):
    """Declares one asset that exists and one that does not."""

    name: ClassVar[str] = "needs-two"

    @classmethod
    def required_assets(cls) -> tuple[str, ...]:
        return ("hand-landmarker", "handi-ivg")

    def generate(self, requests):
        raise NotImplementedError


def test_weights_status_names_every_missing_asset(tmp_path, monkeypatch):
    cache = tmp_path / "assets"
    cache.mkdir()
    (cache / "hand_landmarker.task").write_bytes(b"not a real model; only its presence is read")
    monkeypatch.setenv("HCVG_ASSET_DIR", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    for var in ("HCVG_HAND_LANDMARKER", "HCVG_HANDI_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)
    status = weights_status(NeedsTwoAssets)
    assert status == f"missing: handi-ivg (hcvg assets fetch handi-ivg); present: {cache / 'hand_landmarker.task'}"
    (cache / "IVG_1.0").mkdir()
    assert weights_status(NeedsTwoAssets) == f"present ({cache / 'hand_landmarker.task'}; {cache / 'IVG_1.0'})"


# -- check -----------------------------------------------------------------------------
class Shifting(Adapter):
    """Shifts the context by ``step`` pixels per frame; ``jitter=True`` breaks determinism."""

    name: ClassVar[str] = "shifting"
    capabilities: ClassVar[Capabilities] = Capabilities(max_batch_size=4)

    def __init__(self, step: int = 1, jitter: bool = False):
        self.step, self.jitter = step, jitter
        self.calls = 0

    def options(self):
        return {"step": self.step, "jitter": self.jitter}

    def generate(self, requests: list[GenerationRequest]) -> list[np.ndarray]:
        self.calls += 1
        extra = self.calls if self.jitter else 0
        return [np.stack([np.roll(r.context, (t + 1) * self.step + extra, axis=1) for t in range(r.num_frames)]) for r in requests]


def check(registry: Registry, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    command = AdaptersCommand(registry)
    command.add_arguments(parser)
    return command.run(parser.parse_args(["check", *argv]))


@pytest.fixture
def registry() -> Registry[type[Adapter]]:
    fresh: Registry[type[Adapter]] = Registry("adapter", base=Adapter)
    fresh.register("shifting", Shifting)
    return fresh


def test_check_passes_a_conforming_adapter_and_prints_its_stages(registry, capsys):
    assert check(registry, "shifting") == 0
    out = capsys.readouterr().out
    assert "built:    Shifting.for_tests()" in out
    assert "stage:    generate(3 requests) ok" in out and "stage:    close() ok" in out
    assert out.rstrip().splitlines()[-1].startswith("PASS shifting")


def test_check_with_options_builds_the_adapter_with_them(registry, capsys):
    """for_tests() conforms; jitter=true (given as a CLI string) breaks determinism, and says so."""
    assert check(registry, "shifting", "--option", "jitter=true", "--option", "step=2") == 1
    out = capsys.readouterr().out
    assert "built:    Shifting(jitter=true, step=2)" in out
    assert "FAIL shifting: same seed, different videos" in out
    assert "adapters/testing.py" in out  # where the rule is


def test_check_reports_an_adapter_that_raises(registry, capsys):
    class Raises(Shifting):
        """Fails to generate."""

        def generate(self, requests):
            raise ValueError("the model is on fire")

    registry.register("raises", Raises)
    assert check(registry, "raises") == 1
    out = capsys.readouterr().out
    assert "stage:    generate(3 requests) raised ValueError" in out
    assert "FAIL raises: the adapter raised ValueError: the model is on fire" in out


def test_check_unknown_name_or_bad_option_is_a_usage_error(capsys):
    assert main(["adapters", "check", "statik"]) == 2
    err = capsys.readouterr().err
    assert "unknown adapter 'statik'" in err and "static" in err
    assert main(["adapters", "check", "static", "--option", "no-equals-sign"]) == 2
    assert "write KEY=VALUE" in capsys.readouterr().err
    assert main(["adapters", "check", "static", "--option", "colour=red"]) == 2
    assert "colour" in capsys.readouterr().err
    assert main(["adapters", "check"]) == 2
    assert "needs an adapter name" in capsys.readouterr().err


def test_check_a_registered_adapter_from_the_command_line(tmp_path):
    done = hcvg("adapters", "check", "oracle", env=no_assets_env(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS oracle" in done.stdout


def test_check_reports_an_adapter_that_cannot_be_imported(capsys):
    broken: Registry[type[Adapter]] = Registry("adapter", base=Adapter)
    broken.register("gone", "no_such_package.adapter:GoneAdapter")  # as a mistyped entry point reads
    assert check(broken, "gone") == 1
    out = capsys.readouterr().out
    assert "FAIL gone: the adapter cannot be imported: ModuleNotFoundError" in out and "no_such_package" in out

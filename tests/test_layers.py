"""The house's layers: checked by import-linter, and the CLI's start-up stays light."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "torchvision", "diffusers", "transformers", "open_clip", "mediapipe")


def test_import_linter_contracts_are_kept() -> None:
    lint = shutil.which("lint-imports")
    if lint is None:
        pytest.fail("lint-imports is not installed; `pip install -e '.[test]'` brings import-linter")
    proc = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_import_linter_catches_an_upward_import(tmp_path: Path) -> None:
    """The contract is not vacuous: a kernel module importing the benchmark breaks it."""
    copy = tmp_path / "tree"
    for package in ("hcvg", "handi", "adapters", "metrics", "leaderboards", "benchmark"):
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    (copy / "hcvg" / "upward.py").write_text("import benchmark.runner\n")
    proc = subprocess.run(
        [shutil.which("lint-imports") or "lint-imports"], cwd=copy, capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": str(copy), "PATH": str(Path(sys.executable).parent)},
    )
    assert proc.returncode != 0
    assert "hcvg.upward -> benchmark.runner" in proc.stdout


def _modules_loaded_by(argv: list[str]) -> set[str]:
    program = (
        "import contextlib, io, json, sys\n"
        "from benchmark.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(proc.stdout.splitlines()[-1]))


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["adapters", "list"], ["assets", "list"], ["metrics", "list"]], ids=" ".join)
def test_cli_start_up_imports_no_model_library(argv: list[str]) -> None:
    loaded = _modules_loaded_by(argv)
    assert "benchmark.cli.main" in loaded  # the program really ran
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert not heavy, f"`hcvg {' '.join(argv)}` imported {heavy[:5]}"


def test_lazy_registry_entries_point_into_their_owner() -> None:
    """A registry never names a module of a higher layer by string (a hidden upward import)."""
    from adapters.registry import ADAPTERS
    from benchmark.asset_fetch import BUILDERS
    from benchmark.splits import SPLITS
    from metrics.features.registry import FEATURES
    from metrics.registry import METRICS

    owners = {"adapters": ADAPTERS, "metrics": METRICS, "metrics.features": FEATURES, "benchmark": SPLITS}
    owners["benchmark."] = BUILDERS
    for owner, registry in owners.items():
        for name, entry in registry._entries.items():
            if isinstance(entry, str):
                assert entry.startswith(owner.rstrip(".") + "."), f"{registry.kind} {name!r} -> {entry}"

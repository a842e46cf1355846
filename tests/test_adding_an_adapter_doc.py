"""docs/adding-an-adapter.md, followed literally, gives a leaderboard row for a package outside the repository.

The test writes every file the doc marks ``<!-- file: PATH -->`` into a fresh folder,
installs that package with pip into a folder of its own (``--target``, so the test
environment is left as it was; its entry points are found through ``PYTHONPATH``), and
runs every command block the doc marks ``<!-- run -->``, in order, as subprocesses.
"""

from __future__ import annotations

import csv
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "adding-an-adapter.md"

FILE_MARK = re.compile(r"<!-- file: (?P<path>\S+) -->\n```\w*\n(?P<body>.*?)\n```", re.S)
RUN_MARK = re.compile(r"<!-- run -->\n```bash\n(?P<body>.*?)\n```", re.S)


def doc_files(text: str) -> dict[str, str]:
    """{relative path: content} of the blocks marked ``<!-- file: PATH -->``."""
    return {m["path"]: m["body"] + "\n" for m in FILE_MARK.finditer(text)}


def doc_commands(text: str) -> list[list[str]]:
    """The commands of the blocks marked ``<!-- run -->``, in order, split as a shell would."""
    commands = []
    for block in RUN_MARK.finditer(text):
        for line in block["body"].splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(words)
    return commands


def as_subprocess(words: list[str], site: Path) -> list[str]:
    """A doc command as this test runs it: `hcvg` and `python` from this interpreter; pip into ``site``.

    ``pip install [-e] PKG`` becomes ``pip install --no-deps --no-build-isolation
    --target SITE PKG``: handi-bench and numpy are already here, the network is closed,
    and a ``--target`` folder leaves the test environment untouched (an editable install
    cannot go to a target folder; the package is the same).
    """
    if words[0] == "hcvg":
        return [sys.executable, "-m", "benchmark.cli.main", *words[1:]]
    if words[:4] == ["python", "-m", "pip", "install"]:
        packages = [w for w in words[4:] if w != "-e"]
        return [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), *packages]
    if words[0] == "python":
        return [sys.executable, *words[1:]]
    raise AssertionError(f"the doc runs {words[0]!r}; this test runs only hcvg, python and pip commands: {shlex.join(words)}")


def test_doc_marks_its_files_and_commands():
    text = DOC.read_text()
    files = doc_files(text)
    assert "hcvg-shift-adapter/pyproject.toml" in files and "hcvg-shift-adapter/shift_adapter/adapter.py" in files
    assert '[project.entry-points."hcvg.adapters"]' in files["hcvg-shift-adapter/pyproject.toml"]
    programs = [shlex.join(words[:3]) for words in doc_commands(text)]
    for expected in ("python -m pip", "hcvg adapters check", "hcvg run --adapters", "hcvg tables --run"):
        assert any(p.startswith(expected) for p in programs), (expected, programs)


@pytest.mark.slow
def test_following_the_doc_gives_a_leaderboard_row(tmp_path, landmarker_path):
    text = DOC.read_text()
    work = tmp_path / "researcher"  # outside the repository: nothing of it is on the path but what is installed
    for relative, content in doc_files(text).items():
        path = work / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    site = tmp_path / "site"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCVG_")}
    env.update(
        # The installed package first, then this checkout's handi-bench (as `python -m pytest` here imports it).
        PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]),
        HCVG_ASSET_DIR=str(tmp_path / "assets"), HF_HUB_CACHE=str(tmp_path / "hub"), HF_HUB_OFFLINE="1",
        # The hand model this test session already has: the doc's `hcvg assets fetch` finds it.
        HCVG_HAND_LANDMARKER=str(landmarker_path),
    )
    outputs: dict[str, str] = {}
    for words in doc_commands(text):
        done = subprocess.run(as_subprocess(words, site), cwd=work, env=env, capture_output=True, text=True, timeout=600)
        command = shlex.join(words)
        assert done.returncode == 0, f"`{command}` exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        outputs[command] = done.stdout

    # The package is installed into the target folder only, with its entry point.
    assert list(site.glob("hcvg_shift_adapter-*.dist-info/entry_points.txt"))
    listed = next(out for command, out in outputs.items() if command.startswith("hcvg adapters list"))
    assert re.search(r"^shift\s+Pans the context", listed, re.M), listed
    assert "weights: none needed" in listed
    checked = next(out for command, out in outputs.items() if command.startswith("hcvg adapters check"))
    assert checked.rstrip().splitlines()[-1].startswith("PASS shift"), checked

    # The run's leaderboard has the adapter's row, with numbers, in Markdown and in the doc's CSV.
    run = next(words for words in doc_commands(text) if words[:2] == ["hcvg", "run"])
    run_dir = work / run[run.index("--out") + 1]
    metrics = run[run.index("--metrics") + 1 : run.index("--out")]
    board = (run_dir / "leaderboard.md").read_text()
    rows = [line for line in board.splitlines() if line.startswith("| shift |")]
    assert rows, board
    assert all(re.search(r"\| -?\d+(\.\d+)? \[", row) for row in rows), rows
    table = next(words for words in doc_commands(text) if "--format" in words and "csv" in words)
    with open(work / table[table.index("--out") + 1], newline="") as f:
        records = [r for r in csv.DictReader(f) if r["adapter"] == "shift"]
    assert {r["metric"] for r in records} == set(metrics)
    assert {r["scope"] for r in records} == {"full", "ma"}
    assert all(math.isfinite(float(r["value"])) and int(r["n"]) > 0 for r in records), records

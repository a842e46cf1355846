"""What every bridge shares: the manifest and job files, the upstream run, moving outputs.

A bridge runs in the baseline's own environment (its python, its torch), so it uses
the standard library and Pillow only, and nothing of the suite. It is started as::

    python <bridge>.py --manifest <work>/manifest.jsonl --job <work>/job.json

``job.json`` (written by `adapters.command.adapter.CommandAdapter`) holds the upstream
command line (``argv``) with the options' placeholders already filled in, its working
directory (``cwd``), the repository and the prompt field to use. The bridge fills the
per-run placeholders, runs the command (its output goes to the adapter's logs), and
moves what upstream wrote to each entry's ``output`` name. It exits with upstream's
status when that is not 0, after moving whatever was written: partial output is scored.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class BridgeError(RuntimeError):
    """The bridge cannot turn the manifest into the upstream layout (a message for stderr)."""


def render(template: str, values: dict) -> str:
    """Replace the ``{name}`` placeholders ``values`` names (one pass; as `adapters.command.presets.render`)."""
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template)


def load(argv: list[str] | None = None) -> tuple[list[dict], dict]:
    """Parse the bridge's arguments; return the manifest entries and the job."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--job", type=Path, required=True)
    args = parser.parse_args(argv)
    entries = [json.loads(line) for line in args.manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    job = json.loads(args.job.read_text(encoding="utf-8"))
    return entries, job


def text_of(entry: dict, job: dict) -> str:
    """The prompt to give upstream, on one line (prompt files are one prompt a line)."""
    field = job.get("text", "prompt")
    text = entry.get(field)
    if text is None:
        raise BridgeError(f"sample {entry['sample_id']!r} has no {field}; use text=prompt, or a split that has one")
    text = " ".join(str(text).split())
    if not text:
        raise BridgeError(f"sample {entry['sample_id']!r} has an empty {field}: upstream prompt files skip empty lines")
    return text


def context_of(entry: dict, preset: str) -> Path:
    """The entry's context PNG; an image-to-video preset cannot run without one."""
    if entry.get("context") is None:
        raise BridgeError(f"{preset} is image-to-video but sample {entry['sample_id']!r} has no context frame; "
                          "do not pass text_only=true with this preset")
    return Path(entry["context"])


def by_seed(entries: list[dict]) -> dict[int, list[dict]]:
    """Entries grouped by seed, in manifest order: upstream scripts take one seed per run."""
    groups: dict[int, list[dict]] = {}
    for entry in entries:
        groups.setdefault(int(entry["seed"]), []).append(entry)
    return groups


def upstream_argv(job: dict, values: dict) -> list[str]:
    """The upstream command with this run's placeholders filled.

    Raises:
        BridgeError: If a placeholder is left (a preset and its bridge disagree).
    """
    argv = [render(token, values) for token in job["argv"]]
    left = sorted({name for token in argv for name in _PLACEHOLDER.findall(token)})
    if left:
        raise BridgeError(f"placeholders {left} of the upstream command are not filled: {argv}")
    return argv


def run_upstream(job: dict, values: dict) -> int:
    """Run the upstream command in its directory; its stdout and stderr are the bridge's."""
    argv = upstream_argv(job, values)
    print(f"[bridge] cd {job['cwd']} && {' '.join(argv)}", file=sys.stderr, flush=True)
    return subprocess.run(argv, cwd=job["cwd"], stdin=subprocess.DEVNULL).returncode


def place(source: Path, entry: dict) -> bool:
    """Move an upstream output to the entry's output name (its own suffix kept); False if absent."""
    source = Path(source)
    if not source.is_file():
        print(f"[bridge] upstream wrote no {source} for sample {entry['sample_id']!r}", file=sys.stderr, flush=True)
        return False
    target = Path(entry["output"]).with_suffix(source.suffix)
    shutil.move(str(source), str(target))
    return True


def fresh_dir(path: Path) -> Path:
    """An empty directory at ``path``."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def main(run) -> None:
    """Run a bridge's ``run(entries, job) -> status`` and exit with its status; errors go to stderr."""
    try:
        entries, job = load()
        status = run(entries, job)
    except BridgeError as err:
        print(f"[bridge] {err}", file=sys.stderr, flush=True)
        status = 2
    sys.exit(status)


def worst(statuses: list[int]) -> int:
    """The first non-zero status of several upstream runs, else 0."""
    return next((s for s in statuses if s != 0), 0)



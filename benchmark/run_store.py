"""The run store: one directory per run, written so that a killed run loses nothing.

Layout::

    RUN/
      run_config.json          what was run, with package versions and git commit
      videos/<adapter>/<split>/seed-<k>/<sample>.mkv   lossless generated clips
      previews/...mp4          optional lossy previews (never scored)
      parts/<table>/*.parquet  append-only row batches, each written atomically
      scores.parquet           one row per adapter, split, sample, seed, metric, scope
      timings.parquet          seconds per sample and stage
      summary.parquet          per adapter, split, metric, scope: value, 95% CI, n
      failures.jsonl           one JSON object per failure, with the reason
      leaderboard.md

Every file is written to a temporary name and renamed into place, so a reader (or a
resumed run) sees either the whole file or none of it. Consolidated tables are
rebuilt from ``parts/`` at any time.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from hcvg.atomic import DiskFullError, append_line, atomic_write_bytes, atomic_write_parquet, is_disk_full, remove_temporaries
from hcvg.errors import UserError
from hcvg.sample import check_path_component

logger = logging.getLogger(__name__)

CONFIG_FILE = "run_config.json"
FAILURES_FILE = "failures.jsonl"


class RunExistsError(UserError, FileExistsError):
    """The run directory already holds a run and ``--resume`` was not asked for."""


class RunStore:
    """Reads and writes one run directory.

    Args:
        root: The run directory (created if missing).
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def remove_temporaries(self) -> int:
        """Delete temporary files left by a killed writer; returns how many."""
        return remove_temporaries(self.root)

    # -- config ----------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    def has_config(self) -> bool:
        return self.config_path.is_file()

    def write_config(self, config: dict[str, Any]) -> Path:
        return atomic_write_bytes(self.config_path, json.dumps(config, indent=2, default=str).encode())

    def read_config(self) -> dict[str, Any]:
        return json.loads(self.config_path.read_text())

    # -- videos ----------------------------------------------------------------
    def video_path(self, adapter: str, split: str, seed: int, sample_id: str) -> Path:
        """Where a generated clip is stored.

        Raises:
            UnsafeNameError: If a label or the sample id would leave its folder (``../x``).
        """
        return self.root / "videos" / _clip_relpath(adapter, split, seed, sample_id, ".mkv")

    def preview_path(self, adapter: str, split: str, seed: int, sample_id: str) -> Path:
        return self.root / "previews" / _clip_relpath(adapter, split, seed, sample_id, ".mp4")

    # -- tables ----------------------------------------------------------------
    def append_rows(self, table: str, rows: list[dict[str, Any]]) -> Path | None:
        """Append a batch of rows to ``table`` as one atomically written part file."""
        if not rows:
            return None
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.parquet"
        return atomic_write_parquet(self.root / "parts" / table / name, pd.DataFrame(rows))

    def read_table(self, table: str) -> pd.DataFrame:
        """All rows appended to ``table`` so far (empty DataFrame if none)."""
        parts = sorted((self.root / "parts" / table).glob("*.parquet"))
        frames = [pd.read_parquet(p) for p in parts]
        frames = [f for f in frames if not f.empty]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def consolidate(self, table: str, sort_by: list[str], unique: list[str] | None = None) -> pd.DataFrame:
        """Write ``<table>.parquet`` from the parts, sorted so that it is reproducible.

        Args:
            table: Table name.
            sort_by: Columns to sort by.
            unique: If given, rows repeating these columns keep only the latest (work
                redone after a kill between two part writes).
        """
        frame = self.read_table(table)
        if not frame.empty:
            if unique:
                frame = frame.drop_duplicates(subset=unique, keep="last")
            frame = frame.sort_values(sort_by, kind="stable").reset_index(drop=True)
        atomic_write_parquet(self.root / f"{table}.parquet", frame)
        return frame

    def write_table(self, table: str, frame: pd.DataFrame) -> Path:
        return atomic_write_parquet(self.root / f"{table}.parquet", frame)

    # -- failures --------------------------------------------------------------
    @property
    def failures_path(self) -> Path:
        return self.root / FAILURES_FILE

    def record_failure(self, **fields: Any) -> None:
        """Append one failure as a JSON line (flushed to disk before returning).

        A line cut short by a killed run never swallows this one (`append_line`).
        """
        line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **fields}, default=str)
        try:
            append_line(self.failures_path, line)
        except OSError as err:
            if is_disk_full(err) and not isinstance(err, DiskFullError):
                # A line cut short here is skipped by `read_failures`; the run stops cleanly.
                raise DiskFullError(self.failures_path, err) from err
            raise

    def read_failures(self) -> list[dict[str, Any]]:
        """Failures recorded so far; a line cut short by a killed process is skipped."""
        if not self.failures_path.is_file():
            return []
        # Lines are ASCII (json.dumps escapes the rest); "replace" only matters for a cut line.
        text = self.failures_path.read_bytes().decode("utf-8", errors="replace")
        return list(_parse_json_lines(text.split("\n"), self.failures_path))


def _clip_relpath(adapter: str, split: str, seed: int, sample_id: str, suffix: str) -> Path:
    """``<adapter>/<split>/seed-<k>/<sample><suffix>``, every name checked to stay one component."""
    names = [check_path_component(adapter, "adapter label"), check_path_component(split, "split label")]
    return Path(*names, f"seed-{int(seed)}", check_path_component(sample_id, "sample id") + suffix)


def _parse_json_lines(lines: Iterable[str], source: Path) -> Iterable[dict[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            # Expected after a kill mid-append; said, so that a lost record is not a surprise.
            logger.warning("%s line %d is not valid JSON (%s), e.g. cut short by a killed run; skipped", source, number, err)
            continue
        if not isinstance(record, dict):
            logger.warning("%s line %d is not a JSON object (%r); skipped", source, number, line[:80])
            continue
        yield record

"""`hcvg run --check-reproduce RUN_DIR`: redo a few cells of a finished run and compare.

A run claims its numbers follow from its config. This check takes that at its word:
it picks a few samples per split of a finished run (the same ones every time: the
lowest by ``sha256(split, sample id)``), rebuilds the run's matrix from
``run_config.json`` in a scratch directory, and

- re-scores their stored videos from scratch (features recomputed, nothing reused
  from the run's feature cache), or with ``regenerate`` also generates them again
  with the run's adapters, seeds and batch size, and compares the decoded frames;
- compares every sample-level score (``scores.parquet``), each metric's extractor
  key (which names the backbone weights it used) and the weight digests recorded in
  ``weights``, and reports every difference.

On one machine with the same packages, CPU runs give bit-identical results, so the
default tolerance is 0. Distribution metrics (FID, FVD) are properties of the whole
split, not of a few samples, so they are not compared; the report says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.run_store import CONFIG_FILE, RunStore
from hcvg.atomic import atomic_write_text
from hcvg.errors import UserError

REPORT_FILE = "reproduce_report.json"


class NotAFinishedRunError(UserError):
    """The directory holds no finished run to check."""


@dataclass
class ReproduceReport:
    """What the check compared and what differed.

    Attributes:
        run_dir: The run checked.
        work_dir: The scratch run directory holding the redone cells.
        samples: Per split, the sample ids redone.
        regenerated: Whether the videos were generated again (else only re-scored).
        compared_scores: How many score cells were compared.
        score_differences: One row per cell whose value or status differs, or that
            only one side has (``original`` / ``again`` None).
        video_differences: One entry per regenerated clip whose frames differ.
        key_differences: Metrics whose extractor key (backbone weights) differs.
        weight_differences: Assets whose recorded sha256 differs.
        not_compared: What was left out, and why.
        failures: Failure records of the scratch run (why a cell could not be redone).
    """

    run_dir: str
    work_dir: str
    samples: dict[str, list[str]]
    regenerated: bool
    tolerance: float
    compared_scores: int = 0
    score_differences: list[dict[str, Any]] = field(default_factory=list)
    video_differences: list[dict[str, Any]] = field(default_factory=list)
    key_differences: list[dict[str, Any]] = field(default_factory=list)
    weight_differences: list[dict[str, Any]] = field(default_factory=list)
    not_compared: list[str] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return not (self.score_differences or self.video_differences or self.key_differences or self.weight_differences)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "reproduced": self.reproduced}


def chosen_samples(scores: pd.DataFrame, per_split: int) -> dict[str, list[str]]:
    """The ``per_split`` scored samples of each split with the lowest sha256(split, id)."""
    chosen = {}
    for split, ids in scores.groupby("split")["sample_id"]:
        ranked = sorted(set(ids), key=lambda i: hashlib.sha256(f"{split}\0{i}".encode()).hexdigest())
        chosen[str(split)] = ranked[:per_split]
    return chosen


def check_reproduce(
    run_dir: str | Path,
    per_split: int = 3,
    regenerate: bool = False,
    tolerance: float = 0.0,
    work_dir: str | Path | None = None,
    progress: bool = True,
) -> ReproduceReport:
    """Redo a few cells of a finished run in a scratch directory and compare them.

    Args:
        run_dir: A finished run (``run_config.json`` and ``scores.parquet``).
        per_split: Samples redone per split.
        regenerate: Generate the videos again too (needs the adapters' weights);
            otherwise the stored videos are re-scored.
        tolerance: Largest absolute score difference counted as equal.
        work_dir: Scratch directory (default: a new temporary one); must not hold a run.
        progress: Show the runner's progress bar.

    Raises:
        NotAFinishedRunError: ``run_dir`` has no config or no scores.
    """
    from benchmark.run_matrix import run_config_from_dict
    from benchmark.runner import SCORE_KEYS, Runner
    from benchmark.sharding import Shard

    run_dir = Path(run_dir)
    store = RunStore(run_dir)
    if not store.has_config() or not (run_dir / "scores.parquet").is_file():
        raise NotAFinishedRunError(
            f"{run_dir} holds no finished run (it needs {CONFIG_FILE} and scores.parquet); finish it with "
            f"`hcvg run --resume --out {run_dir} ...` first"
        )
    stored = store.read_config()
    original = pd.read_parquet(run_dir / "scores.parquet")
    if original.empty:
        raise NotAFinishedRunError(f"{run_dir}/scores.parquet holds no scores to compare")
    samples = chosen_samples(original, per_split)
    work = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="hcvg-reproduce-"))
    batch_size = (stored.get("runner") or {}).get("batch_size")
    matrix = {k: v for k, v in stored["matrix"].items()}
    config = run_config_from_dict({**matrix, "out": str(work), **({"batch_size": batch_size} if batch_size else {})})
    shard_info = stored.get("shard")
    shard = Shard(int(shard_info["index"]), int(shard_info["count"])) if shard_info else None
    report = ReproduceReport(str(run_dir), str(work), samples, regenerate, tolerance)
    if batch_size is None:
        report.not_compared.append("the run config does not record its batch size (an older run): the default was used")
    if regenerate:
        runner = Runner(config, progress=progress, stage="all", shard=shard, samples=samples)
    else:
        _copy_inputs(store, RunStore(work), stored, samples)
        runner = Runner(config, resume=True, progress=progress, stage="score", shard=shard, samples=samples)
    result = runner.run()
    report.failures = result.new_failures
    again = result.scores
    chosen = pd.DataFrame([(s, i) for s, ids in samples.items() for i in ids], columns=["split", "sample_id"])
    before = original.merge(chosen, on=["split", "sample_id"], how="inner")
    report.compared_scores, report.score_differences = _score_differences(before, again, SCORE_KEYS, tolerance)
    if regenerate:
        report.video_differences = _video_differences(store, RunStore(work), stored, samples)
    redone = RunStore(work).read_config()
    report.key_differences = _key_differences(stored.get("metrics", {}), redone.get("metrics", {}))
    report.weight_differences = _weight_differences(stored.get("weights", {}), redone.get("weights", {}))
    distribution = [name for name, entry in stored.get("metrics", {}).items() if entry.get("level") == "distribution"]
    if distribution:
        report.not_compared.append(f"distribution metrics {', '.join(sorted(distribution))}: a property of the whole split")
    atomic_write_text(work / REPORT_FILE, json.dumps(_jsonable(report.to_dict()), indent=1) + "\n")
    return report


def _copy_inputs(source: RunStore, target: RunStore, stored: dict[str, Any], samples: dict[str, list[str]]) -> None:
    """The run config and the chosen samples' videos (hard links where possible)."""
    target.root.mkdir(parents=True, exist_ok=True)
    # The scratch run records its own weights and metric keys, to compare with these.
    config = {k: v for k, v in stored.items() if k not in ("selection", "weights", "metrics")}
    target.write_config(config)
    for spec in stored["matrix"]["adapters"]:
        for split in samples:
            for seed in stored["matrix"]["seeds"]:
                for sample_id in samples[split]:
                    src = source.video_path(spec["label"], split, seed, sample_id)
                    if not src.is_file():
                        continue  # the scratch run records it as that sample's failure
                    dst = target.video_path(spec["label"], split, seed, sample_id)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        os.link(src, dst)
                    except OSError:  # another file system: a copy reads the same bytes
                        shutil.copy2(src, dst)


def _score_differences(before: pd.DataFrame, again: pd.DataFrame, keys: list[str], tolerance: float) -> tuple[int, list[dict]]:
    if again.empty:
        again = pd.DataFrame(columns=[*keys, "value", "status"])
    merged = before[[*keys, "value", "status"]].merge(
        again[[*keys, "value", "status"]], on=keys, how="outer", suffixes=("_original", "_again"), indicator=True
    )
    differences = []
    for row in merged.to_dict("records"):
        where = {k: row[k] for k in keys}
        a, b = row["value_original"], row["value_again"]
        if row["_merge"] != "both":
            missing_side = "again" if row["_merge"] == "left_only" else "original"
            differences.append({**where, "original": _num(a), "again": _num(b), "reason": f"no {missing_side} score"})
            continue
        same_status = row["status_original"] == row["status_again"]
        both_nan = pd.isna(a) and pd.isna(b)
        close = both_nan or (not pd.isna(a) and not pd.isna(b) and abs(float(a) - float(b)) <= tolerance)
        if not (same_status and close):
            diff = None if both_nan or pd.isna(a) or pd.isna(b) else abs(float(a) - float(b))
            differences.append({**where, "original": _num(a), "again": _num(b), "abs_diff": diff,
                                "status_original": row["status_original"], "status_again": row["status_again"]})
    return int((merged["_merge"] == "both").sum()), differences


def _video_differences(source: RunStore, target: RunStore, stored: dict[str, Any], samples: dict[str, list[str]]) -> list[dict]:
    from hcvg.video_io import read_video

    differences = []
    for spec in stored["matrix"]["adapters"]:
        for split in samples:
            for seed in stored["matrix"]["seeds"]:
                for sample_id in samples[split]:
                    where = {"adapter": spec["label"], "split": split, "seed": seed, "sample_id": sample_id}
                    a, b = source.video_path(*where.values()), target.video_path(*where.values())
                    if not (a.is_file() and b.is_file()):
                        differences.append({**where, "reason": f"video missing: {'original' if not a.is_file() else 'again'}"})
                        continue
                    first, second = read_video(a), read_video(b)
                    if first.shape != second.shape:
                        differences.append({**where, "reason": f"shape {first.shape} != {second.shape}"})
                    elif not np.array_equal(first, second):
                        diff = np.abs(first.astype(np.int16) - second.astype(np.int16))
                        differences.append({**where, "reason": "frames differ", "max_pixel_diff": int(diff.max()),
                                            "pixels_differing": int((diff > 0).sum())})
    return differences


def _key_differences(before: dict[str, Any], after: dict[str, Any]) -> list[dict]:
    out = []
    for name, entry in sorted(before.items()):
        if name in after and entry.get("key") != after[name].get("key"):
            out.append({"metric": name, "original": entry.get("key"), "again": after[name].get("key")})
    return out


def _weight_differences(before: dict[str, Any], after: dict[str, Any]) -> list[dict]:
    out = []
    for name in sorted(set(before) & set(after)):
        if before[name].get("sha256") != after[name].get("sha256") or before[name].get("revision") != after[name].get("revision"):
            out.append({"asset": name, "original": before[name], "again": after[name]})
    return out


def _num(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, float) and value != value:
        return None
    return value


def format_report(report: ReproduceReport, shown: int = 10) -> str:
    """A few lines for the console: what was redone, what differed, where the full report is."""
    lines = [
        f"Reproduce check of {report.run_dir}: {'regenerated and re-scored' if report.regenerated else 're-scored'} "
        f"{sum(len(v) for v in report.samples.values())} samples "
        f"({', '.join(f'{s}: {len(v)}' for s, v in report.samples.items())})",
        f"  score cells compared: {report.compared_scores}; differing: {len(report.score_differences)} "
        f"(tolerance {report.tolerance:g})",
    ]
    for diff in report.score_differences[:shown]:
        where = f"{diff['adapter']} / {diff['split']} / seed {diff['seed']} / {diff['sample_id']} / {diff['metric']} / {diff['scope']}"
        detail = diff.get("reason") or f"|diff| {diff.get('abs_diff')}"
        lines.append(f"    - {where}: {diff['original']} then {diff['again']} ({detail})")
    if report.regenerated:
        lines.append(f"  videos differing: {len(report.video_differences)}")
        for diff in report.video_differences[:shown]:
            lines.append(f"    - {diff['adapter']} / {diff['split']} / seed {diff['seed']} / {diff['sample_id']}: {diff['reason']}")
    for diff in report.key_differences:
        lines.append(f"  metric {diff['metric']}: backbone key {diff['original']} then {diff['again']}")
    for diff in report.weight_differences:
        lines.append(f"  weights {diff['asset']}: sha256 {diff['original'].get('sha256')} then {diff['again'].get('sha256')}")
    for note in report.not_compared:
        lines.append(f"  not compared: {note}")
    if report.failures:
        lines.append(f"  the scratch run recorded {len(report.failures)} failures (see {report.work_dir}/failures.jsonl)")
    lines.append(f"  {'REPRODUCED' if report.reproduced else 'NOT REPRODUCED'}; full report: {Path(report.work_dir) / REPORT_FILE}")
    return "\n".join(lines)

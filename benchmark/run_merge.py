"""`hcvg merge`: combine the run directories of ``--shard i/n`` jobs into one, as one run would have made it.

Checks, before anything is written:

- the runs' matrices agree (adapters with their options, splits, metrics with their
  options and ledger keys, scopes, seeds, num_frames, size, bootstrap settings);
- they ran the same code: package versions, Python and git commit (refused unless
  ``allow_version_mismatch``; the differences are then recorded in the merged config);
- they are shards of one count, each index once.

Then it reports **missing cells** (a sample of the split that no given run finished,
including the samples of shards not given) and **duplicated cells** (two runs scored
the same cell: one copy is kept if their values are equal, otherwise the merge stops,
naming the cell). Scores, ledger, timings and failures are combined; videos (and
previews) and the feature cache are hard-linked into the merged directory, or copied
where a link cannot be made (another file system: counted in the report), or left out
with ``videos=False``. Distribution metrics (FID, FVD) are recomputed from the runs'
sum states (``distribution_states/``, n, Σx, ΣxxT per side, which add), the way a
single run reduces them; the summary and leaderboard are then written by the same
functions as a run's. Sums added in another order agree with one run's to rounding
(~1e-12 relative), not bit for bit; every per-sample score is copied exactly.

The merged directory is a run directory: ``hcvg run --resume`` on it continues it.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from benchmark.run_store import CONFIG_FILE, RunExistsError, RunStore
from benchmark.runner import CLIP_KEYS, FINISHED, SCORE_KEYS, distribution_state_path
from benchmark.summary import summarize
from hcvg.atomic import atomic_write_bytes, atomic_write_parquet
from hcvg.errors import InputNotFoundError, UserError
from hcvg.registry import Registry
from leaderboards.markdown import render_leaderboard
from metrics.base import MetricUndefined

logger = logging.getLogger(__name__)

SHOWN = 5  # examples of missing or duplicated cells in a message
LINKED_TREES = ("videos", "previews", "features")  # the feature cache too, so a resume of the merge recomputes nothing


class MergeError(UserError, ValueError):
    """The runs cannot be merged (another matrix, a conflicting duplicated cell, an unfinished run)."""


class VersionMismatchError(MergeError):
    """The runs ran different package versions or git commits (``--allow-version-mismatch`` merges them anyway)."""


@dataclass
class MergeResult:
    """What a merge produced (also on disk in ``out``)."""

    out: Path
    scores: pd.DataFrame
    summary: pd.DataFrame
    leaderboard: str
    missing_cells: list[tuple] = field(default_factory=list)  # (adapter, split, seed, sample, metric, scope)
    unassigned_samples: dict[str, int] = field(default_factory=dict)  # split -> samples no given run owns
    missing_shards: list[int] = field(default_factory=list)
    duplicated_cells: int = 0  # cells two runs scored alike (one kept)
    version_differences: list[str] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)  # "linked" / "copied" / "already present"

    @property
    def complete(self) -> bool:
        """Every cell of every split's samples is finished in the merged run."""
        return not self.missing_cells and not any(self.unassigned_samples.values())


def merge_runs(
    runs: Iterable[str | Path],
    out: str | Path,
    allow_version_mismatch: bool = False,
    videos: bool = True,
    metrics: Registry | None = None,
) -> MergeResult:
    """Merge finished run directories (shards of one matrix) into ``out``.

    Args:
        runs: The run directories, each finalized (`hcvg run` wrote its scores.parquet).
        out: The merged run directory; must not hold a run yet.
        allow_version_mismatch: Merge runs of other package versions or commits (the
            differences are recorded in the merged run config).
        videos: Link or copy the stored videos and previews (False: scores only).
        metrics: Metric registry, to rebuild distribution metrics from their states
            (default: the built-in one).

    Returns:
        The merged tables and what was missing, duplicated or different.

    Raises:
        InputNotFoundError: A run directory holds no run, or was never finalized.
        RunExistsError: ``out`` already holds a run.
        MergeError: The matrices differ, two runs are the same shard, or a cell was scored
            differently by two runs.
        VersionMismatchError: Versions differ and ``allow_version_mismatch`` is not set.
    """
    if metrics is None:
        from metrics.registry import METRICS as metrics
    roots = [Path(r) for r in runs]
    if not roots:
        raise MergeError("hcvg merge: give at least one run directory")
    out = Path(out)
    if (out / CONFIG_FILE).is_file():
        raise RunExistsError(f"{out} already holds a run; merge into a new --out")
    if any(out.resolve() == r.resolve() for r in roots):
        raise MergeError(f"--out {out} is one of the runs being merged; choose a new directory")
    configs = [_read_config(root) for root in roots]
    _check_matrices(roots, configs)
    versions = version_differences(roots, configs)
    if versions and not allow_version_mismatch:
        raise VersionMismatchError(
            "the runs were made with different code:\n  " + "\n  ".join(versions)
            + "\nmerge only runs of one version, or pass --allow-version-mismatch to merge them anyway (recorded)"
        )
    shards = _check_shards(roots, configs)
    matrix = configs[0]["matrix"]
    keys = {name: configs[0]["metrics"].get(name, {}).get("key") for name in _metric_names(matrix)}

    tables = [_read_tables(root) for root in roots]
    scores, duplicated = _combine_scores(roots, [t["scores"] for t in tables])
    ledger = _dedupe(_concat([t["ledger"] for t in tables]), SCORE_KEYS)
    timing_keys = [*CLIP_KEYS, "stage"]
    timings = _dedupe(_concat([t["timings"] for t in tables]), timing_keys)
    current = _current(ledger, keys)
    missing, unassigned = _missing_cells(configs, matrix, current)

    store = RunStore(out)
    files = {"linked": 0, "copied": 0, "already present": 0}
    for root in roots:
        for tree in LINKED_TREES:
            if tree in ("videos", "previews") and not videos:
                continue
            _link_tree(root / tree, out / tree, files)
    distribution = _merged_distribution(roots, tables, matrix, current, metrics, out)
    for table, frame in (("scores", scores), ("ledger", ledger), ("timings", timings)):
        _append_frame(store, table, frame)
    scores = store.consolidate("scores", SCORE_KEYS, unique=SCORE_KEYS)
    store.consolidate("ledger", SCORE_KEYS, unique=SCORE_KEYS)
    timings = store.consolidate("timings", timing_keys, unique=timing_keys)
    scored = scores.merge(current[SCORE_KEYS], on=SCORE_KEYS, how="inner") if not scores.empty and not current.empty else scores.iloc[0:0]
    store.write_table("distribution", distribution)
    summary = summarize(scored, int(matrix.get("bootstrap_resamples", 1000)), float(matrix.get("confidence", 0.95)),
                        distribution=distribution)
    store.write_table("summary", summary)
    leaderboard = render_leaderboard(summary, timings=timings)
    atomic_write_bytes(out / "leaderboard.md", leaderboard.encode())
    _write_failures(roots, store)
    store.write_config(_merged_config(roots, configs, shards, versions))
    return MergeResult(
        out, scores, summary, leaderboard, missing_cells=missing, unassigned_samples=unassigned,
        missing_shards=shards["missing"], duplicated_cells=duplicated, version_differences=versions, files=files,
    )


# -- checks ----------------------------------------------------------------------------


def _read_config(root: Path) -> dict[str, Any]:
    path = root / CONFIG_FILE
    if not path.is_file():
        raise InputNotFoundError(f"{root} holds no run ({CONFIG_FILE} not found); give the --out of an `hcvg run`")
    return json.loads(path.read_text())


def _check_matrices(roots: list[Path], configs: list[dict[str, Any]]) -> None:
    """Refuse runs whose matrices or metric keys differ, naming each key and both values."""
    first, reference = roots[0], configs[0]
    differences = []
    for root, config in zip(roots[1:], configs[1:]):
        a, b = reference.get("matrix", {}), config.get("matrix", {})
        for key in sorted(set(a) | set(b)):
            if _canonical(a.get(key)) != _canonical(b.get(key)):
                differences.append(f"matrix {key}: {first}: {_short(a.get(key))} vs {root}: {_short(b.get(key))}")
        for name in _metric_names(a):
            key_a = reference.get("metrics", {}).get(name, {}).get("key")
            key_b = config.get("metrics", {}).get(name, {}).get("key")
            if key_a != key_b:
                differences.append(
                    f"metric {name} key (its config and its extractors' weights): {first}: {key_a} vs {root}: {key_b}"
                )
    if differences:
        raise MergeError(
            "the runs are not shards of one matrix:\n  " + "\n  ".join(differences)
            + "\nmerge runs made with the same matrix (the same flags or --config), differing only in --shard"
        )


def version_differences(roots: list[Path], configs: list[dict[str, Any]]) -> list[str]:
    """Package versions, Python and git commit that differ from the first run's, one line each."""
    def described(config: dict[str, Any]) -> dict[str, Any]:
        env = config.get("environment", {})
        git = env.get("git") or {}
        return {"python": env.get("python"), "git commit": git.get("commit"), "git dirty": git.get("dirty"),
                **{f"package {name}": version for name, version in (env.get("packages") or {}).items()}}

    reference = described(configs[0])
    lines = []
    for root, config in zip(roots[1:], configs[1:]):
        other = described(config)
        for key in sorted(set(reference) | set(other)):
            if reference.get(key) != other.get(key):
                lines.append(f"{key}: {roots[0]}: {reference.get(key)} vs {root}: {other.get(key)}")
    return lines


def _check_shards(roots: list[Path], configs: list[dict[str, Any]]) -> dict[str, Any]:
    shards = [config.get("shard") or {"index": 0, "count": 1} for config in configs]
    counts = sorted({s["count"] for s in shards})
    if len(counts) > 1:
        listed = ", ".join(f"{r}: {s['index']}/{s['count']}" for r, s in zip(roots, shards))
        raise MergeError(f"the runs are shards of different counts ({listed}); merge the shards of one --shard I/N")
    seen: dict[int, Path] = {}
    for root, shard in zip(roots, shards):
        if shard["index"] in seen:
            raise MergeError(
                f"{seen[shard['index']]} and {root} are both shard {shard['index']}/{shard['count']}; give each shard once"
            )
        seen[shard["index"]] = root
    return {"count": counts[0], "indices": sorted(seen), "missing": sorted(set(range(counts[0])) - set(seen))}


# -- tables ----------------------------------------------------------------------------


def _read_tables(root: Path) -> dict[str, pd.DataFrame]:
    path = root / "scores.parquet"
    if not path.is_file():
        raise InputNotFoundError(
            f"{root} has no scores.parquet: the run was not finalized (killed, or only --stage generate ran); "
            f"finish it with `hcvg run --resume --out {root} ...` (or --stage score)"
        )
    read = {}
    for table in ("scores", "ledger", "timings", "distribution"):
        file = root / f"{table}.parquet"
        read[table] = pd.read_parquet(file) if file.is_file() else pd.DataFrame()
    return read


def _combine_scores(roots: list[Path], frames: list[pd.DataFrame]) -> tuple[pd.DataFrame, int]:
    """All runs' score rows, one per cell; a cell two runs scored is kept once if equal.

    Raises:
        MergeError: Naming the cells that two runs scored differently.
    """
    tagged = [f.assign(_run=i) for i, f in enumerate(frames) if not f.empty]
    if not tagged:
        return pd.DataFrame(), 0
    combined = pd.concat(tagged, ignore_index=True)
    repeated = combined[combined.duplicated(SCORE_KEYS, keep=False)]
    conflicts = []
    for cell, group in repeated.groupby(SCORE_KEYS, sort=True):
        first = group.iloc[0]
        for _, row in group.iloc[1:].iterrows():
            if row["status"] != first["status"] or not _same_value(row["value"], first["value"]):
                conflicts.append(
                    f"{dict(zip(SCORE_KEYS, cell))}: {roots[int(first['_run'])]}: {first['value']} ({first['status']}) "
                    f"vs {roots[int(row['_run'])]}: {row['value']} ({row['status']})"
                )
    if conflicts:
        raise MergeError(
            f"{len(conflicts)} cell(s) were scored differently by two runs, e.g.:\n  " + "\n  ".join(conflicts[:SHOWN])
            + "\nthe runs overlap (the same shard twice, or a run that was not a shard); merge disjoint shards"
        )
    duplicated = int(combined.duplicated(SCORE_KEYS).sum())
    return combined.drop_duplicates(SCORE_KEYS, keep="first").drop(columns="_run"), duplicated


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames one after another; empty ones (a shard that owned no sample) add nothing."""
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _dedupe(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame if frame.empty else frame.drop_duplicates(keys, keep="first").reset_index(drop=True)


def _current(ledger: pd.DataFrame, keys: dict[str, str | None]) -> pd.DataFrame:
    """Finished ledger rows under each metric's key in the matrix (as a run's finalize keeps them)."""
    if ledger.empty:
        return ledger
    current = ledger["metric_key"] == ledger["metric"].map(keys)
    return ledger[current & ledger["status"].isin(FINISHED)]


def _missing_cells(
    configs: list[dict[str, Any]], matrix: dict[str, Any], current: pd.DataFrame
) -> tuple[list[tuple], dict[str, int]]:
    """Cells of the runs' samples that no run finished, and per split the samples no run owns."""
    owned: dict[str, set[str]] = {}
    sizes: dict[str, int] = {}
    for config in configs:
        for split, selection in (config.get("selection") or {}).items():
            owned.setdefault(split, set()).update(selection["samples"])
            sizes[split] = int(selection["split_size"])
    done = set() if current.empty else {
        (a, s, int(k), i, m, sc) for a, s, k, i, m, sc in current[SCORE_KEYS].itertuples(index=False)
    }
    missing = [
        (adapter["label"], split["label"], int(seed), sample, metric, scope)
        for adapter in matrix.get("adapters", [])
        for split in matrix.get("splits", [])
        for seed in matrix.get("seeds", [])
        for sample in sorted(owned.get(split["label"], ()))
        for metric in _metric_names(matrix)
        for scope in matrix.get("scopes", [])
        if (adapter["label"], split["label"], int(seed), sample, metric, scope) not in done
    ]
    unassigned = {split: sizes[split] - len(ids) for split, ids in owned.items()}
    return missing, unassigned


# -- distribution metrics --------------------------------------------------------------


def _merged_distribution(
    roots: list[Path], tables: list[dict[str, pd.DataFrame]], matrix: dict[str, Any], current: pd.DataFrame,
    metrics: Registry, out: Path,
) -> pd.DataFrame:
    """Distribution rows recomputed from the runs' added sum states; the merged states are saved too.

    Raises:
        MergeError: A run's row has no saved state, or its metric keeps no sum state.
    """
    frames = [t["distribution"].assign(_run=i) for i, t in enumerate(tables) if not t["distribution"].empty]
    if not frames:
        return pd.DataFrame()
    rows = pd.concat(frames, ignore_index=True)
    finished = set() if current.empty else set(current["metric"].unique())
    rows = rows[rows["metric"].isin(finished)]
    options = {m["name"]: m.get("options") or {} for m in matrix.get("metrics", []) if isinstance(m, dict)}
    merged_rows = []
    for (metric_name, adapter, split, seed, scope), group in rows.groupby(["metric", "adapter", "split", "seed", "scope"], sort=True):
        metric = metrics.create(metric_name, **options.get(metric_name, {}))
        if not callable(getattr(metric, "merge", None)) or not callable(getattr(metric, "load_state", None)):
            raise MergeError(f"distribution metric {metric_name!r} keeps no sum state (no merge/load_state); it cannot be merged from shards")
        for run in group["_run"]:
            path = distribution_state_path(roots[int(run)], metric_name, adapter, split, int(seed), scope)
            if not path.is_file():
                raise MergeError(
                    f"{roots[int(run)]} has a {metric_name} value for {adapter}/{split}/seed {seed}/{scope} but no sum state "
                    f"({path.relative_to(roots[int(run)])}); finalize it again with `hcvg run --resume --out {roots[int(run)]} ...`"
                )
            part = metrics.create(metric_name, **options.get(metric_name, {}))
            with np.load(path, allow_pickle=False) as saved:
                part.load_state(dict(saved))
            try:
                metric.merge(part)
            except ValueError as err:  # e.g. one clip in two runs' sums: it cannot be taken out again
                raise MergeError(
                    f"{metric_name} of {adapter}/{split}/seed {seed}/{scope}: {err} ({roots[int(run)]} overlaps an "
                    "earlier run); merge disjoint shards"
                ) from err
        notes = [n for n in group["note"] if isinstance(n, str) and n]
        row = {"adapter": adapter, "split": split, "seed": int(seed), "metric": metric_name, "scope": scope,
               "value": math.nan, "status": "undefined", "note": "; ".join(dict.fromkeys(notes)),
               "higher_is_better": bool(group["higher_is_better"].iloc[0]), "n": int(group["n"].sum())}
        try:
            row.update(value=float(metric.compute()), status="ok")
        except MetricUndefined as err:
            row.update(note=str(err))
        except Exception as err:  # recorded in the row, as a run records it
            row.update(status="error", note=f"{type(err).__name__}: {err}")
        buffer = io.BytesIO()
        np.savez(buffer, **metric.state())
        atomic_write_bytes(distribution_state_path(out, metric_name, adapter, split, int(seed), scope), buffer.getvalue())
        merged_rows.append(row)
    columns = [c for c in rows.columns if c != "_run"]
    return pd.DataFrame(merged_rows)[columns] if merged_rows else pd.DataFrame(columns=columns)


# -- files -----------------------------------------------------------------------------


def _link_tree(source: Path, target: Path, counts: dict[str, int]) -> None:
    """Hard-link every file of ``source`` under ``target``; copy where linking is impossible (counted)."""
    if not source.is_dir():
        return
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        destination = target / path.relative_to(source)
        if destination.exists():
            counts["already present"] += 1  # a duplicated cell's clip, or a shared ground-truth feature
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, destination)
            counts["linked"] += 1
        except OSError:  # another file system, or links not allowed: a copy holds the same bytes
            shutil.copy2(path, destination)
            counts["copied"] += 1


def _append_frame(store: RunStore, table: str, frame: pd.DataFrame) -> None:
    """``frame`` as one part of ``table``, as `RunStore.append_rows` names them (no per-row dicts: millions of rows)."""
    if not frame.empty:
        atomic_write_parquet(store.root / "parts" / table / f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.parquet",
                             frame.reset_index(drop=True))


def _write_failures(roots: list[Path], store: RunStore) -> None:
    for root in roots:
        for failure in RunStore(root).read_failures():
            store.record_failure(**{**failure, "run": str(root)})


def _merged_config(roots: list[Path], configs: list[dict[str, Any]], shards: dict[str, Any], versions: list[str]) -> dict[str, Any]:
    merged = dict(configs[0])
    merged["adapters"] = {k: v for config in configs for k, v in (config.get("adapters") or {}).items()}
    merged["splits"] = {k: v for config in configs for k, v in (config.get("splits") or {}).items()}
    merged["features"] = {k: v for config in configs for k, v in (config.get("features") or {}).items()}
    selection: dict[str, dict[str, Any]] = {}
    for config in configs:
        for split, chosen in (config.get("selection") or {}).items():
            entry = selection.setdefault(split, {"samples": [], "split_size": chosen["split_size"]})
            entry["samples"] = sorted(set(entry["samples"]) | set(chosen["samples"]))
    merged["selection"] = selection
    merged["shard"] = None if not shards["missing"] else {"merged_indices": shards["indices"], "count": shards["count"]}
    merged["stages"] = list(dict.fromkeys(stage for config in configs for stage in config.get("stages", [])))
    merged["merged_from"] = [
        {"run": str(root), "shard": config.get("shard"), "environment": config.get("environment")}
        for root, config in zip(roots, configs)
    ]
    merged["version_differences"] = versions
    return merged


# -- helpers ---------------------------------------------------------------------------


def _metric_names(matrix: dict[str, Any]) -> list[str]:
    return [m["name"] if isinstance(m, dict) else str(m) for m in matrix.get("metrics", [])]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _short(value: Any, limit: int = 80) -> str:
    text = _canonical(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b

"""The clip cache: a dataset split's sampled clips, decoded and cropped once.

Decoding 1080p source videos is the slow part of using EK-100 or Ego4D, so
`prepare_cache` does it once (in parallel worker processes, resumably) and every run
reads `CachedSplit`. Layout::

    CACHE/
      cache.json               what was prepared: dataset, split, sampling, size, selection
      clips/<sample_id>.mkv    16 frames, 256², FFV1 lossless; frame 0 = context
      index.parquet            one row per prepared clip (see `INDEX_COLUMNS`)
      parts/index/*.parquet    rows of a run still in progress or killed (merged on read)
      report.jsonl             samples skipped, one JSON object each, with the reason

Clips are written atomically, and index rows in atomically written batches, so a killed
preparation resumes where it stopped (a clip whose row was lost is redone).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from hcvg.frames import resize_center_crop
from benchmark.datasets.segments import CLIP_FRAMES, SAMPLING_MODES, Segment, SegmentError, sample_frame_indices
from hcvg.atomic import atomic_write_bytes, atomic_write_parquet
from hcvg.errors import InputNotFoundError, InvalidInputError
from hcvg.sample import Sample
from hcvg.splits import Split
from hcvg.video_io import VideoReadError, read_video, write_video_lossless

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST_FILE = "cache.json"
INDEX_FILE = "index.parquet"
REPORT_FILE = "report.jsonl"
INDEX_COLUMNS = (
    "sample_id", "order", "dataset", "prompt", "expanded_prompt", "participant_id", "video_id",
    "start_frame", "stop_frame", "frame_indices", "source", "source_kind", "sampling", "fps", "clip", "extra",
)  # fmt: skip
_FLUSH_EVERY = 64  # index rows per part file
# Manifest fields that must agree when a preparation resumes into an existing cache.
_IDENTITY = ("dataset", "split", "sampling", "size", "num_frames", "allow_repeats")


@dataclass(frozen=True)
class ClipSpec:
    """How clips are cut: the sampling mode, output side and frame count."""

    sampling: str = "even"  # paper §4; "end-8fps" = HANDI's released code
    size: int = 256
    num_frames: int = CLIP_FRAMES
    allow_repeats: bool = False  # segments under num_frames frames are skipped, not padded

    def __post_init__(self) -> None:
        if self.sampling not in SAMPLING_MODES:
            raise InvalidInputError(f"unknown sampling {self.sampling!r}; choose one of {SAMPLING_MODES}")


@dataclass
class PrepareResult:
    """What one `prepare_cache` call did."""

    root: Path
    prepared: int
    reused: int
    skipped: list[dict]
    seconds: float

    @property
    def clips_per_second(self) -> float:
        return self.prepared / self.seconds if self.seconds > 0 else float("nan")


def clip_file_name(sample_id: str) -> str:
    """``clips/<sample_id>.mkv`` with path-unsafe characters replaced."""
    return f"clips/{re.sub(r'[^A-Za-z0-9._-]', '_', sample_id)}.mkv"


def prepare_one(segment: Segment, order: int, spec: ClipSpec, root: str) -> dict[str, Any]:
    """Cut, crop and store one segment's clip (runs in a worker process).

    Returns:
        The clip's index row, or ``{"sample_id", "reason", "error", ...}`` if skipped.
    """
    from benchmark.datasets.segment_reader import read_segment_frames

    try:
        numbers = sample_frame_indices(segment, spec.sampling, spec.num_frames, spec.allow_repeats)
        frames = read_segment_frames(segment, numbers)
        clip = resize_center_crop(frames, spec.size)
        relative = clip_file_name(segment.sample_id)
        write_video_lossless(Path(root) / relative, np.ascontiguousarray(clip))
    except SegmentError as err:
        return _skip(segment, err.reason, str(err))
    except Exception as err:  # noqa: BLE001 - one bad sample must not stop the others
        logger.exception("unexpected error preparing %s", segment.sample_id)
        return _skip(segment, "error", f"{type(err).__name__}: {err}")
    return {
        "sample_id": segment.sample_id,
        "order": order,
        "dataset": segment.dataset,
        "prompt": segment.prompt,
        "expanded_prompt": segment.expanded_prompt,
        "participant_id": segment.participant_id,
        "video_id": segment.video_id,
        "start_frame": segment.start_frame,
        "stop_frame": segment.stop_frame,
        "frame_indices": [int(n) for n in numbers],
        "source": segment.source,
        "source_kind": segment.source_kind,
        "sampling": spec.sampling,
        "fps": segment.fps,
        "clip": relative,
        "extra": json.dumps(segment.extra, default=str, sort_keys=True),
    }


def _skip(segment: Segment, reason: str, error: str) -> dict[str, Any]:
    return {
        "sample_id": segment.sample_id,
        "reason": reason,
        "error": error,
        "video_id": segment.video_id,
        "start_frame": segment.start_frame,
        "stop_frame": segment.stop_frame,
        "source": segment.source,
    }


def read_index(root: str | Path) -> pd.DataFrame:
    """Index rows of a cache: ``index.parquet`` plus any parts of an unfinished run."""
    root = Path(root)
    frames = []
    if (root / INDEX_FILE).is_file():
        frames.append(pd.read_parquet(root / INDEX_FILE))
    frames += [pd.read_parquet(p) for p in sorted((root / "parts" / "index").glob("*.parquet"))]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=list(INDEX_COLUMNS))
    index = pd.concat(frames, ignore_index=True).drop_duplicates("sample_id", keep="last")
    return index.sort_values("order", kind="stable").reset_index(drop=True)


def read_report(root: str | Path) -> list[dict]:
    """The skipped samples recorded in ``report.jsonl`` (empty if none)."""
    path = Path(root) / REPORT_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write_report(root: Path, entries: dict[str, dict]) -> None:
    text = "".join(json.dumps(e, default=str) + "\n" for e in entries.values())
    atomic_write_bytes(root / REPORT_FILE, text.encode("utf-8"))


def _check_manifest(root: Path, manifest: dict) -> None:
    path = root / MANIFEST_FILE
    if not path.is_file():
        return
    old = json.loads(path.read_text())
    diff = {k: (old.get(k), manifest[k]) for k in _IDENTITY if old.get(k) != manifest[k]}
    if diff:
        detail = ", ".join(f"{k}: cache has {a!r}, asked {b!r}" for k, (a, b) in diff.items())
        raise InvalidInputError(f"{path}: this cache was prepared differently ({detail}); use another --out or delete it")


def prepare_cache(
    segments: Iterable[Segment],
    out: str | Path,
    split: str,
    spec: ClipSpec = ClipSpec(),
    description: dict | None = None,
    workers: int | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> PrepareResult:
    """Write the clips of ``segments`` into the cache at ``out``; resumable.

    Samples already in the index are kept; samples skipped before are retried (their
    file may have been fixed). Bad samples are skipped and written to ``report.jsonl``
    with the reason (``missing-video``, ``corrupt-video``, ``past-end``,
    ``too-short``, ``bad-annotation``); the rest is prepared.

    Args:
        segments: The split's segments, in order.
        out: Cache directory (created if missing).
        split: Benchmark side, ``"train"`` or ``"test"``.
        spec: Sampling mode, size and frame count.
        description: How the segments were chosen (from the dataset loader).
        workers: Worker processes (default: CPU count, at most 8); 0 or 1 = in-process.
        limit: Only the first ``limit`` segments of the split.
        progress: Show a tqdm progress bar.

    Raises:
        ValueError: If ``out`` holds a cache prepared with other settings.
    """
    from tqdm.auto import tqdm

    root = Path(out)
    segments = list(segments)
    if limit is not None:
        segments = segments[:limit]
    ids = [s.sample_id for s in segments]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate sample ids in the segments to prepare")
    datasets = sorted({s.dataset for s in segments}) or [(description or {}).get("dataset", "unknown")]
    manifest = {
        "format_version": FORMAT_VERSION,
        "dataset": datasets[0] if len(datasets) == 1 else "+".join(datasets),
        "split": split,
        **dataclasses.asdict(spec),
        "segments_requested": len(segments),
        "limit": limit,
        "provenance": description or {},
        "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "versions": _versions(),
    }
    root.mkdir(parents=True, exist_ok=True)
    _check_manifest(root, manifest)
    atomic_write_bytes(root / MANIFEST_FILE, json.dumps(manifest, indent=2, default=str).encode())

    existing = read_index(root)
    # A row whose clip file was deleted since is redone.
    done = {i for i, clip in zip(existing["sample_id"], existing["clip"]) if (root / clip).is_file()}
    report = {e["sample_id"]: e for e in read_report(root) if e["sample_id"] not in done}
    todo = [(order, s) for order, s in enumerate(segments) if s.sample_id not in done]
    workers = min(os.cpu_count() or 1, 8) if workers is None else workers
    rows: list[dict] = []
    skipped: list[dict] = []
    prepared = 0
    started = time.perf_counter()
    bar = tqdm(total=len(todo), desc=f"preparing {manifest['dataset']}/{split}", unit="clip", disable=not progress)

    def collect(result: dict) -> None:
        nonlocal prepared
        report.pop(result["sample_id"], None)
        if "reason" in result:
            skipped.append(result)
            report[result["sample_id"]] = result
        else:
            rows.append(result)
            prepared += 1
        bar.update(1)
        if len(rows) >= _FLUSH_EVERY:
            _flush(root, rows, report)

    try:
        if workers <= 1:
            for order, segment in todo:
                collect(prepare_one(segment, order, spec, str(root)))
        else:
            # spawn: workers never inherit the parent's threads (tqdm, FFmpeg).
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                futures = [pool.submit(prepare_one, segment, order, spec, str(root)) for order, segment in todo]
                for future in as_completed(futures):
                    collect(future.result())
    finally:
        bar.close()
        _flush(root, rows, report)
    _consolidate(root)
    return PrepareResult(
        root=root, prepared=prepared, reused=len(segments) - len(todo), skipped=skipped, seconds=time.perf_counter() - started
    )


def _flush(root: Path, rows: list[dict], report: dict[str, dict]) -> None:
    if rows:
        name = f"{time.time_ns()}-{os.getpid()}.parquet"
        atomic_write_parquet(root / "parts" / "index" / name, pd.DataFrame(rows, columns=list(INDEX_COLUMNS)))
        rows.clear()
    _write_report(root, report)


def _consolidate(root: Path) -> None:
    parts = sorted((root / "parts" / "index").glob("*.parquet"))
    atomic_write_parquet(root / INDEX_FILE, read_index(root))
    for part in parts:
        part.unlink(missing_ok=True)


def _versions() -> dict[str, str]:
    import av
    import cv2

    return {"av": av.__version__, "numpy": np.__version__, "opencv": cv2.__version__, "pandas": pd.__version__}


class CachedSplit(Split):
    """A split read from a prepared clip cache.

    Args:
        root: The cache directory (`prepare_cache`, `hcvg data prepare`).
        name: The split's name in runs (default: ``<dataset>-<split>``).
        limit: Only the first ``limit`` samples, in split order.

    Raises:
        FileNotFoundError: If ``root`` holds no prepared cache.
    """

    def __init__(self, root: str | Path, name: str | None = None, limit: int | None = None):
        self.root = Path(root)
        manifest_path = self.root / MANIFEST_FILE
        if not manifest_path.is_file():
            raise InputNotFoundError(f"{self.root}: no clip cache here (no {MANIFEST_FILE}); prepare one with `hcvg data prepare`")
        self.manifest = json.loads(manifest_path.read_text())
        self.name = name or f"{self.manifest['dataset']}-{self.manifest['split']}"
        index = read_index(self.root)
        self.index = index.head(limit) if limit is not None else index
        self._rows = {row["sample_id"]: row for row in self.index.to_dict("records")}

    def ids(self) -> list[str]:
        return list(self._rows)

    def get(self, sample_id: str) -> Sample:
        """Load one clip: frame 0 is the context, frames 1..15 the target.

        Raises:
            KeyError: If the id is not in the cache.
            VideoReadError: If its clip file is missing or corrupt.
        """
        try:
            row = self._rows[sample_id]
        except KeyError:
            raise KeyError(f"split {self.name}: no sample {sample_id!r} in {self.root}") from None
        frames = read_video(self.root / row["clip"])
        if len(frames) != self.manifest["num_frames"]:
            raise VideoReadError(f"{self.root / row['clip']}: {len(frames)} frames, expected {self.manifest['num_frames']}")
        expanded = row.get("expanded_prompt")
        return Sample(
            id=sample_id,
            split=self.name,
            prompt=row["prompt"],
            context=frames[0],
            target=frames[1:],
            expanded_prompt=expanded if isinstance(expanded, str) else None,
            meta={
                "dataset": row["dataset"],
                "video_id": row["video_id"],
                "participant_id": row["participant_id"],
                "segment": [int(row["start_frame"]), int(row["stop_frame"])],
                "frame_indices": [int(n) for n in row["frame_indices"]],
                "source": row["source"],
                "sampling": row["sampling"],
                **json.loads(row["extra"] or "{}"),
            },
        )

    def report(self) -> list[dict]:
        """Samples skipped at preparation, with their reasons."""
        return read_report(self.root)

    def describe(self) -> dict:
        keys = ("dataset", "split", "sampling", "size", "num_frames", "allow_repeats", "segments_requested", "provenance")
        return {
            **super().describe(),
            "cache": str(self.root.resolve()),
            **{k: self.manifest.get(k) for k in keys},
            "num_skipped": len(self.report()),
        }


def prepare_command(dataset: str, split: str, cache: str | Path = "CACHE") -> str:
    """The `hcvg data prepare` command line that builds a cache for a registered split."""
    source_split = "validation" if (dataset, split) == ("ek100", "test") else split
    return f"hcvg data prepare --dataset {dataset} --root DATASET_ROOT --split {source_split} --out {cache}"


def open_cached_split(name: str, dataset: str, split: str, cache: Path | None = None, limit: int | None = None) -> CachedSplit:
    """Factory behind the registered real-data splits (``ek100-test:cache=DIR``).

    Raises:
        FileNotFoundError: If ``cache`` is missing or holds no prepared cache.
        ValueError: If the cache holds another dataset or split.
    """
    if cache is None or not (Path(cache) / MANIFEST_FILE).is_file():
        where = f"none was found at {cache}" if cache is not None else "no cache=DIR option was given"
        cache = cache or "CACHE"
        raise InputNotFoundError(
            f"split {name!r} reads a prepared clip cache, and {where}. Prepare it once with "
            f"`{prepare_command(dataset, split, cache)}`, then use '{name}:cache={cache}'"
        )
    split_obj = CachedSplit(cache, name=name, limit=limit)
    found = (split_obj.manifest.get("dataset"), split_obj.manifest.get("split"))
    if found != (dataset, split):
        raise InvalidInputError(
            f"split {name!r}: the cache at {cache} holds {found[0]}/{found[1]}, not {dataset}/{split}; "
            f"prepare the right one with `{prepare_command(dataset, split, cache)}`"
        )
    return split_obj

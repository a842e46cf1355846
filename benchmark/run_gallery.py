"""Gather a run's clips for the leaderboard gallery: context, GT, each adapter, flow.

The ground truth (context, target clip, motion area) comes from rebuilding each split
from the spec the run recorded: ``run_config.json`` → ``matrix`` → ``splits``, a list of
``{name, options, label}`` that `benchmark.splits.load_split` takes back as it is
(``hands=DIR`` included). Where that fails here (the dataset or its clip cache is not on
this machine), the gallery says so: `collect_gallery` returns the reason, logs it as a
warning, and the page shows "ground truth unavailable: <reason>". The `oracle`
adapter's clips are always shown as the oracle's, never in place of the ground truth.
Flow is `metrics.optical_flow.dense_flow`, the same as the motion metrics use.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.run_store import CONFIG_FILE
from benchmark.splits import Split, load_split
from hcvg.errors import UserError
from hcvg.video_io import VideoReadError, read_video
from leaderboards.site.gallery import GROUND_TRUTH, GallerySample
from metrics.optical_flow import dense_flow

logger = logging.getLogger(__name__)

# What rebuilding a split or loading one of its samples may meet on another machine: an
# absent dataset, cache or annotation folder, a missing extra, a corrupt or unreadable
# file. Anything else is a bug and propagates.
_UNAVAILABLE = (UserError, VideoReadError, OSError)


@dataclass(frozen=True)
class MissingGroundTruth:
    """Why the gallery shows no ground truth for a split, or for one of its samples.

    Attributes:
        split: Split label in the run.
        reason: What went wrong, e.g. the missing cache and the command that makes it.
        sample_id: The sample concerned; None when the whole split could not be rebuilt.
    """

    split: str
    reason: str
    sample_id: str | None = None

    def __str__(self) -> str:
        where = f"split {self.split}" + (f", sample {self.sample_id}" if self.sample_id else "")
        return f"ground truth unavailable for {where}: {self.reason}"


@dataclass
class RunGallery:
    """A run's gallery samples and what could not be shown.

    Attributes:
        samples: One `GallerySample` per shown sample.
        missing: Each split (or sample) whose ground truth could not be loaded here.
    """

    samples: list[GallerySample] = field(default_factory=list)
    missing: list[MissingGroundTruth] = field(default_factory=list)


def recorded_split_specs(run_dir: Path) -> dict[str, dict[str, Any]]:
    """The run's split specs by label, from ``run_config.json`` → ``matrix`` → ``splits`` ({} without one)."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        return {}
    matrix = json.loads(path.read_text(encoding="utf-8")).get("matrix") or {}
    return {spec["label"] or spec["name"]: spec for spec in matrix.get("splits", [])}


def rebuild_split(spec: dict[str, Any]) -> Split:
    """Build the split a run recorded, with the options it was run with.

    Args:
        spec: One entry of the run config's ``matrix.splits``: ``{"name", "options", "label"}``.

    Raises:
        UserError: If it cannot be built here (e.g. `InputNotFoundError` for an absent
            clip cache, naming the command that prepares it).
    """
    # JSON turned tuple options into lists; the split registry coerces them back.
    options = dict(spec.get("options") or {})
    return load_split(spec["name"], **options)


def _read(path: Path) -> np.ndarray | None:
    try:
        return read_video(path)
    except VideoReadError as err:
        logger.warning("gallery skips a clip: %s", err)
        return None


def _flow(clip: np.ndarray | None) -> np.ndarray | None:
    if clip is None or len(clip) < 2:
        return None
    return dense_flow(clip)


def _reason(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if not isinstance(err, UserError) else str(err)


def collect_gallery(run_dir: Path, max_samples: int = 3, seed: int | None = None) -> RunGallery:
    """The first ``max_samples`` samples of every split of a run, with all their clips.

    Args:
        run_dir: The run directory.
        max_samples: Samples per split.
        seed: Generation seed to show (default: the lowest stored).

    Returns:
        The samples (none when the run stored no videos) and, for every split or sample
        whose ground truth could not be loaded here, the reason (also logged as a warning).
    """
    gallery = RunGallery()
    videos_root = run_dir / "videos"
    if not videos_root.is_dir():
        return gallery
    specs = recorded_split_specs(run_dir)
    adapters = sorted(p.name for p in videos_root.iterdir() if p.is_dir())
    split_labels = sorted({p.name for a in adapters for p in (videos_root / a).iterdir() if p.is_dir()})
    for label in split_labels:
        seeds = sorted({int(p.name.removeprefix("seed-")) for a in adapters for p in (videos_root / a / label).glob("seed-*")})
        if not seeds:
            continue
        chosen = seed if seed is not None else seeds[0]
        ids = sorted({p.stem for a in adapters for p in (videos_root / a / label / f"seed-{chosen}").glob("*.mkv")})[:max_samples]
        split, reason = _rebuild(run_dir, label, specs.get(label))
        if reason:
            _report(gallery, MissingGroundTruth(label, reason))
        known = set(split.ids()) if split is not None else set()
        for sample_id in ids:
            sample = GallerySample(split=label, sample_id=sample_id, ground_truth_unavailable=reason)
            if split is not None:
                _load_ground_truth(gallery, sample, split, known)
            _add_clips(sample, videos_root, adapters, chosen)
            gallery.samples.append(sample)
    return gallery


def _rebuild(run_dir: Path, label: str, spec: dict[str, Any] | None) -> tuple[Split | None, str]:
    """The rebuilt split, or None and why not."""
    if spec is None:
        where = run_dir / CONFIG_FILE
        why = "is missing" if not where.is_file() else "records no split with this label in matrix.splits"
        return None, f"{where} {why}, so the split cannot be rebuilt"
    try:
        return rebuild_split(spec), ""
    except _UNAVAILABLE as err:
        return None, f"cannot rebuild {spec['name']} with options {spec.get('options') or {}} here: {_reason(err)}"


def _report(gallery: RunGallery, missing: MissingGroundTruth) -> None:
    logger.warning("gallery: %s", missing)
    gallery.missing.append(missing)


def _load_ground_truth(gallery: RunGallery, target: GallerySample, split: Split, known: set[str]) -> None:
    if target.sample_id not in known:
        reason = "the split as rebuilt here has no sample with this id"
    else:
        try:
            sample = split.get(target.sample_id)
        except _UNAVAILABLE as err:
            reason = f"cannot load it: {_reason(err)}"
        else:
            target.prompt, target.context, target.ground_truth = sample.prompt, sample.context, sample.target
            target.motion_area, target.ground_truth_source = sample.motion_area, "split"
            return
    target.ground_truth_unavailable = reason
    _report(gallery, MissingGroundTruth(target.split, reason, target.sample_id))


def _add_clips(sample: GallerySample, videos_root: Path, adapters: list[str], seed: int) -> None:
    """Every adapter's stored clip of the sample (the oracle's too, under its own name), and flows."""
    for adapter in adapters:
        path = videos_root / adapter / sample.split / f"seed-{seed}" / f"{sample.sample_id}.mkv"
        clip = _read(path) if path.is_file() else None
        if clip is not None:
            sample.videos[adapter] = clip
    flows = {GROUND_TRUTH: _flow(sample.ground_truth), **{name: _flow(clip) for name, clip in sample.videos.items()}}
    sample.flows = {name: flow for name, flow in flows.items() if flow is not None}

"""Gather a run's clips for the leaderboard gallery: context, GT, each adapter, flow.

The ground truth comes from rebuilding the split the run recorded (its
``run_config.json`` "splits" entry); failing that, from the `oracle` adapter's stored
videos (which are the GT clips); failing both, the gallery shows the generated clips
alone. Flow is `metrics.optical_flow.dense_flow`, the same as the motion metrics use.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.splits import Split, load_split
from hcvg.video_io import VideoReadError, read_video
from leaderboards.site.gallery import GROUND_TRUTH, GallerySample
from metrics.optical_flow import dense_flow

logger = logging.getLogger(__name__)

ORACLE = "oracle"  # the adapter whose clips are the ground truth


def rebuild_split(description: dict[str, Any] | None) -> Split | None:
    """Build the split a run recorded, or None when that is not possible here.

    Args:
        description: The run config's ``splits[label]`` entry (`Split.describe()`).
    """
    if not description or "name" not in description:
        return None
    # describe() writes the split's options beside provenance keys; JSON turned tuples into
    # lists, which the split registry coerces back to the annotated tuples.
    options = {k: v for k, v in description.items() if k not in ("name", "generator")}
    try:
        return load_split(description["name"], **options)
    except Exception as err:  # a real dataset may be absent on this machine: degrade, do not fail
        logger.info("cannot rebuild split %s for the gallery: %s", description["name"], err)
        return None


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


def collect_gallery(run_dir: Path, max_samples: int = 3, seed: int | None = None) -> list[GallerySample]:
    """The first ``max_samples`` samples of every split of a run, with all their clips.

    Args:
        run_dir: The run directory.
        max_samples: Samples per split.
        seed: Generation seed to show (default: the lowest stored).

    Returns:
        One `GallerySample` per shown sample (empty when the run stored no videos).
    """
    videos_root = run_dir / "videos"
    if not videos_root.is_dir():
        return []
    config_path = run_dir / "run_config.json"
    recorded = json.loads(config_path.read_text()).get("splits", {}) if config_path.is_file() else {}
    adapters = sorted(p.name for p in videos_root.iterdir() if p.is_dir())
    split_labels = sorted({p.name for a in adapters for p in (videos_root / a).iterdir() if p.is_dir()})
    samples = []
    for label in split_labels:
        seeds = sorted({int(p.name.removeprefix("seed-")) for a in adapters for p in (videos_root / a / label).glob("seed-*")})
        if not seeds:
            continue
        chosen = seed if seed is not None else seeds[0]
        ids = sorted({p.stem for a in adapters for p in (videos_root / a / label / f"seed-{chosen}").glob("*.mkv")})[:max_samples]
        split = rebuild_split(recorded.get(label))
        known = set(split.ids()) if split is not None else set()
        for sample_id in ids:
            samples.append(_collect_sample(videos_root, adapters, label, chosen, sample_id, split if sample_id in known else None))
    return samples


def _collect_sample(videos_root: Path, adapters: list[str], label: str, seed: int, sample_id: str, split: Split | None) -> GallerySample:
    gallery = GallerySample(split=label, sample_id=sample_id)
    if split is not None:
        sample = split.get(sample_id)
        gallery.prompt, gallery.context, gallery.ground_truth = sample.prompt, sample.context, sample.target
        gallery.motion_area, gallery.ground_truth_source = sample.motion_area, "split"
    for adapter in adapters:
        path = videos_root / adapter / label / f"seed-{seed}" / f"{sample_id}.mkv"
        clip = _read(path) if path.is_file() else None
        if clip is None:
            continue
        if adapter == ORACLE and gallery.ground_truth is None:
            gallery.ground_truth, gallery.ground_truth_source = clip, ORACLE
            continue
        gallery.videos[adapter] = clip
    flows = {GROUND_TRUTH: _flow(gallery.ground_truth), **{name: _flow(clip) for name, clip in gallery.videos.items()}}
    gallery.flows = {name: flow for name, flow in flows.items() if flow is not None}
    return gallery

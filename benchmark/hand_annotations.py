"""Ground-truth hand keypoints and motion-area masks for a split, computed once and cached.

`hcvg masks build` runs the real hand detector over every clip of a split (context and
target frames, VIDEO mode), and stores per sample the keypoints ``[L+1, 2, 21, 2]`` and
the motion area ``M_video`` (union over frames of each hand's filled convex hull, paper
§3.1), plus an index with each sample's motion-area fraction, in the layout that
`benchmark.splits.annotated` reads back (``hands=DIR``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from benchmark.splits import load_split
from benchmark.splits.annotated import HandAnnotationStore
from handi.hands.detector import NOMINAL_FPS
from handi.motion_area import motion_area_mask

logger = logging.getLogger(__name__)


def annotate_clip(frames: np.ndarray, detector: Any, fps: float = NOMINAL_FPS) -> dict[str, np.ndarray]:
    """Keypoints and motion area of one clip.

    Args:
        frames: uint8 ``[T, H, W, 3]`` RGB (context first).
        detector: A `handi.hands.detector.HandDetector`.
        fps: Frame rate for the detector's VIDEO mode.

    Returns:
        ``keypoints`` float32 [T,2,21,2], ``scores`` float32 [T,2], ``motion_area`` bool [H,W].
    """
    hands = detector.detect_video(frames, fps)
    return {
        "keypoints": hands.keypoints.astype(np.float32),
        "scores": hands.scores.astype(np.float32),
        "motion_area": motion_area_mask(hands.keypoints, frames.shape[1:3]),
    }


# -- building ----------------------------------------------------------------------------

_worker: dict[str, Any] = {}


def _init_worker(split_name: str, split_options: dict[str, Any], detector_options: dict[str, Any]) -> None:
    from handi.hands.detector import MediaPipeHandDetector

    _worker["split"] = load_split(split_name, **split_options)
    _worker["detector"] = MediaPipeHandDetector(**detector_options)


def _annotate_one(sample_id: str, out_dir: str) -> tuple[str, int, str | None]:
    try:
        sample = _worker["split"].get(sample_id)
        frames = np.concatenate([sample.context[None], sample.target])
        HandAnnotationStore(out_dir).save(sample_id, annotate_clip(frames, _worker["detector"]))
        return sample_id, len(frames), None
    except Exception as err:  # recorded; the other samples go on
        return sample_id, 0, f"{type(err).__name__}: {err}"


@dataclasses.dataclass
class BuildReport:
    done: int
    skipped: int
    failed: dict[str, str]
    frames: int
    seconds: float

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("nan")


def build_annotations(
    split_name: str,
    split_options: dict[str, Any],
    out_dir: str | Path,
    workers: int = 1,
    detector_options: dict[str, Any] | None = None,
    progress: bool = True,
) -> BuildReport:
    """Annotate every sample of a split not yet in ``out_dir`` (resumable), in parallel.

    Args:
        split_name: Registered split.
        split_options: Its options.
        out_dir: The annotation directory.
        workers: Worker processes, each with its own detector.
        detector_options: `MediaPipeHandDetector` keyword options.
        progress: Show a progress bar.
    """
    store = HandAnnotationStore(out_dir)
    store.root.mkdir(parents=True, exist_ok=True)
    ids = load_split(split_name, **split_options).ids()
    todo = [i for i in ids if not store.has(i)]
    failed: dict[str, str] = {}
    frames = 0
    start = time.perf_counter()
    init_args = (split_name, split_options, detector_options or {})
    bar = tqdm(total=len(ids), initial=len(ids) - len(todo), desc=f"masks {split_name}", unit="clip", disable=not progress)
    if todo:
        with ProcessPoolExecutor(max_workers=max(1, workers), initializer=_init_worker, initargs=init_args) as pool:
            futures = [pool.submit(_annotate_one, i, str(store.root)) for i in todo]
            for future in as_completed(futures):
                sample_id, count, error = future.result()
                frames += count
                if error:
                    failed[sample_id] = error
                    logger.error("sample %s: %s", sample_id, error)
                bar.update(1)
    bar.close()
    store.write_index(ids)
    return BuildReport(len(todo) - len(failed), len(ids) - len(todo), failed, frames, time.perf_counter() - start)


def default_annotation_dir(split_name: str, split_options: dict[str, Any]) -> Path:
    """``$HCVG_CACHE/hands/<split>[-<options>]`` (default cache ~/.cache/hcvg)."""
    base = Path(os.environ.get("HCVG_CACHE", Path.home() / ".cache" / "hcvg"))
    suffix = "-".join(f"{k}={v}" for k, v in sorted(split_options.items()) if k != "hands")
    return base / "hands" / (f"{split_name}-{suffix}" if suffix else split_name)

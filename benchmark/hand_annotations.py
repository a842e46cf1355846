"""Ground-truth hand keypoints and motion-area masks for a split, computed once and cached.

`hcvg masks build` runs the real hand detector over every clip of a split (context and
target frames, VIDEO mode), and stores per sample the keypoints ``[L+1, 2, 21, 2]`` and
the motion area ``M_video`` (union over frames of each hand's filled convex hull, paper
§3.1), plus an index with each sample's motion-area fraction. `AnnotatedSplit` then
hands them to every metric and adapter through the `Sample`.

Layout: ``DIR/<sample_id>.npz`` (keypoints, scores, motion_area) and ``DIR/index.parquet``.
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
import pandas as pd
from tqdm.auto import tqdm

from benchmark.run_store import atomic_write_bytes, atomic_write_parquet
from benchmark.sample import Sample
from benchmark.splits.base import Split
from handi.hands.detector import NOMINAL_FPS, hand_presence
from handi.motion_area import motion_area_mask

logger = logging.getLogger(__name__)

INDEX_FILE = "index.parquet"


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


class HandAnnotationStore:
    """The cached annotations of one split, in directory ``root``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, sample_id: str) -> Path:
        return self.root / f"{sample_id}.npz"

    def has(self, sample_id: str) -> bool:
        return self.path(sample_id).is_file()

    def save(self, sample_id: str, annotation: dict[str, np.ndarray]) -> None:
        import io

        buffer = io.BytesIO()
        np.savez_compressed(buffer, **annotation)
        atomic_write_bytes(self.path(sample_id), buffer.getvalue())

    def load(self, sample_id: str) -> dict[str, np.ndarray]:
        """Raises FileNotFoundError naming the sample and the command that makes it."""
        path = self.path(sample_id)
        if not path.is_file():
            raise FileNotFoundError(f"no hand annotation for sample {sample_id!r} at {path}; run `hcvg masks build`")
        with np.load(path) as data:
            return {k: data[k] for k in data.files}

    def write_index(self, sample_ids: list[str]) -> pd.DataFrame:
        rows = []
        for sample_id in sample_ids:
            if not self.has(sample_id):
                continue
            ann = self.load(sample_id)
            present = hand_presence(ann["keypoints"])
            rows.append({
                "sample_id": sample_id,
                "motion_area_fraction": float(ann["motion_area"].mean()),
                "frames_with_hands": int(present.any(axis=1).sum()),
                "hands_detected": int(present.sum()),
            })
        index = pd.DataFrame(rows, columns=["sample_id", "motion_area_fraction", "frames_with_hands", "hands_detected"])
        atomic_write_parquet(self.root / INDEX_FILE, index)
        return index

    def read_index(self) -> pd.DataFrame:
        path = self.root / INDEX_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; run `hcvg masks build` for this split")
        return pd.read_parquet(path)


class AnnotatedSplit(Split):
    """A split whose samples carry detector keypoints and motion areas from the cache."""

    def __init__(self, base: Split, store: HandAnnotationStore):
        self.base = base
        self.store = store
        self.name = base.name

    def ids(self) -> list[str]:
        return self.base.ids()

    def get(self, sample_id: str) -> Sample:
        sample = self.base.get(sample_id)
        ann = self.store.load(sample_id)
        return dataclasses.replace(
            sample,
            keypoints=ann["keypoints"],
            motion_area=ann["motion_area"],
            meta={**sample.meta, "keypoints_source": "mediapipe", "hand_annotations": str(self.store.root)},
        )

    def motion_area_fractions(self) -> dict[str, float]:
        index = self.store.read_index()
        return dict(zip(index["sample_id"], index["motion_area_fraction"]))

    def describe(self) -> dict:
        return {**self.base.describe(), "hand_annotations": str(self.store.root)}


# -- building ----------------------------------------------------------------------------

_worker: dict[str, Any] = {}


def _init_worker(split_name: str, split_options: dict[str, Any], detector_options: dict[str, Any]) -> None:
    from benchmark.splits import load_split
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
    from benchmark.splits import load_split

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

"""Splits whose samples carry cached hand keypoints and motion areas (``hands=DIR``).

`hcvg masks build` (`benchmark.hand_annotations`) writes, per sample,
``DIR/<sample_id>.npz`` (keypoints ``[L+1, 2, 21, 2]``, scores, motion_area) and
``DIR/index.parquet`` (each sample's motion-area fraction); `AnnotatedSplit` hands them
to every metric and adapter through the `Sample`.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pandas as pd

from handi.hands.detector import hand_presence
from hcvg.atomic import atomic_write_bytes, atomic_write_parquet
from hcvg.errors import InputNotFoundError
from hcvg.sample import Sample
from hcvg.splits import Split

INDEX_FILE = "index.parquet"


class HandAnnotationStore:
    """The cached annotations of one split, in directory ``root``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, sample_id: str) -> Path:
        return self.root / f"{sample_id}.npz"

    def has(self, sample_id: str) -> bool:
        return self.path(sample_id).is_file()

    def save(self, sample_id: str, annotation: dict[str, np.ndarray]) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **annotation)
        atomic_write_bytes(self.path(sample_id), buffer.getvalue())

    def load(self, sample_id: str) -> dict[str, np.ndarray]:
        """Raises InputNotFoundError (a FileNotFoundError) naming the sample and the command that makes it."""
        path = self.path(sample_id)
        if not path.is_file():
            raise InputNotFoundError(f"no hand annotation for sample {sample_id!r} at {path}; run `hcvg masks build`")
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
            raise InputNotFoundError(f"{path} not found; run `hcvg masks build` for this split")
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


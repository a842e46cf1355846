"""EPIC-KITCHENS-100: the official annotation CSVs and the official video / frame layout.

Annotations (github.com/epic-kitchens/epic-kitchens-100-annotations): one row per action
segment with ``narration_id, participant_id, video_id, start_frame, stop_frame,
narration, verb, noun, ...``; ``EPIC_100_video_info.csv`` gives each video's fps and
resolution. Frame numbers count from 1 at the video's native rate: frame ``n`` is the
``n-1``-th decoded frame and the file ``frame_{n:010d}.jpg`` of the extracted frames.

Sources, as the official download script lays them out::

    ROOT/P01/videos/P01_11.MP4
    ROOT/P01/rgb_frames/P01_11/frame_0000000001.jpg

The benchmark's test split is the official *validation* set, as in LEGO: the official
test set has no public narrations. The action text is the narration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pandas as pd

from benchmark.datasets import lego_splits
from benchmark.datasets.registry import SegmentSelection
from benchmark.datasets.segments import Segment
from hcvg.errors import InputNotFoundError, InvalidInputError

DATASET = "ek100"
FIRST_FRAME_NUMBER = 1
ANNOTATION_FILES = {"train": "EPIC_100_train.csv", "validation": "EPIC_100_validation.csv"}
VIDEO_INFO_FILE = "EPIC_100_video_info.csv"
REQUIRED_COLUMNS = ("narration_id", "video_id", "start_frame", "stop_frame", "narration")
# Official split -> benchmark side. "test" is accepted for the validation set (LEGO's test).
SPLIT_ALIASES = {"train": "train", "validation": "validation", "val": "validation", "test": "validation"}
SOURCES = ("auto", "videos", "rgb_frames")


def benchmark_side(split: str) -> str:
    """``"train"`` or ``"test"``: the benchmark split an official EK split feeds."""
    return "train" if _official(split) == "train" else "test"


def _official(split: str) -> str:
    try:
        return SPLIT_ALIASES[split]
    except KeyError:
        raise InvalidInputError(f"unknown EPIC-KITCHENS split {split!r}; choose one of {sorted(SPLIT_ALIASES)}") from None


def find_annotations_dir(root: str | Path | None, annotations: str | Path | None = None) -> Path:
    """The folder holding the annotation CSVs.

    Looks at ``annotations`` if given, else ``ROOT/epic-kitchens-100-annotations``,
    ``ROOT/annotations`` and ``ROOT``.

    Raises:
        FileNotFoundError: If none holds ``EPIC_100_video_info.csv``.
    """
    if annotations is not None:
        candidates = [Path(annotations)]
    elif root is not None:
        candidates = [Path(root) / "epic-kitchens-100-annotations", Path(root) / "annotations", Path(root)]
    else:
        candidates = []
    for folder in candidates:
        if (folder / VIDEO_INFO_FILE).is_file():
            return folder
    looked = ", ".join(str(c) for c in candidates) or "nowhere (no --root or --annotations given)"
    raise InputNotFoundError(
        f"EPIC-KITCHENS-100 annotations not found (looked for {VIDEO_INFO_FILE} in {looked}); clone "
        "https://github.com/epic-kitchens/epic-kitchens-100-annotations and pass its folder with --annotations"
    )


def read_annotations(annotations_dir: str | Path, split: str = "validation") -> pd.DataFrame:
    """Read one official annotation CSV.

    Args:
        annotations_dir: Folder of the annotation CSVs.
        split: ``"train"`` or ``"validation"`` (alias ``"test"``).

    Returns:
        One row per segment; ``start_frame`` / ``stop_frame`` int64, ids as str.

    Raises:
        FileNotFoundError: If the CSV is missing.
        ValueError: If required columns are missing.
    """
    path = Path(annotations_dir) / ANNOTATION_FILES[_official(split)]
    if not path.is_file():
        raise InputNotFoundError(f"{path}: missing; download it from the epic-kitchens-100-annotations repository")
    frame = pd.read_csv(path, dtype={"narration_id": str, "participant_id": str, "video_id": str, "narration": str})
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"{path}: missing column(s) {missing}; is this an EPIC-KITCHENS-100 action CSV?")
    frame["start_frame"] = frame["start_frame"].astype("int64")
    frame["stop_frame"] = frame["stop_frame"].astype("int64")
    return frame


def read_video_info(annotations_dir: str | Path) -> pd.DataFrame:
    """``EPIC_100_video_info.csv`` indexed by video_id, with fps, width and height."""
    path = Path(annotations_dir) / VIDEO_INFO_FILE
    if not path.is_file():
        raise InputNotFoundError(f"{path}: missing; download it from the epic-kitchens-100-annotations repository")
    info = pd.read_csv(path, dtype={"video_id": str})
    size = info["resolution"].str.split("x", expand=True).astype(int)
    info["width"], info["height"] = size[0], size[1]
    return info.set_index("video_id")


def video_path(root: str | Path, video_id: str) -> Path:
    """``ROOT/P01/videos/P01_11.MP4`` (a lower-case ``.mp4`` is accepted too)."""
    folder = Path(root) / video_id.split("_")[0] / "videos"
    upper = folder / f"{video_id}.MP4"
    lower = folder / f"{video_id}.mp4"
    return lower if not upper.exists() and lower.exists() else upper


def frames_dir(root: str | Path, video_id: str) -> Path:
    """``ROOT/P01/rgb_frames/P01_11/`` (files ``frame_0000000001.jpg``, 1-based)."""
    return Path(root) / video_id.split("_")[0] / "rgb_frames" / video_id


def _source(root: Path, video_id: str, source: str) -> tuple[str, str]:
    video, frames = video_path(root, video_id), frames_dir(root, video_id)
    if source == "videos" or (source == "auto" and (video.exists() or not frames.is_dir())):
        return str(video), "video"
    return str(frames), "frames"


def segments_from_annotations(
    annotations: pd.DataFrame, video_info: pd.DataFrame, root: str | Path, source: str = "auto"
) -> list[Segment]:
    """One `Segment` per annotation row, pointing at the row's video or frames.

    Args:
        annotations: Rows of an official action CSV (`read_annotations`).
        video_info: `read_video_info`; gives each video's fps.
        root: Dataset root in the official layout.
        source: ``"videos"``, ``"rgb_frames"``, or ``"auto"`` (the video where it
            exists, else the frames directory where that exists).
    """
    if source not in SOURCES:
        raise InvalidInputError(f"unknown source {source!r}; choose one of {SOURCES}")
    root = Path(root)
    sources: dict[str, tuple[str, str]] = {}
    segments = []
    for row in annotations.itertuples(index=False):
        video_id = row.video_id
        if video_id not in sources:
            sources[video_id] = _source(root, video_id, source)
        path, kind = sources[video_id]
        fps = float(video_info.at[video_id, "fps"]) if video_id in video_info.index else None
        extra = {k: getattr(row, k) for k in ("verb", "noun", "verb_class", "noun_class") if hasattr(row, k)}
        segments.append(
            Segment(
                sample_id=row.narration_id,
                dataset=DATASET,
                prompt=str(row.narration).strip(),
                video_id=video_id,
                start_frame=int(row.start_frame),
                stop_frame=int(row.stop_frame),
                source=path,
                source_kind=kind,
                first_frame_number=FIRST_FRAME_NUMBER,
                fps=fps,
                participant_id=getattr(row, "participant_id", None) or video_id.split("_")[0],
                extra={k: (v.item() if hasattr(v, "item") else v) for k, v in extra.items()},
            )
        )
    return segments


def load_segments(
    root: str | Path,
    annotations: str | Path | None = None,
    split: str = "validation",
    source: str = "auto",
    lego_split: str | Path | None = None,
    split_method: str = "official",
    test_fraction: float = lego_splits.DEFAULT_TEST_FRACTION,
    salt: str = lego_splits.DEFAULT_SALT,
) -> tuple[list[Segment], dict[str, Any]]:
    """The segments of one EK-100 split, and how they were chosen.

    Args:
        root: Dataset root (videos / rgb_frames in the official layout).
        annotations: Folder of the annotation CSVs (default: looked up under ``root``).
        split: ``"train"`` or ``"validation"`` (``"test"``: the validation set).
        source: Where frames come from (see `segments_from_annotations`).
        lego_split: A LEGO split file; keeps only the segments it lists (matched on
            narration_id) and takes its enriched descriptions.
        split_method: ``"official"`` (the CSV of ``split``) or ``"hash"`` (pool every
            official CSV present and assign whole videos by hash; see `hash_split`).
        test_fraction: For ``"hash"``: share of videos on the test side.
        salt: For ``"hash"``: the hash's salt.

    Returns:
        The segments in annotation order, and a JSON-able description.
    """
    folder = find_annotations_dir(root, annotations)
    info = read_video_info(folder)
    official = _official(split)
    description: dict[str, Any] = {"dataset": DATASET, "annotations": str(folder), "official_split": official}
    if split_method == "hash":
        present = [s for s, name in ANNOTATION_FILES.items() if (folder / name).is_file()]
        rows = pd.concat([read_annotations(folder, s) for s in present], ignore_index=True)
        segments, how = lego_splits.hash_split(
            segments_from_annotations(rows, info, root, source), benchmark_side(split), test_fraction, salt
        )
        description.update(annotation_files=[ANNOTATION_FILES[s] for s in present], selection=how)
    elif split_method == "official":
        rows = read_annotations(folder, official)
        segments = segments_from_annotations(rows, info, root, source)
        description.update(annotation_files=[ANNOTATION_FILES[official]], selection={"method": "official"})
    else:
        raise InvalidInputError(f"unknown split_method {split_method!r}; choose 'official' or 'hash'")
    description["annotation_rows"] = len(segments)
    if lego_split is not None:
        segments, how = lego_splits.apply_lego_split(segments, lego_splits.read_lego_split(lego_split))
        description["selection"] = {**how, "pool": description["selection"]}
    return segments, description


def select_segments(
    root: Path,
    split: str = "validation",
    annotations: Path | None = None,
    lego_split: Path | None = None,
    test_fraction: float = lego_splits.DEFAULT_TEST_FRACTION,
    source: Literal["auto", "videos", "rgb_frames"] = "auto",
    split_method: Literal["official", "hash"] = "official",
) -> SegmentSelection:
    """The registered ``ek100`` dataset (`benchmark.datasets.registry.SegmentLoader`).

    Args:
        root: Dataset root in the official layout.
        split: ``"train"`` or ``"validation"`` (``"test"``: the validation set).
        annotations: Folder of the annotation CSVs (default: looked up under ``root``).
        lego_split: A LEGO split file selecting the samples.
        test_fraction: Hash split: share of videos on the test side.
        source: Read "videos", extracted "rgb_frames", or whichever exists ("auto").
        split_method: "official" CSVs, or a "hash" split of every video.
    """
    segments, description = load_segments(
        root, annotations, split, source=source, lego_split=lego_split, split_method=split_method,
        test_fraction=test_fraction,
    )  # fmt: skip
    return SegmentSelection(segments, description, benchmark_side(split))


def ek100_train(cache: Path | None = None, limit: int | None = None):
    """The registered ``ek100-train`` split: a prepared clip cache (option ``cache=DIR``)."""
    from benchmark.datasets.clip_cache import open_cached_split

    return open_cached_split("ek100-train", DATASET, "train", cache, limit)


def ek100_test(cache: Path | None = None, limit: int | None = None):
    """The registered ``ek100-test`` split (official validation set, as in LEGO)."""
    from benchmark.datasets.clip_cache import open_cached_split

    return open_cached_split("ek100-test", DATASET, "test", cache, limit)

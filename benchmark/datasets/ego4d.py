"""Ego4D: Forecasting-Hands-Objects (FHO) style annotations over the official clip layout.

Clips, as the Ego4D CLI downloads them: ``ROOT/clips/<clip_uid>.mp4`` (``ROOT/v2/clips``
and ``ROOT/v1/clips`` are found too). Canonical clips run at 30 fps and annotation frame
numbers count from 0 within the clip.

Annotations are read tolerantly, since FHO files differ by task and release:

* nested, as ``fho_main.json``: ``{"videos": [{"video_uid", "annotated_intervals":
  [{"clip_uid", "narrated_actions": [{...}]}]}]}``;
* flat, as the FHO task files: ``{"clips": [{"clip_uid", ...}]}`` or a list of those.

Per action the segment runs from the pre-condition to the post-condition frame where
they exist (``critical_frames``; LEGO's Ego4D segments, 1.07 s on average, are of this
kind), else from start to end. Clip-relative keys (``clip_*``) are preferred over
video-relative ones. The text is the narration with the camera-wearer prefix ``"#C C "``
removed. Which keys were read is recorded in the description.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from benchmark.datasets import lego_splits
from benchmark.datasets.registry import SegmentSelection
from benchmark.datasets.segments import Segment
from hcvg.errors import InputNotFoundError, InvalidInputError

DATASET = "ego4d"
FIRST_FRAME_NUMBER = 0
CANONICAL_FPS = 30.0  # Ego4D canonical clips and their annotation frame numbers
START_KEYS = ("clip_pre_frame", "pre_frame", "action_clip_start_frame", "clip_start_frame", "start_frame")
STOP_KEYS = ("clip_post_frame", "post_frame", "action_clip_end_frame", "clip_end_frame", "end_frame")
TEXT_KEYS = ("narration_text", "narration", "action_text", "action", "text")
ANNOTATION_FILES = ("fho_main.json", "annotations.json")
SPLIT_ALIASES = {"train": "train", "test": "test", "val": "test", "validation": "test"}
_PREFIX = re.compile(r"^\s*#\s*C\s+C\s+", re.IGNORECASE)
_TAGS = re.compile(r"\s*#\s*(unsure|summary)\b.*$", re.IGNORECASE)


def clean_narration(text: str) -> str:
    """``"#C C picks up the knife #unsure"`` -> ``"picks up the knife"``."""
    return _TAGS.sub("", _PREFIX.sub("", str(text))).strip()


def benchmark_side(split: str) -> str:
    try:
        return SPLIT_ALIASES[split]
    except KeyError:
        raise InvalidInputError(f"unknown Ego4D split {split!r}; choose one of {sorted(SPLIT_ALIASES)}") from None


def clips_dir(root: str | Path) -> Path:
    """``ROOT/clips``, or ``ROOT/v2/clips`` / ``ROOT/v1/clips`` where those exist."""
    root = Path(root)
    for candidate in (root / "clips", root / "v2" / "clips", root / "v1" / "clips"):
        if candidate.is_dir():
            return candidate
    return root / "clips"


def find_annotation_file(root: str | Path | None, annotations: str | Path | None = None) -> Path:
    """The FHO annotation JSON: ``annotations`` itself, or a known file inside it or ROOT.

    Raises:
        FileNotFoundError: Naming every place looked at.
    """
    if annotations is not None and Path(annotations).is_file():
        return Path(annotations)
    folders = [Path(annotations)] if annotations is not None else []
    if root is not None:
        folders += [Path(root) / "annotations", Path(root) / "v2" / "annotations", Path(root)]
    for folder in folders:
        for name in ANNOTATION_FILES:
            if (folder / name).is_file():
                return folder / name
    looked = ", ".join(str(f) for f in folders) or "nowhere (no --root or --annotations given)"
    raise InputNotFoundError(
        f"Ego4D FHO annotations not found ({' or '.join(ANNOTATION_FILES)} in {looked}); download them with "
        "`ego4d --datasets annotations` and pass the JSON file with --annotations"
    )


def _pick(record: dict, keys: tuple[str, ...], used: Counter) -> Any:
    places = [record, record.get("critical_frames") or {}]
    for key in keys:
        for place in places:
            value = place.get(key) if isinstance(place, dict) else None
            if isinstance(value, dict):  # {"frame": video frame, "clip_frame": clip frame}
                value = value.get("clip_frame", value.get("frame"))
            if value is not None and value != "":
                used[key] += 1
                return value
    used["(none)"] += 1
    return None


def _actions(data: Any) -> Iterator[tuple[dict, dict]]:
    """Yield ``(action record, inherited fields)`` from a nested or flat FHO file."""
    if isinstance(data, dict) and "videos" in data:
        for video in data["videos"]:
            for interval in video.get("annotated_intervals", []):
                inherited = {"clip_uid": interval.get("clip_uid"), "video_uid": video.get("video_uid")}
                for action in interval.get("narrated_actions", []):
                    yield action, inherited
        return
    records = data.get("clips", data.get("annotations")) if isinstance(data, dict) else data
    if not isinstance(records, list):
        raise InvalidInputError("expected {'videos': [...]} (fho_main) or {'clips': [...]} / a list of action records")
    for record in records:
        yield record, {}


def read_fho_segments(path: str | Path, root: str | Path) -> tuple[list[Segment], dict[str, Any]]:
    """Every valid action of an FHO-style file as a `Segment` over ``ROOT/clips``.

    Actions marked invalid or rejected, or lacking a clip uid, frames or text, are left
    out and counted in the description.

    Raises:
        ValueError: If the file is not JSON of a known shape.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InvalidInputError(f"{path}: not valid JSON ({err})") from err
    folder = clips_dir(root)
    used = {"start": Counter(), "stop": Counter(), "text": Counter()}
    dropped = Counter()
    per_clip = Counter()
    segments: list[Segment] = []
    try:
        actions = list(_actions(data))
    except ValueError as err:
        raise InvalidInputError(f"{path}: {err}") from None
    for record, inherited in actions:
        clip_uid = record.get("clip_uid") or inherited.get("clip_uid")
        if not clip_uid:
            dropped["no clip_uid"] += 1
            continue
        index = per_clip[clip_uid]
        per_clip[clip_uid] += 1
        if record.get("is_valid_action") is False or record.get("is_rejected") or record.get("is_invalid_annotation"):
            dropped["marked invalid"] += 1
            continue
        start, stop = _pick(record, START_KEYS, used["start"]), _pick(record, STOP_KEYS, used["stop"])
        text = _pick(record, TEXT_KEYS, used["text"])
        if start is None or stop is None or not text:
            dropped["no frames or text"] += 1
            continue
        action_idx = record.get("action_idx", record.get("action_index", index))
        extra = {k: record[k] for k in ("verb", "noun", "structured_verb") if isinstance(record.get(k), (str, int))}
        video_uid = record.get("video_uid") or inherited.get("video_uid")
        if video_uid:
            extra["video_uid"] = video_uid
        segments.append(
            Segment(
                sample_id=f"{clip_uid}_{action_idx}",
                dataset=DATASET,
                prompt=clean_narration(text),
                video_id=clip_uid,
                start_frame=int(start),
                stop_frame=int(stop),
                source=str(folder / f"{clip_uid}.mp4"),
                first_frame_number=FIRST_FRAME_NUMBER,
                fps=float(record.get("fps") or CANONICAL_FPS),
                extra=extra,
            )
        )
    description = {
        "dataset": DATASET,
        "annotations": str(path),
        "clips_dir": str(folder),
        "fields_read": {k: dict(v) for k, v in used.items()},
        "dropped": dict(dropped),
    }
    return segments, description


def _record_segment(root: str | Path):
    """Builds a segment from a LEGO record that carries its own frames and text."""
    folder = clips_dir(root)

    def make(record: lego_splits.LegoRecord) -> Segment | None:
        if record.start_frame is None or record.stop_frame is None or not record.action:
            return None
        return Segment(
            sample_id=f"{record.clip_id}_{record.action_id}" if not record.action_id.startswith(record.clip_id) else record.action_id,
            dataset=DATASET,
            prompt=clean_narration(record.action),
            video_id=record.clip_id,
            start_frame=record.start_frame,
            stop_frame=record.stop_frame,
            source=str(folder / f"{record.clip_id}.mp4"),
            first_frame_number=FIRST_FRAME_NUMBER,
            fps=CANONICAL_FPS,
        )

    return make


def load_segments(
    root: str | Path,
    annotations: str | Path | None = None,
    split: str = "test",
    lego_split: str | Path | None = None,
    test_fraction: float = lego_splits.DEFAULT_TEST_FRACTION,
    salt: str = lego_splits.DEFAULT_SALT,
) -> tuple[list[Segment], dict[str, Any]]:
    """The segments of one Ego4D split, and how they were chosen.

    With ``lego_split`` the file's actions are kept (matched on ``<clip_uid>_<index>``
    or clip and start frame; records with their own frames and text need no
    annotation). Otherwise whole source videos (``video_uid``, else the clip) are
    assigned to train or test by hash (`lego_splits.hash_split`).

    Args:
        root: Dataset root holding ``clips/``.
        annotations: The FHO JSON, or a folder holding ``fho_main.json``.
        split: ``"train"`` or ``"test"`` (``"val"`` is an alias of test).
        lego_split: A LEGO split file for this side.
        test_fraction: Hash split: share of videos on the test side.
        salt: Hash split: the salt.
    """
    side = benchmark_side(split)
    if lego_split is not None and annotations is None:
        try:
            annotation_file = find_annotation_file(root, None)
        except FileNotFoundError:
            annotation_file = None
    else:
        annotation_file = find_annotation_file(root, annotations)
    if annotation_file is not None:
        segments, description = read_fho_segments(annotation_file, root)
    else:
        segments, description = [], {"dataset": DATASET, "annotations": None, "clips_dir": str(clips_dir(root))}
    description["annotation_rows"] = len(segments)
    if lego_split is not None:
        segments, how = lego_splits.apply_lego_split(segments, lego_splits.read_lego_split(lego_split), _record_segment(root))
    else:
        segments, how = lego_splits.hash_split(
            segments, side, test_fraction, salt, key=lambda s: s.extra.get("video_uid", s.video_id)
        )
        how["group"] = "video_uid (else clip_uid)"
    description["selection"] = how
    return segments, description


def select_segments(
    root: Path,
    split: str = "test",
    annotations: Path | None = None,
    lego_split: Path | None = None,
    test_fraction: float = lego_splits.DEFAULT_TEST_FRACTION,
) -> SegmentSelection:
    """The registered ``ego4d`` dataset (`benchmark.datasets.registry.SegmentLoader`).

    Args:
        root: Dataset root holding ``clips/``.
        split: ``"train"`` or ``"test"`` (``"val"`` is an alias of test).
        annotations: The FHO JSON, or a folder holding ``fho_main.json``.
        lego_split: A LEGO split file for this side.
        test_fraction: Hash split: share of videos on the test side.
    """
    segments, description = load_segments(root, annotations, split, lego_split=lego_split, test_fraction=test_fraction)
    return SegmentSelection(segments, description, benchmark_side(split))


def ego4d_train(cache: Path | None = None, limit: int | None = None):
    """The registered ``ego4d-train`` split: a prepared clip cache (option ``cache=DIR``)."""
    from benchmark.datasets.clip_cache import open_cached_split

    return open_cached_split("ego4d-train", DATASET, "train", cache, limit)


def ego4d_test(cache: Path | None = None, limit: int | None = None):
    """The registered ``ego4d-test`` split: a prepared clip cache (option ``cache=DIR``)."""
    from benchmark.datasets.clip_cache import open_cached_split

    return open_cached_split("ego4d-test", DATASET, "test", cache, limit)

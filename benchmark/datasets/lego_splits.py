"""Train/test selection: LEGO's quality-checked split files, or a deterministic hash split.

The paper (§4, Datasets) evaluates on LEGO's splits (Lai et al., 2023). A LEGO split file
is JSON nested as ``{clip_id: {action_id: {...fields...}}}``, where the fields carry the
action's frame(s), its label and the enriched description ``llava_forecast_finetune``.
Field names differ between LEGO's files and releases, so the reader looks for each
field under several names and records which ones it found (`LegoSplit.describe`).

Without a split file, `hash_split` assigns whole videos to one side by hashing their
id: deterministic, independent of row order, and no video contributes to both sides.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from benchmark.datasets.segments import Segment
from hcvg.errors import InputNotFoundError, InvalidInputError

# Candidate field names, most specific first (LEGO's own names lead).
START_KEYS = ("start_frame", "pre_frame", "clip_pre_frame", "action_clip_start_frame", "clip_start_frame", "start", "frame")
STOP_KEYS = ("stop_frame", "end_frame", "post_frame", "clip_post_frame", "action_clip_end_frame", "clip_end_frame", "stop", "end")
ACTION_KEYS = ("action", "narration", "narration_text", "action_label", "label", "text", "caption")
EXPANDED_KEYS = ("llava_forecast_finetune", "llava_forecast", "enriched_description", "description")

DEFAULT_TEST_FRACTION = 0.1  # LEGO's Ego4D split is 85,521 / 9,931 ≈ 10% test
DEFAULT_SALT = "hcvg-split-v1"


@dataclass(frozen=True)
class LegoRecord:
    """One action listed in a LEGO split file; fields are None where not found."""

    clip_id: str
    action_id: str
    start_frame: int | None
    stop_frame: int | None
    action: str | None
    expanded: str | None


@dataclass
class LegoSplit:
    """The records of one LEGO split file, with what the reader found in it."""

    path: Path
    records: list[LegoRecord]
    keys_used: dict[str, Counter] = field(default_factory=dict)

    def describe(self) -> dict:
        return {
            "lego_split_file": str(self.path),
            "lego_records": len(self.records),
            "lego_clips": len({r.clip_id for r in self.records}),
            "lego_fields_read": {k: dict(v) for k, v in self.keys_used.items()},
        }


def _first(record: dict, keys: tuple[str, ...], used: Counter, nested: tuple[str, ...] = ("critical_frames",)):
    for key in keys:
        if key in record and record[key] not in (None, ""):
            used[key] += 1
            return record[key]
    for parent in nested:  # Ego4D keeps pre/post frames under "critical_frames"
        child = record.get(parent)
        if isinstance(child, dict):
            value = _first(child, keys, used, nested=())
            if value is not None:
                return value
    used["(none)"] += 1
    return None


def _frame(value) -> int | None:
    if isinstance(value, dict):  # e.g. {"frame": 123, "clip_frame": 45}
        value = value.get("clip_frame", value.get("frame"))
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def read_lego_split(path: str | Path) -> LegoSplit:
    """Read a LEGO-style split file.

    Args:
        path: JSON file nested ``{clip_id: {action_id: {fields}}}``.

    Returns:
        The records, in file order, and the field names read.

    Raises:
        FileNotFoundError: If the file is missing.
        ValueError: If it is not JSON of that shape.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"{path}: no such LEGO split file (pass the path of LEGO's train/test JSON)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InvalidInputError(f"{path}: not valid JSON ({err}); expected {{clip_id: {{action_id: {{...}}}}}}") from err
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path}: expected a JSON object {{clip_id: {{action_id: {{...}}}}}}, got {type(data).__name__}")
    used = {name: Counter() for name in ("start", "stop", "action", "expanded")}
    records = []
    for clip_id, actions in data.items():
        if not isinstance(actions, dict):
            raise InvalidInputError(f"{path}: entry {clip_id!r} is {type(actions).__name__}, expected {{action_id: {{...}}}}")
        for action_id, fields in actions.items():
            fields = fields if isinstance(fields, dict) else {}
            action = _first(fields, ACTION_KEYS, used["action"])
            expanded = _first(fields, EXPANDED_KEYS, used["expanded"])
            records.append(
                LegoRecord(
                    clip_id=str(clip_id),
                    action_id=str(action_id),
                    start_frame=_frame(_first(fields, START_KEYS, used["start"])),
                    stop_frame=_frame(_first(fields, STOP_KEYS, used["stop"])),
                    action=None if action is None else str(action).strip(),
                    expanded=None if expanded is None else str(expanded).strip(),
                )
            )
    return LegoSplit(path=path, records=records, keys_used=used)


def apply_lego_split(
    segments: Iterable[Segment],
    lego: LegoSplit,
    make_segment: Callable[[LegoRecord], Segment | None] | None = None,
) -> tuple[list[Segment], dict]:
    """Keep the segments LEGO lists, in LEGO's order, with its enriched descriptions.

    A record matches a segment by action id (EK: the narration_id), or by
    ``<clip_id>_<action_id>`` (Ego4D's sample ids), else by clip id and start frame. An unmatched record becomes a segment through ``make_segment`` when it
    carries its own frames and text.

    Returns:
        The selected segments and a description (matched / built / unmatched counts).
    """
    by_id: dict[str, Segment] = {}
    by_start: dict[tuple[str, int], Segment] = {}
    for segment in segments:
        by_id[segment.sample_id] = segment
        by_start.setdefault((segment.video_id, segment.start_frame), segment)
    selected, seen = [], set()
    counts = Counter()
    for record in lego.records:
        segment = by_id.get(record.action_id) or by_id.get(f"{record.clip_id}_{record.action_id}")
        if segment is None and record.start_frame is not None:
            segment = by_start.get((record.clip_id, record.start_frame))
        if segment is not None:
            counts["matched"] += 1
        elif make_segment is not None and (segment := make_segment(record)) is not None:
            counts["built_from_record"] += 1
        else:
            counts["unmatched"] += 1
            continue
        if segment.sample_id in seen:
            counts["duplicates"] += 1
            continue
        seen.add(segment.sample_id)
        if record.expanded:
            segment = dataclasses.replace(segment, expanded_prompt=record.expanded)
        selected.append(segment)
    return selected, {"method": "lego", **lego.describe(), "lego_join": dict(counts)}


def hash_side(key: str, test_fraction: float = DEFAULT_TEST_FRACTION, salt: str = DEFAULT_SALT) -> str:
    """``"test"`` or ``"train"`` for a group key (a video id), from a SHA-1 of it.

    Python's ``hash`` is salted per process; SHA-1 gives the same side everywhere.
    """
    if not 0.0 < test_fraction < 1.0:
        raise InvalidInputError(f"test_fraction must be in (0, 1), got {test_fraction}")
    digest = hashlib.sha1(f"{salt}:{key}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_fraction else "train"


def hash_split(
    segments: Iterable[Segment],
    side: str,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    salt: str = DEFAULT_SALT,
    key: Callable[[Segment], str] = lambda s: s.video_id,
) -> tuple[list[Segment], dict]:
    """Deterministic split keeping every video whole on one side.

    Args:
        segments: All annotated segments.
        side: ``"train"`` or ``"test"``.
        test_fraction: Share of videos (not segments) on the test side.
        salt: Changes the assignment while keeping it deterministic.
        key: The grouping key (default: the video id).

    Returns:
        The segments of ``side`` (input order) and a description of how they were chosen.
    """
    if side not in ("train", "test"):
        raise ValueError(f"side must be 'train' or 'test', got {side!r}")
    segments = list(segments)
    groups = {key(s) for s in segments}
    sides = {g: hash_side(g, test_fraction, salt) for g in groups}
    chosen = [s for s in segments if sides[key(s)] == side]
    return chosen, {
        "method": "hash",
        "hash": "sha1(salt:video_id) / 2^64 < test_fraction -> test",
        "salt": salt,
        "test_fraction": test_fraction,
        "videos_on_side": sum(1 for v in sides.values() if v == side),
        "videos_total": len(groups),
    }

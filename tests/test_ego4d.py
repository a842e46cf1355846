"""Ego4D loader: FHO-style annotations (nested and flat) over synthetic clips, cache and splits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hcvg.frames import evenly_spaced_indices
from benchmark.datasets import ego4d
from benchmark.datasets.clip_cache import prepare_cache, read_report
from benchmark.splits import load_split
from hcvg.video_io import read_video
from tests.synthetic_videos import read_stamp, write_numbered_video

SIZE = (192, 108)
CLIP_FRAMES = {"clip-aaa": 100, "clip-bbb": 60}

FHO_MAIN = {
    "videos": [
        {
            "video_uid": "video-1",
            "annotated_intervals": [
                {
                    "clip_uid": "clip-aaa",
                    "narrated_actions": [
                        {
                            "narration_text": "#C C picks up the knife",
                            # clip-relative frames win over the video-relative ones
                            "critical_frames": {"clip_pre_frame": 10, "clip_post_frame": 40, "pre_frame": 9010, "post_frame": 9040},
                            "start_frame": 9000,
                            "end_frame": 9100,
                        },
                        {"narration_text": "#C C cuts the carrot", "critical_frames": {"clip_pre_frame": 50, "clip_post_frame": 90}},
                        {"narration_text": "#C C drops it", "is_valid_action": False, "critical_frames": {"clip_pre_frame": 1, "clip_post_frame": 30}},
                    ],
                }
            ],
        },
        {
            "video_uid": "video-2",
            "annotated_intervals": [
                {
                    "clip_uid": "clip-bbb",
                    "narrated_actions": [
                        {"narration_text": "#C C opens the drawer #unsure", "clip_start_frame": 5, "clip_end_frame": 45},
                        {"narration_text": "#C C closes the drawer", "critical_frames": {"clip_pre_frame": 40, "clip_post_frame": 80}},
                    ],
                }
            ],
        },
    ]
}


@pytest.fixture(scope="module")
def ego_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ego4d")
    for uid, frames in CLIP_FRAMES.items():
        write_numbered_video(root / "clips" / f"{uid}.mp4", frames, SIZE, 30.0, first_number=0, keyframe_interval=10)
    (root / "annotations").mkdir()
    (root / "annotations" / "fho_main.json").write_text(json.dumps(FHO_MAIN))
    return root


def test_clean_narration_drops_the_camera_wearer_prefix():
    assert ego4d.clean_narration("#C C picks up the knife") == "picks up the knife"
    assert ego4d.clean_narration("#c c opens the drawer #unsure") == "opens the drawer"
    assert ego4d.clean_narration("stirs the pot") == "stirs the pot"


def test_nested_fho_annotations_become_clip_relative_segments(ego_root: Path):
    segments, description = ego4d.read_fho_segments(ego_root / "annotations" / "fho_main.json", ego_root)
    by_id = {s.sample_id: s for s in segments}
    assert list(by_id) == ["clip-aaa_0", "clip-aaa_1", "clip-bbb_0", "clip-bbb_1"]  # the invalid action is dropped
    knife = by_id["clip-aaa_0"]
    assert (knife.prompt, knife.start_frame, knife.stop_frame) == ("picks up the knife", 10, 40)  # pre/post, clip-relative
    assert knife.source == str(ego_root / "clips" / "clip-aaa.mp4") and knife.first_frame_number == 0 and knife.fps == 30.0
    assert knife.extra["video_uid"] == "video-1"
    assert (by_id["clip-bbb_0"].prompt, by_id["clip-bbb_0"].start_frame) == ("opens the drawer", 5)
    assert description["dropped"] == {"marked invalid": 1}
    assert description["fields_read"]["start"] == {"clip_pre_frame": 3, "clip_start_frame": 1}


def test_flat_fho_annotations_are_read_too(tmp_path: Path):
    flat = {"clips": [{"clip_uid": "clip-aaa", "action_idx": 7, "pre_frame": 12, "post_frame": 44, "narration": "#C C washes a cup"}]}
    (tmp_path / "fho_lta.json").write_text(json.dumps(flat))
    (segment,), _ = ego4d.read_fho_segments(tmp_path / "fho_lta.json", tmp_path)
    assert (segment.sample_id, segment.prompt, segment.start_frame, segment.stop_frame) == ("clip-aaa_7", "washes a cup", 12, 44)


def test_hash_split_keeps_source_videos_whole(ego_root: Path):
    train, _ = ego4d.load_segments(ego_root, split="train", test_fraction=0.5)
    test, how = ego4d.load_segments(ego_root, split="val", test_fraction=0.5)
    assert len(train) + len(test) == 4
    assert not {s.extra["video_uid"] for s in train} & {s.extra["video_uid"] for s in test}
    assert how["selection"]["method"] == "hash" and how["annotations"].endswith("fho_main.json")


def test_missing_annotations_name_the_fix(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="--annotations"):
        ego4d.load_segments(tmp_path, split="test")


def test_lego_records_with_their_own_frames_need_no_annotations(ego_root: Path, tmp_path: Path):
    lego = {"clip-bbb": {"3": {"pre_frame": 2, "post_frame": 50, "action": "#C C wipes the table", "llava_forecast_finetune": "A hand wipes."}}}
    (tmp_path / "ego4d_val.json").write_text(json.dumps(lego))
    bare = tmp_path / "bare"
    (bare / "clips").mkdir(parents=True)
    (segment,), description = ego4d.load_segments(bare, split="test", lego_split=tmp_path / "ego4d_val.json")
    assert (segment.sample_id, segment.prompt, segment.expanded_prompt) == ("clip-bbb_3", "wipes the table", "A hand wipes.")
    assert (segment.start_frame, segment.stop_frame) == (2, 50)
    assert description["selection"]["lego_join"] == {"built_from_record": 1}


def test_prepared_ego4d_cache_holds_the_evenly_spaced_frames(ego_root: Path, tmp_path: Path):
    segments, description = ego4d.read_fho_segments(ego_root / "annotations" / "fho_main.json", ego_root)
    result = prepare_cache(segments, tmp_path, "test", description=description, workers=1, progress=False)
    assert result.prepared == 3
    (skipped,) = read_report(tmp_path)
    assert (skipped["sample_id"], skipped["reason"]) == ("clip-bbb_1", "past-end")  # the clip has 60 frames
    split = load_split("ego4d-test", cache=str(tmp_path))
    assert split.ids() == ["clip-aaa_0", "clip-aaa_1", "clip-bbb_0"]
    for sample_id in split.ids():
        sample = split.get(sample_id)
        start, stop = sample.meta["segment"]
        expected = evenly_spaced_indices(start, stop, 16).tolist()
        frames = read_video(tmp_path / "clips" / f"{sample_id}.mkv")
        assert [read_stamp(f, SIZE, 256) for f in frames] == expected == sample.meta["frame_indices"]
    with pytest.raises(ValueError, match="holds ego4d/test, not ego4d/train"):
        load_split("ego4d-train", cache=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="hcvg data prepare --dataset ego4d"):
        load_split("ego4d-train", cache=str(tmp_path / "none"))

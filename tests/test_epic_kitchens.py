"""EPIC-KITCHENS-100 loader: the real annotation CSVs over synthetic, frame-numbered videos."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest

from hcvg.frames import evenly_spaced_indices
from benchmark.datasets import epic_kitchens
from benchmark.datasets.segment_reader import read_segment_frames
from benchmark.datasets.segments import SegmentError, sample_frame_indices
from tests.synthetic_videos import EK_PREPARABLE, build_ek_root, read_stamp


@pytest.fixture(scope="module")
def ek_annotations(shared_data: Path) -> Path:
    return shared_data / "epic-kitchens-100-annotations"


@pytest.fixture(scope="module")
def ek_root(ek_annotations: Path, tmp_path_factory) -> Path:
    info = epic_kitchens.read_video_info(ek_annotations)
    return build_ek_root(tmp_path_factory.mktemp("ek100"), info)


@pytest.fixture(scope="module")
def segments(ek_root: Path, ek_annotations: Path) -> dict:
    found, _ = epic_kitchens.load_segments(ek_root, ek_annotations, "validation")
    return {s.sample_id: s for s in found}


def stamps(segment, numbers) -> list[int]:
    frames = read_segment_frames(segment, numbers)
    size = (frames.shape[2], frames.shape[1])
    return [read_stamp(frame, size) for frame in frames]


def test_real_validation_csv_parses(ek_annotations: Path, ek_root: Path):
    rows = epic_kitchens.read_annotations(ek_annotations, "validation")
    assert len(rows) == 9668
    segments, description = epic_kitchens.load_segments(ek_root, ek_annotations, "test")  # test = validation
    assert len(segments) == 9668 and description["official_split"] == "validation"
    first = segments[0]
    assert (first.sample_id, first.prompt, first.video_id, first.participant_id) == ("P01_11_0", "take plate", "P01_11", "P01")
    assert (first.start_frame, first.stop_frame, first.first_frame_number) == (1, 113, 1)
    assert first.fps == pytest.approx(59.94, abs=0.01)
    assert first.source == str(ek_root / "P01" / "videos" / "P01_11.MP4")
    assert first.extra["verb"] == "take" and first.extra["noun"] == "plate"
    assert all(s.stop_frame >= s.start_frame for s in segments)
    assert epic_kitchens.benchmark_side("validation") == "test" and epic_kitchens.benchmark_side("train") == "train"


def test_sources_follow_the_official_layout(segments: dict, ek_root: Path):
    assert segments["P09_07_0"].source_kind == "frames"
    assert segments["P09_07_0"].source == str(ek_root / "P09" / "rgb_frames" / "P09_07")
    assert segments["P09_07_0"].fps == pytest.approx(29.97, abs=0.01)
    assert segments["P08_17_0"].source_kind == "video"  # absent: reported as a missing video


def test_missing_annotations_say_where_they_were_looked_for(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="EPIC_100_video_info.csv.*--annotations"):
        epic_kitchens.load_segments(tmp_path, None, "validation")


@pytest.mark.parametrize("sample_id", EK_PREPARABLE)
def test_reads_exactly_the_sixteen_evenly_spaced_frames(segments: dict, sample_id: str):
    segment = segments[sample_id]
    numbers = sample_frame_indices(segment, "even")
    assert numbers.tolist() == evenly_spaced_indices(segment.start_frame, segment.stop_frame, 16).tolist()
    assert len(set(numbers.tolist())) == 16
    assert stamps(segment, numbers) == numbers.tolist()


def test_end_8fps_takes_frames_an_eighth_of_a_second_apart_ending_on_the_last(segments: dict):
    segment = segments["P01_11_1"]  # [93, 147] at 59.94 fps: the 15/8 s window reaches back before 93
    numbers = sample_frame_indices(segment, "end-8fps")
    assert numbers[-1] == 147 and numbers[0] < segment.start_frame
    assert np.allclose(np.diff(numbers), 59.94 / 8, atol=1)
    assert stamps(segment, numbers) == numbers.tolist()


def test_end_8fps_is_clamped_at_the_first_frame(segments: dict):
    numbers = sample_frame_indices(segments["P04_24_0"], "end-8fps")  # stops at 73 < 15/8 s
    assert numbers[0] == 1 and numbers[-1] == 73


def test_reading_seeks_instead_of_decoding_from_the_start(segments: dict, caplog):
    with caplog.at_level(logging.DEBUG, logger="benchmark.datasets.segment_reader"):
        stamps(segments["P01_11_1"], sample_frame_indices(segments["P01_11_1"], "even"))
    landed = [int(m.group(1)) for m in re.finditer(r"landed on frame (\d+)", caplog.text)]
    assert landed and 93 - 12 <= landed[0] <= 93  # the keyframe before frame 93 (keyframes every 12)


@pytest.mark.parametrize(
    ("sample_id", "reason"),
    [("P04_24_1", "past-end"), ("P04_24_10", "past-end"), ("P09_07_1", "past-end"), ("P28_21_0", "corrupt-video"), ("P08_17_0", "missing-video")],
)
def test_bad_sources_raise_with_a_reason(segments: dict, sample_id: str, reason: str):
    segment = segments[sample_id]
    with pytest.raises(SegmentError) as err:
        read_segment_frames(segment, sample_frame_indices(segment, "even"))
    assert err.value.reason == reason
    assert Path(segment.source).name in str(err.value)


def test_too_short_segments_are_refused_unless_repeats_are_allowed(segments: dict):
    import dataclasses

    short = dataclasses.replace(segments["P01_11_0"], start_frame=10, stop_frame=19)
    with pytest.raises(SegmentError) as err:
        sample_frame_indices(short, "even")
    assert err.value.reason == "too-short"
    numbers = sample_frame_indices(short, "even", allow_repeats=True)
    assert numbers.min() == 10 and numbers.max() == 19 and len(set(numbers.tolist())) == 10
    assert stamps(short, numbers) == numbers.tolist()


def test_hash_split_keeps_videos_whole_and_is_deterministic(ek_root: Path, ek_annotations: Path):
    train, how = epic_kitchens.load_segments(ek_root, ek_annotations, "train", split_method="hash")
    test, _ = epic_kitchens.load_segments(ek_root, ek_annotations, "test", split_method="hash")
    again, _ = epic_kitchens.load_segments(ek_root, ek_annotations, "test", split_method="hash")
    assert [s.sample_id for s in test] == [s.sample_id for s in again]
    assert len(train) + len(test) == 9668  # only the validation CSV is present here
    assert not {s.video_id for s in train} & {s.video_id for s in test}
    assert how["selection"]["method"] == "hash" and 0 < how["selection"]["videos_on_side"] < 138


def test_lego_split_file_selects_samples_and_adds_descriptions(ek_root: Path, ek_annotations: Path, tmp_path: Path):
    lego = {
        "P04_24": {"P04_24_0": {"start_frame": 22, "action": "turn on tap", "llava_forecast_finetune": "The right hand turns the tap on."}},
        "P01_11": {"P01_11_0": {"start_frame": 1, "action": "take plate", "llava_forecast_finetune": "A hand lifts a plate."}},
        "P99_01": {"P99_01_7": {"start_frame": 5, "action": "not in the annotations"}},
    }
    path = tmp_path / "epickitchen_val.json"
    path.write_text(json.dumps(lego))
    segments, description = epic_kitchens.load_segments(ek_root, ek_annotations, "validation", lego_split=path)
    assert [s.sample_id for s in segments] == ["P04_24_0", "P01_11_0"]  # LEGO's order
    assert segments[0].expanded_prompt == "The right hand turns the tap on." and segments[0].prompt == "turn on tap"
    selection = description["selection"]
    assert selection["method"] == "lego" and selection["lego_join"] == {"matched": 2, "unmatched": 1}
    assert selection["lego_fields_read"]["expanded"]["llava_forecast_finetune"] == 2
    assert selection["pool"]["method"] == "official"

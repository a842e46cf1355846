"""`hcvg masks build`: detector keypoints and motion areas for a split; motion-intensive subsets."""

import math

import numpy as np
import pytest

from benchmark.hand_annotations import HandAnnotationStore, annotate_clip, build_annotations
from hcvg.frames import read_image
from benchmark.splits import InMemorySplit, load_split
from benchmark.splits.motion_intensive import MotionIntensiveSplit
from handi.motion_area import motion_area_mask, postprocess_mask
from tests.conftest import moving_square_sample


@pytest.fixture(scope="module")
def detector(landmarker_path):
    from handi.hands.detector import MediaPipeHandDetector

    with MediaPipeHandDetector(model_path=landmarker_path) as det:
        yield det


@pytest.fixture(scope="module")
def demo_annotations(tmp_path_factory, detector):
    out = tmp_path_factory.mktemp("hands") / "demo"
    report = build_annotations("demo", {"num_samples": 6}, out, workers=2, progress=False)
    return out, report


def test_build_annotates_every_sample_and_resumes(demo_annotations):
    out, report = demo_annotations
    assert (report.done, report.skipped, report.failed) == (6, 0, {})
    assert report.frames == 6 * 16
    again = build_annotations("demo", {"num_samples": 6}, out, workers=2, progress=False)
    assert (again.done, again.skipped) == (0, 6)


def test_masks_built_twice_are_identical(demo_annotations, tmp_path):
    out, _ = demo_annotations
    build_annotations("demo", {"num_samples": 6}, tmp_path / "again", workers=1, progress=False)
    first, second = HandAnnotationStore(out), HandAnnotationStore(tmp_path / "again")
    for i in range(6):
        a, b = first.load(f"demo-{i:04d}"), second.load(f"demo-{i:04d}")
        np.testing.assert_array_equal(a["motion_area"], b["motion_area"])
        np.testing.assert_array_equal(a["keypoints"], b["keypoints"])


def test_annotated_split_carries_detector_keypoints_and_their_motion_area(demo_annotations):
    out, _ = demo_annotations
    split = load_split("demo", num_samples=6, hands=str(out))
    sample = split.get("demo-0002")
    assert sample.keypoints.shape == (16, 2, 21, 2)
    assert sample.meta["keypoints_source"] == "mediapipe"
    np.testing.assert_array_equal(sample.motion_area, motion_area_mask(sample.keypoints, (256, 256)))
    assert sample.motion_area.any()
    drawn = load_split("demo", num_samples=6).get("demo-0002").motion_area
    overlap = (drawn & sample.motion_area).sum() / sample.motion_area.sum()
    assert overlap > 0.7, "the detector's motion area should lie on the drawn hands"


def test_motion_intensive_keeps_the_top_ten_percent_by_area():
    samples = []
    for i in range(25):
        sample = moving_square_sample(f"s-{i:02d}", seed=i)
        mask = np.zeros_like(sample.motion_area)
        mask[: 2 + (i * 7) % 25] = True  # distinct areas
        samples.append(type(sample)(**{**sample.__dict__, "motion_area": mask}))
    split = MotionIntensiveSplit(InMemorySplit("toy", samples))
    assert len(split) == math.ceil(0.1 * 25) == 3
    areas = {s.id: s.motion_area.mean() for s in samples}
    assert set(split.ids()) == set(sorted(areas, key=areas.get, reverse=True)[:3])


def test_motion_intensive_from_the_registry_uses_cached_areas(demo_annotations):
    out, _ = demo_annotations
    split = load_split("motion-intensive", base="demo", num_samples=6, hands=str(out))
    assert len(split) == 1
    index = HandAnnotationStore(out).read_index()
    assert split.ids() == [index.sort_values("motion_area_fraction").sample_id.iloc[-1]]


def test_motion_intensive_needs_motion_areas():
    sample = moving_square_sample("no-mask")
    bare = type(sample)(**{**sample.__dict__, "motion_area": None})
    with pytest.raises(ValueError, match="hcvg masks build"):
        MotionIntensiveSplit(InMemorySplit("toy", [bare]))


def test_real_egocentric_clip_gives_one_smooth_blob(shared_data, detector):
    import cv2

    folder = shared_data / "hands" / "videos" / "epic_P01_01_frames"
    frames = np.stack([read_image(p) for p in sorted(folder.glob("*.jpg"))])
    annotation = annotate_clip(frames, detector)
    raw = annotation["motion_area"]
    assert 0.02 < raw.mean() < 0.3
    smooth = postprocess_mask(raw)
    assert cv2.connectedComponents(smooth.astype(np.uint8))[0] - 1 == 1  # like the authors' released masks
    assert smooth.sum() >= raw.sum()

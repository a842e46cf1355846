"""Tests for handi.hands.detector on real images and videos.

Reference: ``shared/data/hands/detections.json``, made with MediaPipe's HandLandmarker
in IMAGE mode, frame by frame, thresholds 0.5; videos decoded with PyAV (rgb24), stills
with OpenCV (BGR -> RGB). Its handedness labels are MediaPipe's raw labels, which for
the Tasks API are the labels our detector keeps on unmirrored footage.

Needs the hand-landmarker model (`hcvg assets fetch hand-landmarker`, run before
pytest) and the shared data; each test skips with the reason when one is absent.
"""

from __future__ import annotations

import itertools
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hcvg.assets import AssetNotFoundError
from handi.hands.detector import (
    LEFT,
    RIGHT,
    HandDetector,
    HandKeypoints,
    MediaPipeHandDetector,
    assign_hand_slots,
)

from tests.conftest import SHARED_DATA  # noqa: E402  (one definition of where the data lives)
HANDS_DIR = SHARED_DATA / "hands"
DETECTIONS = HANDS_DIR / "detections.json"

# Long clips are sampled to keep the file fast; exactly these frames are compared.
MAX_FRAMES_PER_VIDEO = 50
KEYPOINT_MAE_TOL = 0.02

# Real (not generated), unmirrored egocentric media, per SOURCES.md.
EGOCENTRIC = [
    "images/handi_docs_31.png",
    "images/handi_docs_36.png",
    "images/handi_docs_83.png",
    "images/handi_docs_816.png",
    "images/handi_test_source_3.png",
    "images/handi_test_source_4.png",
    "images/handi_test_source_5.png",
    "videos/epic_P01_01_frames",
    "videos/lavila_ego4d_cf7c12db.gif",
]


# -- fixtures and data loading ---------------------------------------------------------
@pytest.fixture(scope="module")
def detector(landmarker_path: Path):
    with MediaPipeHandDetector(model_path=landmarker_path) as det:
        yield det


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    if not DETECTIONS.is_file():
        pytest.skip(f"real hand test data not found at {HANDS_DIR} (set HCVG_SHARED_DATA to the shared data folder)")
    return json.loads(DETECTIONS.read_text())


def reference_names() -> list[str]:
    if not DETECTIONS.is_file():
        # One placeholder, so the test reports the `reference` fixture's skip reason
        # instead of pytest's "empty parameter set".
        return ["(shared data missing)"]
    return list(json.loads(DETECTIONS.read_text())["files"])


def read_rgb_image(path: Path) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"OpenCV could not read {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_video(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


@lru_cache(maxsize=None)
def load_media(name: str) -> tuple[np.ndarray, tuple[int, ...], tuple[dict, ...]]:
    """Decode a reference file the way detections.json was made.

    Returns:
        frames uint8 [T, H, W, 3] RGB (sampled for long videos), the reference frame
        indices of those frames, and their reference entries.
    """
    entry = json.loads(DETECTIONS.read_text())["files"][name]
    path = HANDS_DIR / name
    if entry["kind"] == "image":
        return read_rgb_image(path)[None], (0,), (entry,)
    if entry["kind"] == "frame_sequence":
        frames = np.stack([read_rgb_image(path / f["file"]) for f in entry["frames"]])
    else:
        frames = read_video(path)
    assert len(frames) == entry["num_frames"], (
        f"{name}: decoded {len(frames)} frames, the reference has {entry['num_frames']}"
    )
    idx = np.arange(len(frames))
    if len(idx) > MAX_FRAMES_PER_VIDEO:
        idx = np.linspace(0, len(frames) - 1, MAX_FRAMES_PER_VIDEO).round().astype(int)
    return frames[idx], tuple(int(i) for i in idx), tuple(entry["frames"][i] for i in idx)


def best_match(ours: HandKeypoints, t: int, ref_hands: list[dict]) -> list[tuple[int, int, float]]:
    """Pair reference hands with our slots (one to one) by the smallest total MAE.

    Returns:
        (reference hand index, our slot, keypoint MAE) for each pair.
    """
    slots = [s for s in (LEFT, RIGHT) if ours.present[t, s]]
    refs = [np.asarray(h["keypoints"], dtype=np.float32) for h in ref_hands]
    n = min(len(slots), len(refs))
    candidates = []
    for chosen in itertools.permutations(slots, n):
        pairs = [(r, slot, float(np.abs(ours.keypoints[t, slot] - refs[r]).mean())) for r, slot in enumerate(chosen)]
        candidates.append((sum(p[2] for p in pairs), pairs))
    return min(candidates, key=lambda c: c[0])[1]


# -- unit tests that need no model ---------------------------------------------------------
def test_assign_slots_follows_labels() -> None:
    assert assign_hand_slots(["Left", "Right"], [0.9, 0.8]) == [LEFT, RIGHT]
    assert assign_hand_slots(["Right"], [0.7]) == [RIGHT]
    assert assign_hand_slots([], []) == []


def test_assign_slots_swaps_labels_for_mirrored_input() -> None:
    assert assign_hand_slots(["Left", "Right"], [0.9, 0.8], mirrored_input=True) == [RIGHT, LEFT]


def test_assign_slots_same_label_higher_score_keeps_slot() -> None:
    assert assign_hand_slots(["Right", "Right"], [0.6, 0.9]) == [LEFT, RIGHT]
    assert assign_hand_slots(["Left", "Left"], [0.95, 0.7]) == [LEFT, RIGHT]
    assert assign_hand_slots(["Left", "Left"], [0.6, 0.9], mirrored_input=True) == [LEFT, RIGHT]


def test_assign_slots_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unexpected handedness label"):
        assign_hand_slots(["left"], [0.9])
    with pytest.raises(ValueError, match="labels but"):
        assign_hand_slots(["Left"], [])


def test_missing_model_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(AssetNotFoundError, match="hcvg assets fetch hand-landmarker"):
        MediaPipeHandDetector(model_path=tmp_path / "missing.task")


def test_thresholds_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="min_hand_detection_confidence"):
        MediaPipeHandDetector(model_path=tmp_path / "missing.task", min_hand_detection_confidence=1.5)


def test_hand_keypoints_checks_shapes() -> None:
    with pytest.raises(ValueError, match=r"\[T, 2, 21, 2\]"):
        HandKeypoints(np.zeros((3, 1, 21, 2), np.float32), np.zeros((3, 2), np.float32), (8, 8))
    empty = HandKeypoints.empty(4, (8, 8))
    assert empty.keypoints.dtype == np.float32 and np.isnan(empty.keypoints).all()
    assert empty.num_hands.tolist() == [0, 0, 0, 0]


# -- the detector on real data -------------------------------------------------------------
def test_detector_satisfies_protocol_and_records_config(detector: MediaPipeHandDetector) -> None:
    assert isinstance(detector, HandDetector)
    config = detector.config()
    assert config["num_hands"] == 2
    assert config["min_hand_detection_confidence"] == 0.5
    assert config["min_hand_presence_confidence"] == 0.5
    assert config["min_tracking_confidence"] == 0.5
    assert config["mirrored_input"] is False
    assert len(config["model_sha256"]) == 64


def test_input_validation(detector: MediaPipeHandDetector) -> None:
    with pytest.raises(ValueError, match="uint8"):
        detector.detect_images(np.zeros((1, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[T, H, W, 3\]"):
        detector.detect_images(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="fps"):
        detector.detect_video(np.zeros((2, 32, 32, 3), np.uint8), fps=0)


def test_blank_frames_have_no_hands(detector: MediaPipeHandDetector) -> None:
    out = detector.detect_images(np.full((2, 64, 96, 3), 127, np.uint8))
    assert out.keypoints.shape == (2, 2, 21, 2) and out.scores.shape == (2, 2)
    assert out.image_size == (64, 96)
    assert np.isnan(out.keypoints).all() and np.isnan(out.scores).all()


@pytest.mark.parametrize("name", reference_names())
def test_matches_reference_detections(detector: MediaPipeHandDetector, reference: dict, name: str) -> None:
    frames, indices, entries = load_media(name)
    out = detector.detect_images(frames)
    assert out.keypoints.dtype == np.float32 and out.scores.dtype == np.float32
    assert out.image_size == (reference["files"][name]["height"], reference["files"][name]["width"])

    count_mismatch = [(i, int(out.num_hands[t]), len(e["hands"])) for t, (i, e) in enumerate(zip(indices, entries))
                      if out.num_hands[t] != len(e["hands"])]
    assert not count_mismatch, f"{name}: (frame, ours, reference) hand counts differ: {count_mismatch}"

    for t, (i, entry) in enumerate(zip(indices, entries)):
        ref_labels = [h["handedness"] for h in entry["hands"]]
        pairs = best_match(out, t, entry["hands"])
        assert len(pairs) == len(entry["hands"])
        for r, slot, mae in pairs:
            assert mae < KEYPOINT_MAE_TOL, f"{name} frame {i}: keypoint MAE {mae:.4f} >= {KEYPOINT_MAE_TOL}"
            # Unmirrored input keeps MediaPipe's label, unless both hands share one.
            if len(set(ref_labels)) == len(ref_labels):
                expected = LEFT if ref_labels[r] == "Left" else RIGHT
                assert slot == expected, f"{name} frame {i}: {ref_labels[r]} hand landed in slot {slot}"
            assert not np.isnan(out.scores[t, slot])


def test_egocentric_right_hand_is_mostly_on_the_right(detector: MediaPipeHandDetector, reference: dict) -> None:
    # Egocentric footage is not mirrored: the wearer's right hand is usually in the
    # right half of the frame. Checks the documented rule end to end.
    agree = total = 0
    for name in EGOCENTRIC:
        frames, _, _ = load_media(name)
        out = detector.detect_images(frames)
        for t, slot in zip(*np.nonzero(out.present)):
            wrist_x = out.keypoints[t, slot, 0, 0]
            agree += int((slot == RIGHT) == (wrist_x > 0.5))
            total += 1
    assert total >= 20, f"too few egocentric detections to judge handedness ({total})"
    assert agree / total >= 0.8, f"only {agree}/{total} egocentric hands are on their own side"


def test_two_egocentric_hands_are_ordered_left_right(detector: MediaPipeHandDetector, reference: dict) -> None:
    frames, _, _ = load_media("images/handi_docs_83.png")
    out = detector.detect_images(frames)
    assert out.present[0].all(), "expected both hands in handi_docs_83.png"
    assert out.keypoints[0, LEFT, 0, 0] < out.keypoints[0, RIGHT, 0, 0]


def test_mirrored_input_undoes_a_horizontal_flip(detector: MediaPipeHandDetector, landmarker_path: Path,
                                                 reference: dict) -> None:
    frames, _, _ = load_media("images/handi_docs_83.png")
    flipped = np.ascontiguousarray(frames[:, :, ::-1])
    plain = detector.detect_images(frames)
    with MediaPipeHandDetector(model_path=landmarker_path, mirrored_input=True) as mirrored_detector:
        mirrored = mirrored_detector.detect_images(flipped)
    assert mirrored.present.tolist() == plain.present.tolist()
    # Same person, same hands: each slot holds the same hand, x mirrored.
    unflipped_x = 1.0 - mirrored.keypoints[..., 0]
    assert np.nanmean(np.abs(unflipped_x - plain.keypoints[..., 0])) < KEYPOINT_MAE_TOL
    assert np.nanmean(np.abs(mirrored.keypoints[..., 1] - plain.keypoints[..., 1])) < KEYPOINT_MAE_TOL


def test_video_mode_tracks_close_to_image_mode(detector: MediaPipeHandDetector, reference: dict) -> None:
    name = "videos/mpsamples_hand_landmarker_test_video.mp4"
    frames = read_video(HANDS_DIR / name)[:40]  # contiguous, so tracking is exercised
    fps = reference["files"][name]["fps"]
    image_mode = detector.detect_images(frames)
    video_mode = detector.detect_video(frames, fps=fps)
    assert video_mode.keypoints.shape == image_mode.keypoints.shape
    both = image_mode.present & video_mode.present
    assert both.sum() >= 0.9 * image_mode.present.sum(), "VIDEO mode lost hands that IMAGE mode finds"
    diff = np.abs(video_mode.keypoints - image_mode.keypoints)[both]
    assert diff.mean() < KEYPOINT_MAE_TOL
    # A second video starts from a fresh landmarker (timestamps restart at 0).
    again = detector.detect_video(frames[:5], fps=fps)
    assert again.present.any()

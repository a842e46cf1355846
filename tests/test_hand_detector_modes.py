"""The hand-keypoints extractor's ``mode`` option and the IMAGE-vs-VIDEO measurement.

The scoring tests build keypoints by hand; the detector tests run the real MediaPipe
landmarker on the real EPIC-KITCHENS frames in ``../shared/data/hands`` (skipping when
the model or the data is absent).
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.hand_detector_modes import ModeScore, make_detector, match_hands, measure_demo, measure_reference_clips
from hcvg.options import OptionError, coerce_options

from tests.conftest import SHARED_DATA

EPIC = "videos/epic_P01_01_frames"


def _hand(x: float, y: float) -> np.ndarray:
    """float [21, 2]: a small hand, joints spread 10 px (at 256²) around (x, y) normalized."""
    offsets = np.linspace(-5, 5, 21)[:, None] / 256.0
    return np.array([x, y]) + np.concatenate([offsets, offsets[::-1]], axis=1)


def _frame(*hands: np.ndarray | None) -> np.ndarray:
    out = np.full((2, 21, 2), np.nan)
    for slot, hand in enumerate(hands):
        if hand is not None:
            out[slot] = hand
    return out


# -- the option ----------------------------------------------------------------------
def test_mode_option_is_coerced_and_checked_from_text():
    from metrics.features.hand_keypoints import HandKeypointsExtractor

    typed = coerce_options(HandKeypointsExtractor, {"mode": "video", "fps": "30"}, "extractor 'hand-keypoints'")
    assert typed == {"mode": "video", "fps": 30.0}
    with pytest.raises(OptionError, match=r"mode='vidoe'.*image.*video"):
        coerce_options(HandKeypointsExtractor, {"mode": "vidoe"}, "extractor 'hand-keypoints'")
    # Detector thresholds are named options too, so a typo gets a suggestion.
    with pytest.raises(OptionError, match="did you mean min_hand_detection_confidence"):
        coerce_options(HandKeypointsExtractor, {"min_hand_detection_confidense": "0.6"}, "extractor 'hand-keypoints'")


def test_default_mode_is_video_at_the_nominal_rate_as_measured(landmarker_path):
    from metrics.features.hand_keypoints import HandKeypointsExtractor

    config = HandKeypointsExtractor(model_path=landmarker_path).config()
    assert (config["mode"], config["fps"]) == ("video", 8.0)
    image = HandKeypointsExtractor(model_path=landmarker_path, mode="image").config()
    assert "fps" not in image, "IMAGE mode has no timestamps: an fps in its config would split caches for nothing"


def test_mode_and_fps_are_recorded_and_move_the_fingerprint(landmarker_path):
    from metrics.features.hand_keypoints import HandKeypointsExtractor

    image = HandKeypointsExtractor(model_path=landmarker_path, mode="image")
    video = HandKeypointsExtractor(model_path=landmarker_path, mode="video")
    video_30 = HandKeypointsExtractor(model_path=landmarker_path, mode="video", fps=30.0)
    assert (video.config()["mode"], video.config()["fps"]) == ("video", 8.0)
    assert video_30.config()["fps"] == 30.0
    assert len({image.fingerprint(), video.fingerprint(), video_30.fingerprint()}) == 3


def test_fps_in_image_mode_is_refused(landmarker_path):
    from metrics.features.hand_keypoints import HandKeypointsExtractor

    with pytest.raises(ValueError, match="fps=30.0 only applies to mode=video"):
        HandKeypointsExtractor(model_path=landmarker_path, mode="image", fps=30.0)
    with pytest.raises(ValueError, match="fps must be > 0"):
        HandKeypointsExtractor(model_path=landmarker_path, mode="video", fps=0.0)


# -- scoring -------------------------------------------------------------------------
def test_match_pairs_hands_by_distance_not_by_slot():
    left, right = _hand(0.3, 0.5), _hand(0.7, 0.5)
    pairs = match_hands(_frame(left, right), _frame(right + 2 / 256, left))
    assert sorted((a, b) for a, b, _ in pairs) == [(0, 1), (1, 0)]
    error = {a: e for a, _, e in pairs}
    assert error[0] == pytest.approx(0.0, abs=1e-9) and error[1] == pytest.approx(2 * np.sqrt(2), rel=1e-6)
    assert match_hands(_frame(left), _frame(None, left + 30 / 256)) == []  # 42 px away: another hand


def test_mode_score_counts_presence_error_and_slots():
    left, right = _hand(0.3, 0.5), _hand(0.7, 0.5)
    partial = left.copy()
    partial[:10] = np.nan  # cut off by the frame edge: not a positive, but not a ghost either
    truth = np.stack([_frame(left, right), _frame(left, right), _frame(partial)])
    positive = np.isfinite(truth).all(axis=(-1, -2))
    detected = np.stack([
        _frame(left + 4 / 256, None),  # one found (error 4*sqrt(2) px), one missed
        _frame(right, _hand(0.5, 0.1)),  # the right hand in the left slot, plus a ghost
        _frame(partial_found := np.nan_to_num(partial, nan=0.3)),  # the partly visible hand
    ])
    assert np.isfinite(partial_found).all()
    score = ModeScore()
    score.add_clip(truth, positive, detected)
    s = score.summary()
    assert (s["hands_true"], s["hands_detected"]) == (4, 4)
    assert s["recall"] == pytest.approx(2 / 4)
    assert s["precision"] == pytest.approx(3 / 4)  # only the ghost is false
    assert s["slot_agreement"] == pytest.approx(1 / 2)
    assert s["mean_error_px"] == pytest.approx(2 * np.sqrt(2), rel=1e-6)
    assert s["frames_same_count"] == 1  # frame 1: two true, two detected


# -- the real detector on real frames ----------------------------------------------------------
@pytest.fixture(scope="module")
def epic_modes(landmarker_path):
    hands_dir = SHARED_DATA / "hands"
    if not (hands_dir / "detections.json").is_file():
        pytest.skip(f"real hand test data not found at {hands_dir} (set HCVG_SHARED_DATA)")
    return measure_reference_clips(
        hands_dir, "videos", lambda mode, fps: make_detector(mode, fps, str(landmarker_path)), names=[EPIC]
    )


def test_image_mode_reproduces_the_reference_detections(epic_modes):
    image = epic_modes["image"]
    assert image["frames"] == 11 and image["hands_true"] == 9
    assert image["precision"] == 1.0 and image["recall"] == 1.0
    assert image["mean_error_px"] < 0.5 and image["slot_agreement"] == 1.0


def test_video_mode_output_does_not_depend_on_the_fps_it_is_told(epic_modes):
    clip = epic_modes["per_clip"][EPIC]
    assert clip["source_fps"] == 10.0
    assert {k: v for k, v in clip["video@8fps"].items() if k != "seconds"} == {
        k: v for k, v in clip["video@source-fps"].items() if k != "seconds"
    }


def test_demo_measurement_scores_a_mode_against_the_drawn_joints(landmarker_path):
    detect = make_detector("video", None, str(landmarker_path))
    result = measure_demo({"video": detect, "blind": lambda frames: np.full((len(frames), 2, 21, 2), np.nan)}, num_samples=2)
    video, blind = result["video"], result["blind"]
    assert video["frames"] == 32 and video["hands_true"] == blind["hands_true"] > 0
    assert video["recall"] > 0.8 and video["precision"] > 0.9 and video["mean_error_px"] < 10
    assert blind["hands_detected"] == 0 and blind["recall"] == 0.0
    # HS-Err's own noise floor is small next to the static clip's error; a blind
    # detector scores the paper's perfect 0 (the reason hand-recall sits beside it).
    assert 0 < video["hs_err_detected_gt_vs_drawn"] < video["hs_err_static_vs_gt"]
    assert blind["hs_err_static_vs_gt"] == 0.0

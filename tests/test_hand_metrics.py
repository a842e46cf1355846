"""HS-Err (paper Eq. 2) and hand-detection recall / precision."""

import numpy as np
import pytest

from benchmark.run_config import ComponentSpec, RunConfig
from benchmark.runner import Runner
from metrics.hs_err import detection_counts, hand_structure_error

NAN = np.nan


def keypoints(num_frames=3, value=0.5):
    return np.full((num_frames, 2, 21, 2), value, dtype=np.float32)


def test_hs_err_is_eq2_with_j_42():
    gt = keypoints()
    gen = keypoints()
    gen[:, 1, :, 0] += 0.1  # right hand shifted by 0.1 in x in every frame
    # per frame: 21 joints × 0.1² / 42 = 0.005
    assert hand_structure_error(gen, gt) == pytest.approx(0.005)


def test_missing_joints_count_zero_on_both_sides_by_the_papers_rule():
    gt = keypoints()
    gen = keypoints(value=0.9)
    gen[:, 0] = NAN  # left hand not drawn
    gt[:, 1, :10] = NAN  # first 10 right-hand joints missed in the ground truth
    # only right-hand joints 10..20 count: 11 joints × 2 coords × 0.4² / 42 per frame
    assert hand_structure_error(gen, gt) == pytest.approx(11 * 2 * 0.16 / 42)
    no_hands = np.full_like(gen, NAN)
    assert hand_structure_error(no_hands, gt) == 0.0  # why recall is reported beside it


def test_penalize_option_charges_hands_missing_in_the_generated_clip():
    gt = keypoints(value=0.5)
    no_hands = np.full_like(gt, NAN)
    assert hand_structure_error(no_hands, gt, missing="penalize") == pytest.approx(42 * 2 * 0.25 / 42)
    assert hand_structure_error(no_hands, np.full_like(gt, NAN), missing="penalize") == 0.0


def test_detection_counts_match_by_frame_and_hand():
    gt = keypoints()
    gen = keypoints()
    gen[0, 0] = NAN  # misses the left hand in frame 0
    gt[2, 1] = NAN  # an extra right hand in frame 2
    both, in_gt, in_gen = detection_counts(gen, gt)
    assert (both, in_gt, in_gen) == (4, 5, 5)


@pytest.fixture(scope="module")
def demo_hand_run(tmp_path_factory, landmarker_path):
    config = RunConfig(
        out=tmp_path_factory.mktemp("hands") / "run",
        adapters=[ComponentSpec("static"), ComponentSpec("oracle")],
        splits=[ComponentSpec("demo", {"num_samples": 4})],
        metrics=["hs-err", "hand-recall", "hand-precision"],
    )
    return config, Runner(config, progress=False).run()


def test_oracle_scores_zero_error_and_full_recall(demo_hand_run):
    _, result = demo_hand_run
    scores = result.scores
    oracle = scores[scores.adapter == "oracle"].set_index(["sample_id", "metric", "scope"])["value"]
    assert (oracle.xs("hs-err", level="metric") == 0.0).all()
    recall = oracle.xs("hand-recall", level="metric").dropna()
    assert len(recall) > 0 and (recall == 1.0).all()


def test_static_has_hand_error_where_hands_are_found(demo_hand_run):
    _, result = demo_hand_run
    summary = result.summary.set_index(["adapter", "metric", "scope"])["value"]
    for scope in ("full", "ma"):
        assert summary[("static", "hs-err", scope)] > 0.0
        assert summary[("oracle", "hs-err", scope)] == 0.0
        assert summary[("oracle", "hand-recall", scope)] == 1.0


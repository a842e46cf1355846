"""Background fidelity and background motion: synthetic cases with known answers, and a real clip."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from metrics.background_fidelity import BackgroundFidelity, background_mse, background_psnr
from metrics.background_motion import BackgroundMotionRatio, background_motion_ratio, motion_ratio
from metrics.base import MetricUndefined, ScoredItem
from metrics.optical_flow import FLOW_CONFIG, dense_flow
from metrics.psnr import PSNR_CAP_DB
from metrics.scope import apply_scope

SIZE = 96


def _texture(size: int, seed: int) -> np.ndarray:
    """Smooth random RGB texture: structure at every position, so flow is well defined."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    return cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 2.0), None, 0, 255, cv2.NORM_MINMAX)


def _mask(size: int = SIZE) -> np.ndarray:
    mask = np.zeros((size, size), dtype=bool)
    mask[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = True
    return mask


def _moving_square(num_frames: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A textured 16-px square sliding 2 px per frame, well inside the mask (which has
    room for the flow's window to blur across the square's edges)."""
    context = _texture(SIZE, seed)
    square = _texture(16, seed + 1)
    frames = []
    for t in range(num_frames):
        frame = context.copy()
        x = SIZE // 2 - 12 + 2 * t
        frame[SIZE // 2 - 8 : SIZE // 2 + 8, x : x + 16] = square
        frames.append(frame)
    return context, np.stack(frames)


def _translation(num_frames: int = 8, step: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A camera pan: every frame is the previous one shifted ``step`` px to the left."""
    wide = _texture(SIZE + step * num_frames, seed)[:SIZE]
    frames = np.stack([wide[:, step * t : step * t + SIZE] for t in range(num_frames + 1)])
    return frames[0], frames[1:]


def _item(generated, context, mask) -> ScoredItem:
    return ScoredItem("s", "full", generated, generated, context, mask, "move")


# -- background fidelity -----------------------------------------------------------------


def test_static_video_has_the_capped_background_psnr():
    context = _texture(SIZE, 0)
    static = np.repeat(context[None], 5, axis=0)
    assert BackgroundFidelity().score(_item(static, context, _mask())) == PSNR_CAP_DB


def test_changes_inside_the_mask_are_ignored():
    context, generated = _moving_square()
    assert background_psnr(generated, context, _mask()) == PSNR_CAP_DB
    generated[:, _mask()] = 0  # even a black hole inside the motion area
    assert background_psnr(generated, context, _mask()) == PSNR_CAP_DB


def test_changing_the_background_lowers_it():
    context, generated = _moving_square()
    rng = np.random.default_rng(0)
    values = []
    for noise in (2.0, 8.0, 30.0):
        noisy = np.clip(generated + rng.normal(0, noise, generated.shape), 0, 255).astype(np.uint8)
        values.append(background_psnr(noisy, context, _mask()))
    assert PSNR_CAP_DB > values[0] > values[1] > values[2]


def test_background_mse_matches_a_direct_formula():
    rng = np.random.default_rng(1)
    context = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    generated = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    mask = rng.random((16, 16)) < 0.3
    expected = [((g[~mask].astype(float) - context[~mask]) ** 2).mean() for g in generated]
    np.testing.assert_allclose(background_mse(generated, context, mask), expected)
    psnr = np.minimum(10 * np.log10(255.0**2 / np.array(expected)), PSNR_CAP_DB).mean()
    assert background_psnr(generated, context, mask) == pytest.approx(psnr)


def test_background_fidelity_is_undefined_without_background_or_mask():
    context, generated = _moving_square()
    with pytest.raises(MetricUndefined, match="no background"):
        BackgroundFidelity().score(_item(generated, context, np.ones((SIZE, SIZE), bool)))
    with pytest.raises(MetricUndefined, match="needs the GT motion-area mask"):
        BackgroundFidelity().score(_item(generated, context, None))


# -- dense flow ----------------------------------------------------------------------


def test_dense_flow_recovers_a_known_translation():
    context, generated = _translation(num_frames=3, step=2)
    flows = dense_flow(np.concatenate([context[None], generated]))
    assert flows.shape == (3, SIZE, SIZE, 2) and flows.dtype == np.float32
    inner = flows[:, 16:-16, 16:-16]  # new content enters at the right edge
    np.testing.assert_allclose(inner[..., 0].mean(), -2.0, atol=0.1)
    np.testing.assert_allclose(inner[..., 1].mean(), 0.0, atol=0.1)


def test_dense_flow_of_identical_frames_is_exactly_zero():
    frames = np.repeat(_texture(SIZE, 3)[None], 3, axis=0)
    assert not dense_flow(frames).any()


def test_dense_flow_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        dense_flow(np.zeros((3, 8, 8, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="at least 2"):
        dense_flow(np.zeros((1, 8, 8, 3), dtype=np.uint8))


# -- background motion ---------------------------------------------------------------


def test_static_video_has_exactly_zero_background_motion():
    context = _texture(SIZE, 0)
    static = np.repeat(context[None], 6, axis=0)
    assert BackgroundMotionRatio().score(_item(static, context, _mask())) == 0.0


def test_motion_only_inside_the_motion_area_gives_a_small_ratio():
    context, generated = _moving_square()
    assert background_motion_ratio(generated, context, _mask()) < 0.05


def test_global_translation_gives_a_ratio_near_one():
    for step in (1, 3):
        context, generated = _translation(step=step)
        assert background_motion_ratio(generated, context, _mask()) == pytest.approx(1.0, abs=0.1)


def _square_and_distractor() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The moving square, plus a small patch sliding down outside an asymmetric mask."""
    context, generated = _moving_square()
    patch = _texture(12, 7)
    for t in range(len(generated)):
        generated[t, 4 + t : 16 + t, 70:82] = patch
    mask = _mask()
    mask[:, : SIZE // 2 - 20] = False
    return context, generated, mask


def test_motion_outside_the_motion_area_raises_the_ratio():
    context, generated = _moving_square()
    clean = background_motion_ratio(generated, context, _mask())
    context, generated, mask = _square_and_distractor()
    assert background_motion_ratio(generated, context, mask) > clean + 0.05


@pytest.mark.parametrize("transform", ["transpose", "mirror"])
def test_ratio_is_invariant_to_transposing_or_mirroring_the_video(transform):
    # Farnebäck treats x and y alike and has symmetric kernels, so transposing or
    # mirroring every frame and the mask only transposes/mirrors the flow field; its
    # magnitudes, and the ratio, stay (up to float rounding in OpenCV's filters).
    context, generated, mask = _square_and_distractor()
    if transform == "transpose":
        moved = generated.transpose(0, 2, 1, 3), context.transpose(1, 0, 2), mask.T
    else:
        moved = generated[:, :, ::-1], context[:, ::-1], mask[:, ::-1]
    ratio = background_motion_ratio(generated, context, mask)
    assert ratio > 0.05  # enough background motion for the comparison to mean something
    assert background_motion_ratio(*map(np.ascontiguousarray, moved)) == pytest.approx(ratio, rel=0.01)


def test_ratio_is_nearly_invariant_to_a_brightness_offset():
    # Farnebäck's displacement comes from the local polynomials' linear and quadratic
    # terms; a constant offset only moves the constant term. So an exposure change that
    # is the same in every frame must not read as motion (up to uint8 rounding).
    context, generated = _moving_square()
    brighter = lambda a: np.clip(a.astype(int) + 20, 0, 255).astype(np.uint8)  # noqa: E731
    ratio = background_motion_ratio(generated, context, _mask())
    assert background_motion_ratio(brighter(generated), brighter(context), _mask()) == pytest.approx(ratio, rel=0.1)


def test_motion_ratio_rules_below_eps():
    mask = _mask(8)
    still = np.zeros((2, 8, 8), dtype=np.float32)
    assert motion_ratio(still, mask) == 0.0
    only_background = still.copy()
    only_background[:, ~mask] = 0.5
    assert motion_ratio(only_background, mask, eps=1e-3) == pytest.approx(0.5 / 1e-3)
    both = np.where(mask, 2.0, 0.5)[None].repeat(2, axis=0)
    assert motion_ratio(both, mask) == pytest.approx(0.25)


def test_ratio_pools_all_flows_before_dividing():
    # Flow 0: only background moves a little; flow 1: the hand moves a lot. Pooled, the
    # ratio is (0.1 / 2) / (4 / 2) = 0.025, not the mean of per-flow ratios (huge).
    mask = _mask(8)
    magnitudes = np.zeros((2, 8, 8), dtype=np.float32)
    magnitudes[0][~mask] = 0.1
    magnitudes[1][mask] = 4.0
    assert motion_ratio(magnitudes, mask) == pytest.approx(0.025)


def test_background_motion_is_undefined_without_a_usable_mask():
    context, generated = _moving_square()
    metric = BackgroundMotionRatio()
    with pytest.raises(MetricUndefined, match="needs the GT motion-area mask"):
        metric.score(_item(generated, context, None))
    with pytest.raises(MetricUndefined, match="empty"):
        metric.score(_item(generated, context, np.zeros((SIZE, SIZE), bool)))
    with pytest.raises(MetricUndefined, match="whole frame"):
        metric.score(_item(generated, context, np.ones((SIZE, SIZE), bool)))


def test_background_motion_config_records_the_flow_parameters():
    config = json.loads(json.dumps(BackgroundMotionRatio().config()))
    assert config["flow_params"] == {
        "pyr_scale": 0.5, "levels": 3, "winsize": 15, "iterations": 3, "poly_n": 5, "poly_sigma": 1.2,
        "flags": 0, "grayscale": "cv2.COLOR_RGB2GRAY",
    }
    assert FLOW_CONFIG.to_dict() == config["flow_params"]


# -- a real clip -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def epic_clip(shared_data):
    """EPIC-KITCHENS P01_01, 11 frames at 256x456: a hand reaching over a spice rack while
    the head-mounted camera moves. Motion area: the union of the hand's MediaPipe boxes."""
    folder = shared_data / "hands" / "videos" / "epic_P01_01_frames"
    frames = np.stack([cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(folder.glob("*.jpg"))])
    detections = json.loads((shared_data / "hands" / "detections.json").read_text())
    height, width = frames.shape[1:3]
    mask = np.zeros((height, width), dtype=bool)
    for frame in detections["files"]["videos/epic_P01_01_frames"]["frames"]:
        for hand in frame["hands"]:
            points = np.clip(np.array(hand["keypoints"]), 0, 1) * (width, height)
            (x0, y0), (x1, y1) = np.floor(points.min(0)).astype(int), np.ceil(points.max(0)).astype(int)
            mask[y0:y1, x0:x1] = True
    return frames[0], frames[1:], mask


def test_real_camera_motion_shows_as_background_motion(epic_clip):
    context, clip, mask = epic_clip
    # A "model" that moves only the hand: the real clip inside the motion area pasted on
    # the still context. It must score far better on both metrics than the real clip.
    pasted = np.where(mask[None, ..., None], clip, context[None])
    real_motion = background_motion_ratio(clip, context, mask)
    pasted_motion = background_motion_ratio(pasted, context, mask)
    assert real_motion > 0.3 and pasted_motion < 0.1
    assert background_psnr(pasted, context, mask) == PSNR_CAP_DB > background_psnr(clip, context, mask) + 50


def test_real_clip_at_the_ma_scope(epic_clip):
    context, clip, mask = epic_clip
    pasted = np.where(mask[None, ..., None], clip, context[None])
    scoped = {}
    for name, generated in (("real", clip), ("pasted", pasted)):
        gen, _, ctx, ma = apply_scope("ma", generated=generated, target=clip, context=context, motion_area=mask)
        scoped[name] = (background_motion_ratio(gen, ctx, ma), background_psnr(gen, ctx, ma))
    assert scoped["pasted"][0] < scoped["real"][0]
    assert scoped["pasted"][1] > scoped["real"][1]

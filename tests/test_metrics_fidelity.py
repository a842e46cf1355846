"""PSNR and SSIM: parity with torchmetrics' metric classes and with plain numpy formulas."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from scipy.signal import convolve2d
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from hcvg.frames import read_image, resize_center_crop
from metrics.base import ScoredItem
from metrics.psnr import PSNR, PSNR_CAP_DB, clip_psnr, frame_psnr, psnr_from_mse
from metrics.ssim import SSIM, clip_ssim, frame_ssim


def _clips(seed: int, num_frames: int = 4, size: int = 48, noise: float = 25.0) -> tuple[np.ndarray, np.ndarray]:
    """A random target and a noisy copy of it (so the values are in a realistic range)."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 256, (num_frames, size, size, 3), dtype=np.uint8)
    target = np.stack([cv2.GaussianBlur(frame, (0, 0), 1.5) for frame in target])  # some structure for SSIM
    generated = np.clip(target + rng.normal(0, noise, target.shape), 0, 255).astype(np.uint8)
    return generated, target


def _item(generated: np.ndarray, target: np.ndarray) -> ScoredItem:
    return ScoredItem("s", "full", generated, target, target[0], None, "do something")


def _nchw(frames: np.ndarray, dtype=torch.float64) -> torch.Tensor:
    return torch.from_numpy(frames).permute(0, 3, 1, 2).to(dtype)


# -- PSNR ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_psnr_matches_torchmetrics_class_and_numpy(seed):
    generated, target = _clips(seed)
    # The class with dim=(1, 2, 3) keeps one value per frame and averages them.
    reference = PeakSignalNoiseRatio(data_range=255.0, dim=(1, 2, 3))
    reference.update(_nchw(generated), _nchw(target))
    mse = ((generated.astype(np.float64) - target) ** 2).mean(axis=(1, 2, 3))
    by_hand = np.mean(10 * np.log10(255.0**2 / mse))
    value = PSNR().score(_item(generated, target))
    # torchmetrics takes log(data_range) in float32, hence ~1e-7 dB of difference.
    assert value == pytest.approx(float(reference.compute()), abs=1e-5)
    assert value == pytest.approx(by_hand, abs=1e-5)


def test_psnr_is_the_mean_of_per_frame_values_not_of_the_mean_mse():
    generated, target = _clips(0, noise=5.0)
    generated[0] = 255 - target[0]  # one ruined frame
    per_frame = frame_psnr(generated, target)
    assert clip_psnr(generated, target) == pytest.approx(per_frame.mean())
    pooled = 10 * np.log10(255.0**2 / ((generated.astype(float) - target) ** 2).mean())
    assert clip_psnr(generated, target) > pooled + 1.0


def test_identical_clip_scores_the_cap():
    _, target = _clips(1)
    assert PSNR().score(_item(target.copy(), target)) == PSNR_CAP_DB == 100.0
    assert PSNR(cap=60).score(_item(target.copy(), target)) == 60.0


def test_cap_applies_per_frame():
    generated, target = _clips(2)
    generated[1] = target[1]
    per_frame = frame_psnr(generated, target)
    assert per_frame[1] == PSNR_CAP_DB and np.all(per_frame[[0, 2, 3]] < 40)
    assert psnr_from_mse(np.array([0.0, 255.0**2])).tolist() == [100.0, 0.0]


def test_noisier_clip_scores_lower_psnr():
    values = [PSNR().score(_item(*_clips(3, noise=noise))) for noise in (2.0, 10.0, 40.0)]
    assert values[0] > values[1] > values[2]


def test_psnr_rejects_mismatched_clips():
    generated, target = _clips(0)
    with pytest.raises(ValueError, match="one shape"):
        clip_psnr(generated[:2], target)


# -- SSIM ----------------------------------------------------------------------------


def _ssim_numpy(x: np.ndarray, y: np.ndarray, size: int = 11, sigma: float = 1.5) -> float:
    """Wang et al. (2004) SSIM of two [H, W, C] images, Gaussian window, channels averaged.

    As torchmetrics (1.9) does: the images are reflect-padded by half the window, so
    the SSIM map has the image's size, and the whole map is averaged.
    """
    coords = np.arange(size) - (size - 1) / 2
    g = np.exp(-(coords**2) / (2 * sigma**2))
    window = np.outer(g, g) / g.sum() ** 2
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    maps = []
    pad = (size - 1) // 2
    for c in range(x.shape[-1]):
        a = np.pad(x[..., c].astype(np.float64), pad, mode="reflect")
        b = np.pad(y[..., c].astype(np.float64), pad, mode="reflect")
        filt = lambda img: convolve2d(img, window, mode="valid")  # noqa: E731
        mu_a, mu_b = filt(a), filt(b)
        var_a, var_b = filt(a * a) - mu_a**2, filt(b * b) - mu_b**2
        cov = filt(a * b) - mu_a * mu_b
        maps.append(((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)))
    return float(np.mean(maps))


@pytest.mark.parametrize("seed", range(3))
def test_ssim_matches_torchmetrics_class_and_numpy(seed):
    generated, target = _clips(seed)
    reference = StructuralSimilarityIndexMeasure(data_range=255.0)  # defaults: gaussian 11, sigma 1.5
    reference.set_dtype(torch.float64)  # its state defaults to float32 (`.double()` keeps it)
    reference.update(_nchw(generated), _nchw(target))
    by_hand = np.mean([_ssim_numpy(g, t) for g, t in zip(generated, target)])
    value = SSIM().score(_item(generated, target))
    # All three in float64: they agree to rounding.
    assert value == pytest.approx(float(reference.compute()), abs=1e-10)
    assert value == pytest.approx(by_hand, abs=1e-10)


@pytest.fixture(scope="module")
def real_clip(shared_data) -> np.ndarray:
    """Four consecutive EPIC-KITCHENS frames (P01_01), resized and center-cropped to 128².

    128² keeps float64 SSIM quick on a CPU and still has the flat regions (worktop,
    wall) where float32 variances cancel.
    """
    paths = sorted((shared_data / "hands/videos/epic_P01_01_frames").glob("*.jpg"))[:4]
    return np.stack([resize_center_crop(read_image(p), 128) for p in paths])


def test_identical_real_frames_have_ssim_one(real_clip):
    # In float32 these frames scored 1 - 2e-6 (at 256², up to 1 - 5e-5).
    per_frame = frame_ssim(real_clip.copy(), real_clip)
    assert np.all(np.abs(per_frame - 1.0) <= 1e-12), per_frame
    assert abs(SSIM().score(_item(real_clip.copy(), real_clip)) - 1.0) <= 1e-12


def test_ssim_of_a_real_pair_matches_the_references(real_clip):
    """Each frame against the next one: real motion, real texture, real flat regions."""
    generated, target = real_clip[:-1], real_clip[1:]
    per_frame = frame_ssim(generated, target)
    by_hand = np.array([_ssim_numpy(g, t) for g, t in zip(generated, target)])
    np.testing.assert_allclose(per_frame, by_hand, rtol=0, atol=1e-10)
    reference = StructuralSimilarityIndexMeasure(data_range=255.0)
    reference.set_dtype(torch.float64)
    reference.update(_nchw(generated), _nchw(target))
    assert SSIM().score(_item(generated, target)) == pytest.approx(float(reference.compute()), abs=1e-10)
    assert 0.2 < per_frame.min() and per_frame.max() < 0.999  # a real pair, neither unrelated nor identical


def test_noisier_clip_scores_lower_ssim():
    values = [SSIM().score(_item(*_clips(5, noise=noise))) for noise in (2.0, 10.0, 40.0)]
    assert 1.0 > values[0] > values[1] > values[2]


def test_ssim_is_the_mean_over_frames():
    generated, target = _clips(6, num_frames=3)
    per_frame = frame_ssim(generated, target)
    assert per_frame.shape == (3,)
    singles = [clip_ssim(generated[i : i + 1], target[i : i + 1]) for i in range(3)]
    np.testing.assert_allclose(per_frame, singles, atol=1e-6)  # batching changes nothing


def test_ssim_rejects_mismatched_clips():
    generated, target = _clips(0)
    with pytest.raises(ValueError, match="one shape"):
        clip_ssim(generated, target[..., :2])


# -- real frames -------------------------------------------------------------------------


def test_fidelity_orders_degradations_of_a_real_clip(shared_data):
    """EPIC-KITCHENS frames: the less a clip is degraded, the higher both metrics."""
    paths = sorted((shared_data / "hands/videos/epic_P01_01_frames").glob("*.jpg"))[:3]
    # The central 128² (float64 SSIM is slow on a CPU).
    target = np.stack([cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)[64:192, 164:292] for p in paths])
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 1.0) for f in target])
    more_blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 3.0) for f in target])
    previous = np.concatenate([target[:1], target[:-1]])  # a clip one step late: real motion
    for metric in (PSNR(), SSIM()):
        scores = [metric.score(_item(g, target)) for g in (target, blurred, more_blurred)]
        assert scores[0] > scores[1] > scores[2], (metric.name, scores)
        assert metric.score(_item(previous, target)) < scores[0]

"""The Fréchet distance against clean-fid's and torchmetrics' on the same feature sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics import frechet
from metrics.frechet import feature_statistics, frechet_distance, frechet_distance_from_features, statistics_from_sums
from tests.realistic_features import i3d_like, inception_like

RTOL = 1e-6


def _sets(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two correlated, shifted Gaussian feature sets, float64 ``[n, dim]``."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    a = rng.normal(size=(n, dim)) @ mixing
    b = rng.normal(size=(n, dim)) @ (mixing * 1.3) + 0.2
    return a, b


class _Identity(torch.nn.Module):
    """A torchmetrics "feature extractor" that passes features through."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _torchmetrics_fid(gen: np.ndarray, real: np.ndarray) -> float:
    """torchmetrics' FrechetInceptionDistance (its statistics and distance) on given features."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_Identity(gen.shape[1]))
    metric.update(torch.from_numpy(real), real=True)
    metric.update(torch.from_numpy(gen), real=False)
    return float(metric.compute())


CASES = {
    "full-rank": (400, 32),  # more samples than dimensions
    "rank-deficient": (12, 64),  # fewer samples than dimensions: singular covariances
    "rank-deficient-fvd-size": (30, 400),  # e.g. 30 videos of 400-d I3D logits
}


@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")  # clean-fid's sqrtm call
@pytest.mark.parametrize("case", sorted(CASES))
def test_equals_clean_fid_and_torchmetrics(case):
    from cleanfid.fid import frechet_distance as clean_fid_distance

    n, dim = CASES[case]
    gen, real = _sets(n, dim)
    ours = frechet_distance_from_features(gen, real)
    mu1, sigma1 = np.mean(gen, axis=0), np.cov(gen, rowvar=False)  # clean-fid's fid_from_feats
    mu2, sigma2 = np.mean(real, axis=0), np.cov(real, rowvar=False)
    reference = clean_fid_distance(mu1, sigma1, mu2, sigma2)
    assert np.isfinite(ours) and ours > 0
    assert ours == pytest.approx(reference, rel=RTOL)
    assert ours == pytest.approx(_torchmetrics_fid(gen, real), rel=RTOL)


def test_statistics_are_float64_mean_and_unbiased_covariance():
    gen, _ = _sets(50, 8)
    mu, sigma = feature_statistics(gen.astype(np.float32))
    assert mu.dtype == sigma.dtype == np.float64 and mu.shape == (8,) and sigma.shape == (8, 8)
    np.testing.assert_allclose(mu, gen.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(sigma, np.cov(gen, rowvar=False), rtol=1e-5, atol=1e-7)


def test_a_set_against_itself_is_zero():
    for n, dim in CASES.values():
        gen, _ = _sets(n, dim)
        mu, sigma = feature_statistics(gen)
        assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6 * np.trace(sigma)


def test_a_singular_product_takes_the_eps_offset_and_stays_finite(monkeypatch):
    gen, real = _sets(12, 64)
    mu1, sigma1 = feature_statistics(gen)
    mu2, sigma2 = feature_statistics(real)
    calls = []
    real_sqrtm = frechet._sqrtm_product

    def failing_first(s1, s2):  # the first (unregularized) square root "fails"
        calls.append(np.trace(s1))
        return np.full_like(s1, np.nan) if len(calls) == 1 else real_sqrtm(s1, s2)

    monkeypatch.setattr(frechet, "_sqrtm_product", failing_first)
    value = frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6)
    assert len(calls) == 2 and calls[1] == pytest.approx(calls[0] + 64 * 1e-6)
    assert np.isfinite(value)
    monkeypatch.undo()
    assert value == pytest.approx(frechet_distance(mu1, sigma1, mu2, sigma2), rel=1e-4)


def test_degenerate_inputs_are_refused():
    with pytest.raises(ValueError, match="at least 2"):
        feature_statistics(np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        feature_statistics(np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        feature_statistics(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="one D"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def _sums(rows: np.ndarray, chunk: int) -> tuple[int, np.ndarray, np.ndarray]:
    """n, Σx and Σx·xᵀ accumulated ``chunk`` rows at a time, as the metric state does."""
    rows = rows.astype(np.float64)
    s, ss = np.zeros(rows.shape[1]), np.zeros((rows.shape[1],) * 2)
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        s += part.sum(axis=0)
        ss += part.T @ part
    return len(rows), s, ss


@pytest.mark.parametrize(
    ("rows", "chunk"),
    [(inception_like(600), 15), (i3d_like(400), 1), (i3d_like(2000, seed=3) + 10.0, 7)],
    ids=["inception-pool3-frames", "i3d-clips", "i3d-clips-offset"],
)
def test_statistics_from_sums_equal_np_cov_on_realistic_features(rows, chunk):
    """No shift is needed: the sums' covariance is np.cov's to 1e-12 relative (measured ~1e-14)."""
    mu, sigma = statistics_from_sums(*_sums(rows, chunk))
    reference = np.cov(rows.astype(np.float64), rowvar=False)
    assert mu.dtype == sigma.dtype == np.float64
    np.testing.assert_allclose(mu, rows.astype(np.float64).mean(axis=0), rtol=1e-12, atol=0)
    assert np.abs(sigma - reference).max() <= 1e-12 * np.abs(reference).max()
    assert np.linalg.norm(sigma - reference) <= 1e-12 * np.linalg.norm(reference)
    # Each variance to 1e-12 of itself, so even a nearly constant dimension is right.
    np.testing.assert_allclose(np.diag(sigma), np.diag(reference), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(sigma, sigma.T)


def test_statistics_from_sums_refuse_bad_sums():
    with pytest.raises(ValueError, match="at least 2"):
        statistics_from_sums(1, np.zeros(3), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"\[D, D\]"):
        statistics_from_sums(4, np.zeros(3), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="NaN"):
        statistics_from_sums(4, np.array([0.0, np.inf]), np.zeros((2, 2)))

"""The handi / animate-anything / handi-tiny adapters: options, Table 2 switches, weights resolution."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers")

from adapters.handi_models import AnimateAnythingAdapter, HandiAdapter, HandiTinyAdapter  # noqa: E402
from adapters.testing import conformance_samples, requests_for  # noqa: E402
from hcvg.assets import AssetNotFoundError, resolve_asset  # noqa: E402
from handi.weights_assets import TINY_WEIGHTS_DIR  # noqa: E402

needs_tiny = pytest.mark.skipif(not (TINY_WEIGHTS_DIR / "unet").is_dir(), reason=f"no committed tiny weights at {TINY_WEIGHTS_DIR}")


@needs_tiny
def test_hrl_switch_loads_the_other_stage2_unet():
    samples = conformance_samples(count=1)
    videos = {}
    for hrl in ("on", "off"):
        adapter = HandiTinyAdapter(hrl=hrl, steps=2, device="cpu", mask="prior")
        adapter.load()
        try:
            videos[hrl] = adapter.generate(requests_for(adapter, samples))[0]
        finally:
            adapter.close()
    assert videos["on"].shape == videos["off"].shape == (15, 64, 64, 3)
    assert not np.array_equal(videos["on"], videos["off"])


def test_gt_mask_is_the_only_mode_that_reads_the_motion_area():
    assert HandiTinyAdapter(mask="gt").capabilities.needs_mask
    for mask in ("stage1", "prior", "none"):
        assert not HandiTinyAdapter(mask=mask).capabilities.needs_mask
    assert AnimateAnythingAdapter().mask == "none" and HandiAdapter().mask == "stage1"
    with pytest.raises(ValueError, match="mask must be"):
        HandiAdapter(mask="oracle")
    with pytest.raises(ValueError, match="hrl must be"):
        HandiAdapter(hrl="maybe")


@needs_tiny
def test_gt_mask_mode_conditions_on_the_requests_motion_area():
    samples = conformance_samples(count=1)
    adapter = HandiTinyAdapter(mask="gt", steps=2, device="cpu", enforce=True)
    requests = requests_for(adapter, samples)
    assert requests[0].motion_area is not None
    adapter.load()
    try:
        video = adapter.generate(requests)[0]
    finally:
        adapter.close()
    # Enforcement: far outside the (dilated) motion area the clip is the context, up to resizing.
    outside = ~_dilate(samples[0].motion_area, 12)
    if outside.any():
        diff = np.abs(video[:, outside].astype(int) - samples[0].context[outside].astype(int)).mean()
        assert diff < 12


def _dilate(mask, r):
    import cv2

    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)).astype(bool)


@needs_tiny
def test_stage1_without_mask_unet_is_a_clear_error(tmp_path):
    import shutil

    folder = tmp_path / "aa"
    shutil.copytree(TINY_WEIGHTS_DIR, folder)
    shutil.rmtree(folder / "mask_unet")
    adapter = HandiAdapter(weights=str(folder), device="cpu")
    with pytest.raises(ValueError, match="mask_unet"):
        adapter.load()
    aa = AnimateAnythingAdapter(weights=str(folder), steps=1, device="cpu")  # AnimateAnything needs no stage 1
    aa.load()
    aa.close()


def test_released_weights_missing_names_the_official_tarball(tmp_path, monkeypatch):
    monkeypatch.setenv("HCVG_ASSET_DIR", str(tmp_path))
    monkeypatch.delenv("HCVG_HANDI_WEIGHTS", raising=False)
    monkeypatch.delenv("HCVG_ANIMATE_ANYTHING", raising=False)
    with pytest.raises(AssetNotFoundError, match="IVG_1.0.tar.gz"):
        HandiAdapter(device="cpu").weights_dir()
    with pytest.raises(AssetNotFoundError, match="animate_anything_512_v1.02.tar"):
        AnimateAnythingAdapter(device="cpu").weights_dir()


def test_folder_assets_resolve_to_directories_only(tmp_path, monkeypatch):
    monkeypatch.setenv("HCVG_ASSET_DIR", str(tmp_path))
    (tmp_path / "IVG_1.0").write_text("not a folder")
    with pytest.raises(AssetNotFoundError):
        resolve_asset("handi-ivg")
    (tmp_path / "IVG_1.0").unlink()
    (tmp_path / "IVG_1.0").mkdir()
    assert resolve_asset("handi-ivg") == tmp_path / "IVG_1.0"


@needs_tiny
def test_tiny_weights_fit_the_budget():
    size = sum(f.stat().st_size for f in TINY_WEIGHTS_DIR.rglob("*") if f.is_file())
    assert size < 20e6, f"handi-tiny is {size / 1e6:.1f} MB; the committed checkpoints must stay under 20 MB"
    assert {"vae", "text_encoder", "scheduler", "mask_unet", "unet", "unet_no_hrl"} <= {p.name for p in TINY_WEIGHTS_DIR.iterdir()}
    assert (TINY_WEIGHTS_DIR / "prior_mask.npy").is_file() and (TINY_WEIGHTS_DIR / "TRAINING.json").is_file()


def test_release_tarball_extracts_to_the_asset_folder(tmp_path):
    import io
    import tarfile

    from benchmark.asset_fetch import extract_folder

    archive = tmp_path / "IVG_1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("IVG.1.0/unet/config.json", "IVG.1.0/vae/config.json"):
            data = b"{}"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    dest = extract_folder(archive, tmp_path / "IVG_1.0")
    assert (dest / "unet" / "config.json").is_file() and not archive.exists()
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(tarfile.TarError):
        extract_folder(evil, tmp_path / "evil")
    assert not (tmp_path.parent / "outside.txt").exists()


def test_mask_none_option_from_the_cli_means_no_mask():
    """Options arrive as strings ("none"); the coercion must not turn the Table 2 value into the default."""
    from adapters.registry import create_adapter

    assert create_adapter("handi-tiny", mask="none").mask == "none"
    assert create_adapter("handi", mask="none").mask == "none"
    assert create_adapter("animate-anything").mask == "none"
    assert create_adapter("handi").mask == "stage1"

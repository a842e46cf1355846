"""The diffusers adapter base: weights resolution without a network, and context fitting in and out."""

import json
from pathlib import Path

import numpy as np
import pytest

from adapters.diffusers_video.base import INVERSE_SPATIAL, fit_context, resolve_pipeline_folder
from adapters.fitting import Fitting, fit_size
from hcvg.assets import AssetNotFoundError, resolve_asset


def _context(size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    return np.kron(small, np.ones((size // 8, size // 8, 1), dtype=np.uint8))  # blocky: survives resizing


@pytest.mark.parametrize("policy", ["resize", "pad", "center-crop"])
def test_fit_context_gives_the_native_size(policy):
    assert fit_context(_context(), (48, 80), policy).shape == (48, 80, 3)


def test_pad_letterboxes_and_the_output_policy_removes_the_bars_again():
    context = _context()
    padded = fit_context(context, (64, 128), "pad")
    assert (padded[:, :32] == 0).all() and (padded[:, 96:] == 0).all()
    assert np.array_equal(padded[:, 32:96], context)
    back = fit_size(padded[None], (64, 64), Fitting(spatial=INVERSE_SPATIAL["pad"]))[0]
    assert np.array_equal(back, context)


def test_resize_round_trip_keeps_the_scene():
    context = _context()
    native = fit_context(context, (48, 96), "resize")
    back = fit_size(native[None], (64, 64), Fitting(spatial=INVERSE_SPATIAL["resize"]))[0]
    assert np.abs(back.astype(int) - context.astype(int)).mean() < 12


def test_center_crop_covers_and_the_output_policy_puts_the_crop_back_in_place():
    context = _context()
    cropped = fit_context(context, (32, 64), "center-crop")  # covering 32x64 keeps 64x64: the middle 32 rows
    assert np.array_equal(cropped, context[16:48])
    back = fit_size(cropped[None], (64, 64), Fitting(spatial=INVERSE_SPATIAL["center-crop"]))[0]
    assert np.array_equal(back[16:48], context[16:48]) and (back[:16] == 0).all()


def _hub_cache_with(cache: Path, repo: str, files: dict[str, str]) -> Path:
    """A hub cache holding one snapshot of ``repo``, in huggingface_hub's own layout."""
    commit = "b" * 40
    repo_dir = cache / ("models--" + repo.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / commit
    for name, text in files.items():
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / name).write_text(text)
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    return snapshot


def test_a_hub_id_resolves_to_its_cached_snapshot_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    snapshot = _hub_cache_with(tmp_path / "hub", "THUDM/CogVideoX-5b", {"model_index.json": json.dumps({"_class_name": "CogVideoXPipeline"})})
    assert resolve_pipeline_folder("THUDM/CogVideoX-5b", what="cogvideox-t2v") == snapshot
    # The declared asset finds the same folder through its model_index.json.
    monkeypatch.setenv("HCVG_ASSET_DIR", str(tmp_path / "assets"))
    assert resolve_asset("cogvideox-5b") == snapshot


def test_a_missing_hub_model_is_one_error_naming_the_id_the_cache_and_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(AssetNotFoundError) as err:
        resolve_pipeline_folder("THUDM/CogVideoX-5b-I2V", what="cogvideox-i2v")
    message = str(err.value)
    assert "THUDM/CogVideoX-5b-I2V" in message and str(tmp_path / "hub") in message
    assert "hcvg assets fetch cogvideox-5b-i2v" in message
    with pytest.raises(AssetNotFoundError, match="hf download someone/unknown"):
        resolve_pipeline_folder("someone/unknown", what="diffusers-i2v")


def test_a_model_that_is_neither_folder_nor_hub_id_is_named(tmp_path):
    with pytest.raises(AssetNotFoundError, match="neither an existing folder nor a hub id"):
        resolve_pipeline_folder(str(tmp_path / "no" / "such" / "folder"), what="pia")

"""The `avdc` adapter at a tiny size: its declarations, its errors, a run on the demo split.

The adapter contract itself (`check_adapter` on `AVDCAdapter.for_tests()`) runs in
tests/test_adapters.py, which checks every registered adapter.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from adapters.avdc.adapter import AVDCAdapter
from adapters.avdc.convert import CheckpointConversionError, load_official_checkpoint
from adapters.avdc.tiny import tiny_weights_folder
from hcvg.assets import AssetNotFoundError


def test_describe_records_the_native_to_benchmark_mapping():
    described = AVDCAdapter.for_tests().describe()
    assert described["native"]["frames"] == 15 and described["native"]["steps"] == 2
    fitting = described["fitting"]
    assert fitting["spatial"] == "resize" and fitting["temporal"] == "even"
    assert fitting["trained_at"] == {"variant": "tiny", "height": 16, "width": 16, "frames": 3}
    assert fitting["sampler"].startswith("DDIM")
    bridge = AVDCAdapter(device="cpu").describe()
    assert bridge["native"]["size"] == [48, 64] or bridge["native"]["size"] == (48, 64)
    assert bridge["native"]["steps"] == 100 and bridge["native"]["guidance"] == 0.0
    assert bridge["fitting"]["sampler"] == "DDPM, 100 steps"
    assert json.loads(json.dumps(bridge))["options"]["variant"] == "bridge"


def test_missing_official_checkpoint_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HCVG_ASSET_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HCVG_AVDC_BRIDGE", raising=False)
    adapter = AVDCAdapter(device="cpu")
    with pytest.raises(AssetNotFoundError, match="hcvg assets fetch avdc-bridge"):
        adapter.load()


def test_a_file_of_another_model_is_refused(tmp_path):
    path = tmp_path / "model-1.pt"
    torch.save({"model": {"net.weight": torch.zeros(2)}, "ema": {}}, path)
    with pytest.raises(CheckpointConversionError, match="model.unet"):
        load_official_checkpoint(path, {}, source="model")


def test_hcvg_run_on_the_demo_split(tmp_path):
    from benchmark.cli.main import main

    spec = f"avdc:variant=tiny,weights={tiny_weights_folder()},steps=2,height=8,width=8,device=cpu"
    code = main(["run", "--adapters", spec, "--splits", "demo:num_samples=1", "--metrics", "psnr", "--out", str(tmp_path / "run"), "--no-progress"])
    assert code == 0
    scores = pd.read_parquet(tmp_path / "run" / "scores.parquet")
    assert set(scores.adapter) == {"avdc"} and scores.value.notna().all()

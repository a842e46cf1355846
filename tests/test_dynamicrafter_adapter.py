"""The `dynamicrafter` adapter: its declarations, its weights, and a run end to end.

The conformance checks (`check_adapter` on ``for_tests()``) run for every registered
adapter in tests/test_adapters.py; here, what is particular to this one.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from adapters.dynamicrafter.adapter import DynamiCrafterAdapter, tiny_checkpoint
from adapters.dynamicrafter.convert import CheckpointError, load_checkpoint
from adapters.shared_encoders import shared_encoder_keys
from adapters.testing import conformance_samples, requests_for
from hcvg.assets import AssetNotFoundError
from tests.parity.seeded_weights import load_key_list, seeded_state_dict

FIXTURES = Path(__file__).parent / "fixtures" / "parity" / "dynamicrafter"
TINY = {"config": "tiny", "steps": 1, "height": 16, "width": 16, "device": "cpu"}


@pytest.fixture(scope="module")
def released_tiny(tmp_path_factory) -> Path:
    """A tiny checkpoint in the released format: a Lightning dict over upstream's key names."""
    keys, _ = load_key_list(FIXTURES / "tiny_keys.json")
    path = tmp_path_factory.mktemp("dynamicrafter") / "model.ckpt"
    torch.save({"state_dict": seeded_state_dict(keys, 3), "epoch": 7, "global_step": 1000}, path)
    return path


def test_describe_says_how_native_output_becomes_the_benchmark_clip():
    described = json.loads(json.dumps(DynamiCrafterAdapter().describe()))
    assert described["native"]["size"] == [256, 256] and described["native"]["frames"] == 16
    assert (described["native"]["steps"], described["native"]["guidance"]) == (50, 7.5)
    fitting = described["fitting"]
    assert fitting["drop_context"] is True and fitting["temporal"] == "even" and fitting["spatial"] == "resize"
    assert "16 frames at 256x256" in fitting["native_to_benchmark"] and "frame 0" in fitting["native_to_benchmark"]
    assert fitting["frame_stride"].startswith("3 ")
    options = described["options"]
    assert options["eta"] == 1.0 and options["frame_stride"] == 3 and options["negative_prompt"] == ""
    assert "c453369367122d7fbb0aa38f124e76dc8fe2a91c" in options["implementation"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"offload": "sequential"}, "offload='sequential' is not supported"),
        ({"height": 250}, "multiples of 64"),
        ({"config": "huge"}, "config must be one of published, tiny"),
        ({"input_fit": "stretch"}, "input_fit must be one of"),
        ({"frames": 1}, "frames must be >= 2"),
    ],
)
def test_bad_options_fail_at_construction_naming_the_option(options, message):
    with pytest.raises(ValueError, match=message):
        DynamiCrafterAdapter(**options)


def test_unknown_attention_backend_fails_before_reading_weights():
    adapter = DynamiCrafterAdapter(checkpoint="/nonexistent/model.ckpt", attention="warp-drive", **{k: v for k, v in TINY.items()})
    with pytest.raises(ValueError, match="not a diffusers attention backend"):
        adapter.load()


def test_missing_checkpoint_names_the_file_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HCVG_ASSET_DIR", str(tmp_path / "assets"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HCVG_DYNAMICRAFTER_256", raising=False)
    with pytest.raises(AssetNotFoundError) as err:
        DynamiCrafterAdapter().load()
    message = str(err.value)
    assert "Doubiiu/DynamiCrafter/model.ckpt" in message and "hcvg assets fetch dynamicrafter-256" in message
    assert "HCVG_DYNAMICRAFTER_256" in message and "checkpoint=" in message
    with pytest.raises(AssetNotFoundError, match="explicit path"):
        DynamiCrafterAdapter(checkpoint=str(tmp_path / "absent.ckpt")).load()


def test_checkpoint_that_needs_unpickling_code_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": Path("not/a/tensor")}, path)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_checkpoint(path)


def test_released_format_loads_through_the_converter_and_generates(released_tiny):
    from adapters.dynamicrafter.config import TINY as TINY_CONFIG
    from adapters.dynamicrafter.convert import convert_checkpoint

    adapter = DynamiCrafterAdapter(checkpoint=str(released_tiny), **TINY)
    adapter.load()
    try:
        expected = convert_checkpoint(load_checkpoint(released_tiny), TINY_CONFIG)
        loaded = adapter.pipe.unet.state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in expected["unet"].items())
        clip = adapter.pipe.conditioner.clip.state_dict()
        assert all(torch.equal(clip[k], v) for k, v in expected["clip"].items())
        (video,) = adapter.generate(requests_for(adapter, conformance_samples(1, size=24)))
        assert video.shape == (15, 24, 24, 3) and video.dtype == np.uint8
    finally:
        adapter.close()


def test_two_adapters_on_one_checkpoint_share_one_openclip(released_tiny):
    first, second = DynamiCrafterAdapter(checkpoint=str(released_tiny), **TINY), DynamiCrafterAdapter(checkpoint=str(released_tiny), frame_stride=5, **TINY)
    first.load()
    second.load()
    try:
        assert first.pipe.conditioner is second.pipe.conditioner
        assert first.pipe.unet is not second.pipe.unet
        assert first._shared_key in shared_encoder_keys()
    finally:
        first.close()
        second.close()
    gc.collect()
    assert first._shared_key not in shared_encoder_keys()


# Builds the demo split (its hand detector included) before generating: over 20 s on a busy CPU.
@pytest.mark.slow
def test_hcvg_run_generates_and_scores_the_demo_split(tmp_path):
    from benchmark.cli.main import main

    spec = f"dynamicrafter:checkpoint={tiny_checkpoint()},config=tiny,steps=1,height=16,width=16,device=cpu"
    out = tmp_path / "run"
    code = main(["run", "--adapters", spec, "--splits", "demo:num_samples=2", "--metrics", "psnr", "--batch-size", "1",
                 "--no-progress", "--out", str(out)])
    assert code == 0
    summary = pd.read_parquet(out / "summary.parquet")
    assert set(summary.adapter) == {"dynamicrafter"} and set(summary.metric) == {"psnr"}
    assert (summary.n == 2).all()

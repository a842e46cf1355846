"""The Open-Sora adapters: declarations, options, weights errors, image conditioning, sharing T5, a CLI run.

Conformance (`check_adapter` at the tiny config) runs in tests/test_adapters.py, which
checks every registered adapter.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from adapters.opensora import config
from adapters.opensora.adapter import OpenSoraAdapter, OpenSoraTextToVideoAdapter
from adapters.opensora.convert import CheckpointKeyError, convert_stdit3, load_into
from adapters.opensora.sampler import RectifiedFlowSampler, apply_references, parse_mask_strategy
from adapters.opensora.stdit3 import STDiT3Model
from adapters.shared_encoders import shared_encoder_keys
from hcvg.assets import AssetNotFoundError


def test_describe_records_the_native_to_benchmark_mapping():
    described = json.loads(json.dumps(OpenSoraAdapter().describe()))
    assert described["native"] == {"size": [256, 256], "frames": 51, "fps": 24.0, "steps": 30, "guidance": 7.0}
    assert described["fitting"]["drop_context"] is True and described["fitting"]["temporal"] == "even"
    assert "latent frame 0" in described["fitting"]["context"]
    assert "aesthetic score: 6.5." in described["fitting"]["prompt"]
    assert config.UPSTREAM_COMMIT in described["options"]["upstream"]
    t2v = OpenSoraTextToVideoAdapter().describe()
    assert t2v["capabilities"]["needs_image"] is False and t2v["fitting"]["drop_context"] is False


@pytest.mark.parametrize("options, message", [
    ({"frames": 16}, "multiple of 17"),
    ({"offload": "sequential"}, "no sequential offload"),
    ({"attention": "xformers"}, "attention must be one of"),
    ({"offload": "model", "device": "cpu"}, "CUDA"),
])
def test_bad_options_are_clear_errors(options, message):
    with pytest.raises(ValueError, match=message):
        OpenSoraAdapter(**options)


def test_missing_weights_name_the_file_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HCVG_ASSET_DIR", str(tmp_path / "assets"))
    monkeypatch.delenv("HCVG_OPENSORA_STDIT3", raising=False)
    with pytest.raises(AssetNotFoundError, match="opensora-stdit-v3") as error:
        OpenSoraAdapter(device="cpu").load()
    assert "hpcai-tech/OpenSora-STDiT-v3" in str(error.value) and "transformer=" in str(error.value)
    with pytest.raises(AssetNotFoundError, match="explicit path"):
        OpenSoraAdapter(transformer=str(tmp_path / "none.safetensors"), device="cpu").load()


def test_converter_lists_unmapped_and_missing_keys():
    with pytest.raises(CheckpointKeyError, match="no place for: spatial_blocks.0.attn.extra.weight"):
        convert_stdit3({"spatial_blocks.0.attn.extra.weight": torch.zeros(1)})
    model = STDiT3Model(**config.STDIT3_TINY)
    native = dict(model.state_dict())
    del native["proj_out.bias"]
    with pytest.raises(CheckpointKeyError, match=r"missing \(1\): proj_out.bias"):
        load_into(model, native, "tiny")


def test_mask_strategy_places_the_reference_and_keeps_it_through_sampling():
    assert parse_mask_strategy("0", 5, [1]) == [(0, 0, 0, 1, 0.0)]
    assert parse_mask_strategy("0,0,0,-1,1,0.5", 5, [1]) == [(0, 0, 4, 1, 0.5)]
    with pytest.raises(ValueError, match="reference 1 asked for"):
        parse_mask_strategy("0,1", 5, [1])
    noise = torch.randn(4, 5, 4, 4, generator=torch.Generator().manual_seed(0))
    reference = torch.randn(4, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    latents, mask = apply_references(noise, [reference])
    assert torch.equal(latents[:, :1], reference) and torch.equal(latents[:, 1:], noise[:, 1:])
    assert mask.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]

    torch.manual_seed(0)
    model = STDiT3Model(**config.STDIT3_TINY).eval()
    captions = torch.randn(2, config.STDIT3_TINY["caption_tokens"], config.STDIT3_TINY["caption_channels"])

    def denoise(z, t, frames):
        return model(z, t, captions, None, height=32, width=32, frame_mask=frames).sample[:, :4]

    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        out = RectifiedFlowSampler(num_steps=2).sample(denoise, latents[None], 32, 32, 17, mask[None],
                                                       lambda like: torch.randn(like.shape, generator=generator))
    assert torch.equal(out[0, :, :1], reference), "the reference frame must come out as given (edit ratio 0)"
    assert not torch.allclose(out[0, :, 1:], noise[:, 1:]), "the other frames are generated"


def test_two_adapters_share_one_t5_encoder():
    first, second = OpenSoraAdapter.for_tests(), OpenSoraTextToVideoAdapter.for_tests()
    first.load()
    second.load()
    try:
        assert first.pipe.captions.encoder is second.pipe.captions.encoder
        assert any(key[0] == "t5-v1_1-xxl" for key in shared_encoder_keys())
        assert first.pipe.transformer is not second.pipe.transformer
    finally:
        first.close()
        second.close()


@pytest.mark.slow
def test_hcvg_run_on_the_demo_split_end_to_end(tmp_path):
    """``hcvg run --adapters open-sora open-sora-t2v`` with tiny weights: every cell generated and scored."""
    from benchmark.cli.main import main

    tiny = OpenSoraAdapter.for_tests()
    weights = ",".join(f"{k}={v}" for k, v in tiny.paths.items())
    settings = "model_config=tiny,steps=2,height=16,width=16,frames=17,device=cpu"
    out = tmp_path / "run"
    code = main([
        "run", "--adapters", f"open-sora:{weights},{settings}", f"open-sora-t2v:{weights},{settings}",
        "--splits", "demo:num_samples=2", "--metrics", "psnr", "--scopes", "full", "--no-progress", "--out", str(out),
    ])
    assert code == 0
    scores = pd.read_parquet(out / "scores.parquet")
    assert set(scores.adapter) == {"open-sora", "open-sora-t2v"}
    assert len(scores) == 4 and np.isfinite(scores.value).all()

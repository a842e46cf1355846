"""The `lfdm` adapter: conformance at a tiny size, the released-file path, the text encoder, an `hcvg run`."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch

from adapters.lfdm.adapter import LFDMAdapter
from adapters.lfdm.config import TINY
from adapters.lfdm.convert import UNET_PREFIX, split_lfae_keys, unet_key_to_upstream
from adapters.lfdm.sampler import NoiseSchedule
from adapters.lfdm.text import bert_embed
from adapters.lfdm.tiny import tiny_bert, tiny_pipeline
from adapters.testing import conformance_samples
from hcvg.adapter import make_request
from hcvg.assets import AssetNotFoundError


@pytest.fixture(scope="module")
def adapter():
    return LFDMAdapter.for_tests()


# check_adapter on LFDMAdapter.for_tests() runs in tests/test_adapters.py (test_registered_adapter_conforms[lfdm]).


def test_describe_records_the_native_to_benchmark_mapping(adapter):
    described = adapter.describe()
    assert tuple(described["native"]["size"]) == (TINY.image_size, TINY.image_size)
    assert described["native"]["frames"] == 16
    assert described["fitting"]["drop_context"] is True
    assert described["fitting"]["temporal"] == "even"
    # The released model's declaration: 128², 40 frames, 1000 ancestral steps, no guidance.
    released = LFDMAdapter().describe()
    assert released["native"] == {"size": (128, 128), "frames": 40, "fps": None, "steps": 1000, "guidance": None}
    assert released["fitting"]["sampler"] == "ancestral (DDPM), 1000 steps"


def test_bert_embedding_is_the_masked_mean_after_cls():
    model, tokenizer = tiny_bert()
    prompts = ["cut carrot", "a hand opens the door"]
    embedded = bert_embed(model, tokenizer, prompts)
    ids = tokenizer(prompts, padding=True, return_tensors="pt").input_ids
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=ids != 0).last_hidden_state
    for i in range(2):
        kept = int((ids[i] != 0).sum())  # [CLS] w... [SEP]: mean over positions 1..kept-1
        torch.testing.assert_close(embedded[i], hidden[i, 1:kept].mean(dim=0), atol=1e-5, rtol=1e-5)
    assert embedded.shape == (2, 32)


def test_released_files_load_through_the_converter(tmp_path, monkeypatch):
    """A pair of files in the released layout (keys by upstream names) drives the adapter end to end."""
    pipe = tiny_pipeline(seed=3)
    # Write the files the way the authors' training scripts do.
    lfae = split_lfae_keys(pipe.lfae.state_dict())
    torch.save({**lfae, "optimizer": {}, "example": 0, "epoch": 100}, tmp_path / "RegionMM.pth")
    diffusion = {UNET_PREFIX + unet_key_to_upstream(k): v for k, v in pipe.unet.state_dict().items()}
    diffusion.update(NoiseSchedule(1000).as_buffers())
    diffusion.update({UNET_PREFIX + k: torch.zeros(4) for k in ("downs.0.3.fn.fn.fn.rotary_emb.freqs",)})
    with pytest.raises(Exception, match="rotary_emb.freqs"):  # a wrong constant is refused
        _load_released(tmp_path, diffusion, pipe, monkeypatch)
    from adapters.lfdm.unet import rotary_frequencies

    diffusion[UNET_PREFIX + "downs.0.3.fn.fn.fn.rotary_emb.freqs"] = rotary_frequencies(8)
    adapter = _load_released(tmp_path, diffusion, pipe, monkeypatch)
    for name, value in pipe.unet.state_dict().items():
        torch.testing.assert_close(adapter.pipe.unet.state_dict()[name], value, atol=0, rtol=0)
    request = make_request(conformance_samples(1, size=64)[0], adapter.capabilities, seed=1)
    video = adapter.generate([request])[0]
    assert video.shape == (15, 64, 64, 3) and video.dtype == np.uint8
    adapter.close()


def _load_released(tmp_path, diffusion, pipe, monkeypatch) -> LFDMAdapter:
    torch.save({"diffusion": diffusion, "optimizer_diff": {}, "example": 0}, tmp_path / "flowdiff.pth")
    text = tmp_path / "bert"
    pipe.text_encoder.save_pretrained(text)
    pipe.tokenizer.save_pretrained(text)
    # The released path builds the published config; point it at the tiny one for the test.
    import adapters.lfdm.config as config_module

    monkeypatch.setitem(config_module.PUBLISHED, "mug", TINY)
    adapter = LFDMAdapter(lfae=str(tmp_path / "RegionMM.pth"), dm=str(tmp_path / "flowdiff.pth"), text_encoder=str(text),
                          steps=2, frames=16, device="cpu")
    adapter.load()
    return adapter


def test_missing_released_weights_name_the_file_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HCVG_ASSET_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HCVG_LFDM_MHAD_LFAE", raising=False)
    adapter = LFDMAdapter(dataset="mhad", device="cpu")
    with pytest.raises(AssetNotFoundError, match=r"lfdm-mhad-lfae(.|\n)*drive.google.com(.|\n)*lfae=/path/to/file"):
        adapter.load()


def test_weights_folder_round_trips_through_save_pretrained(tmp_path):
    from adapters.lfdm.pipeline import LFDMPipeline

    pipe = tiny_pipeline(seed=5)
    pipe.save_pretrained(tmp_path / "w")
    loaded = LFDMPipeline.from_pretrained(tmp_path / "w")
    assert loaded.config == pipe.config
    for name, value in pipe.unet.state_dict().items():
        assert torch.equal(loaded.unet.state_dict()[name], value), name
    assert json.loads((tmp_path / "w" / "lfdm_config.json").read_text())["unet"] == dataclasses.asdict(TINY.unet) | {"dim_mults": list(TINY.unet.dim_mults)}


@pytest.mark.slow  # ~25 s: the demo split, generation and scoring
def test_hcvg_run_on_the_demo_split_with_tiny_lfdm(tmp_path, adapter):
    from benchmark.cli.main import main

    options = f"lfdm:weights={adapter.weights},steps=2,frames=16,device=cpu"
    code = main(["run", "--adapters", options, "--splits", "demo:num_samples=2", "--metrics", "psnr",
                 "--batch-size", "1", "--no-progress", "--out", str(tmp_path / "run")])
    assert code in (0, None)
    summary = pd.read_parquet(tmp_path / "run" / "summary.parquet")
    assert set(summary.adapter) == {"lfdm"}
    assert summary["n"].max() == 2


def test_frames_decoded_in_chunks_equal_frame_by_frame():
    pipe = tiny_pipeline(seed=1)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))

    def run(frames_per_call: int) -> torch.Tensor:
        pipe.frames_per_call = frames_per_call
        return pipe(images, ["cut carrot", "open door"], [torch.Generator().manual_seed(i) for i in range(2)], num_frames=6, steps=2)

    batched = run(4)
    assert batched.shape == (2, 6, 3, 32, 32)
    torch.testing.assert_close(batched, run(1), atol=1e-6, rtol=1e-6)


@pytest.mark.slow  # builds the 42.7 M UNet and the full LFAE on the CPU
def test_published_size_pipeline_and_training_loss_run():
    from adapters.lfdm.config import PUBLISHED_MUG
    from adapters.lfdm.pipeline import LFDMPipeline
    from adapters.lfdm.training import LFDMTrainable

    torch.manual_seed(0)
    pipe = LFDMPipeline.from_config(PUBLISHED_MUG)
    pipe.text_encoder, pipe.tokenizer = tiny_bert(hidden_size=768)
    images = torch.rand(1, 3, 128, 128)
    video = pipe(images, ["cut carrot"], [torch.Generator().manual_seed(0)], num_frames=4, steps=1)
    assert video.shape == (1, 4, 3, 128, 128) and bool(torch.isfinite(video).all())
    loss = LFDMTrainable(pipe).training_loss({"video": torch.rand(1, 3, 4, 128, 128), "prompts": ["cut carrot"]}, torch.Generator().manual_seed(0))
    loss.backward()
    assert bool(torch.isfinite(loss)) and pipe.unet.conv_in.weight.grad is not None

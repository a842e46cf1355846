"""EgoVLP (Frozen in Time): official checkpoint keys, forward parity, extractors and score."""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from metrics.base import ScoredItem
from metrics.egovlp_score import EgoVLPScore, embedding_cosine
from metrics.features.egovlp import (
    EgoVLPBackbone,
    EgoVLPTextExtractor,
    EgoVLPVideoExtractor,
    FrozenInTime,
    load_egovlp_state_dict,
    tiny_egovlp_config,
)
from metrics.features.image_preprocessing import resample_indices

FIXTURE = Path(__file__).parent / "fixtures" / "egovlp_keys.txt"


def _official_keys() -> list[str]:
    return [line for line in FIXTURE.read_text().splitlines() if line and not line.startswith("#")]


def test_full_size_state_dict_keys_equal_the_official_checkpoints():
    with torch.device("meta"):  # full-size architecture, no memory for weights
        model = FrozenInTime(num_frames=16)
    ours = ["module." + k for k in model.state_dict()]
    assert ours == _official_keys()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["video_model.temporal_embed"] == (1, 16, 768)
    assert shapes["video_model.pos_embed"] == (1, 197, 768)
    assert shapes["text_model.embeddings.word_embeddings.weight"] == (30522, 768)
    assert shapes["txt_proj.1.weight"] == (256, 768) and shapes["vid_proj.0.weight"] == (256, 768)


def test_checkpoint_loads_by_its_own_keys_despite_pickled_training_state(tmp_path):
    model = FrozenInTime(**tiny_egovlp_config())
    # Official checkpoints pickle EgoVLP's ConfigParser beside the weights; make one that
    # cannot be imported when loading.
    fake = types.ModuleType("parse_config")
    exec("class ConfigParser:\n    def __init__(self):\n        self.config = {'arch': 'FrozenInTime'}", fake.__dict__)
    sys.modules["parse_config"] = fake
    try:
        checkpoint = {
            "arch": "FrozenInTime",
            "state_dict": {"module." + k: v for k, v in model.state_dict().items()},
            "config": fake.ConfigParser(),
        }
        torch.save(checkpoint, tmp_path / "egovlp.pth", pickle_protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        del sys.modules["parse_config"]
    state = load_egovlp_state_dict(tmp_path / "egovlp.pth")
    reloaded = FrozenInTime(**tiny_egovlp_config())
    reloaded.load_state_dict(state, strict=True)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[key], value)


def test_video_tower_matches_the_official_einops_forward():
    einops = pytest.importorskip("einops")
    rearrange, repeat = einops.rearrange, einops.repeat

    def attn(q, k, v):
        return (q @ k.transpose(1, 2)).softmax(-1) @ v

    # VarAttention.forward of model/video_transformer.py, verbatim in its einops form.
    def var_attention(m, x, einops_from, einops_to, **dims):
        h = m.num_heads
        q, k, v = m.qkv(x).chunk(3, dim=-1)
        q, k, v = (rearrange(t, "b n (h d) -> (b h) n d", h=h) for t in (q, k, v))
        q = q * m.scale
        (cls_q, q_), (cls_k, k_), (cls_v, v_) = ((t[:, 0:1], t[:, 1:]) for t in (q, k, v))
        cls_out = attn(cls_q, k, v)
        q_, k_, v_ = (rearrange(t, f"{einops_from} -> {einops_to}", **dims) for t in (q_, k_, v_))
        r = q_.shape[0] // cls_k.shape[0]
        cls_k, cls_v = (repeat(t, "b () d -> (b r) () d", r=r) for t in (cls_k, cls_v))
        out = attn(q_, torch.cat((cls_k, k_), 1), torch.cat((cls_v, v_), 1))
        out = torch.cat((cls_out, rearrange(out, f"{einops_to} -> {einops_from}", **dims)), dim=1)
        return m.proj(rearrange(out, "(b h) n d -> b n (h d)", h=h))

    torch.manual_seed(0)
    vm = FrozenInTime(**tiny_egovlp_config(num_frames=4)).video_model.eval()
    for p in vm.parameters():
        torch.nn.init.normal_(p, std=0.2)  # no zero-initialized shortcut hides a mistake
    video = torch.randn(2, 3, 3, 32, 32)  # fewer frames than num_frames, as the official code allows
    with torch.no_grad():
        x = vm.patch_embed(video).flatten(2).transpose(2, 1).reshape(2, -1, vm.embed_dim)
        x = torch.cat((vm.cls_token.expand(2, -1, -1), x), dim=1)
        tiled = vm.pos_embed[:, 1:].repeat(1, vm.num_frames, 1) + vm.temporal_embed.repeat_interleave(vm.patches_per_frame, 1)
        x = x + torch.cat((vm.pos_embed[:, :1], tiled), dim=1)[:, : x.shape[1]]
        n, f = vm.patches_per_frame, 3
        for blk in vm.blocks:
            time_out = var_attention(blk.timeattn, blk.norm3(x), "b (f n) d", "(b n) f d", n=n)
            space_out = var_attention(blk.attn, blk.norm1(x + time_out), "b (f n) d", "(b f) n d", f=f)
            x = x + space_out
            x = x + blk.mlp(blk.norm2(x))
        reference = vm.norm(x)[:, 0]
        torch.testing.assert_close(vm(video), reference, rtol=1e-5, atol=1e-5)


def test_generated_frames_are_resampled_to_the_checkpoint_frame_count():
    assert resample_indices(15, 16).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14]
    assert resample_indices(15, 4).tolist() == [0, 5, 9, 14]
    assert resample_indices(15, 15).tolist() == list(range(15))


def _clip(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (15, 48, 48, 3), dtype=np.uint8)


def test_extractors_and_score_end_to_end():
    video_extractor, text_extractor = EgoVLPVideoExtractor.for_tests(), EgoVLPTextExtractor.for_tests()
    assert video_extractor.backbone is text_extractor.backbone  # one model per process
    gen, gt = _clip(0), _clip(1)
    features = video_extractor.extract([gen, gt])
    assert [f.shape for f in features] == [(16,), (16,)] and features[0].dtype == np.float32
    texts = text_extractor.extract_text(["cut carrot", "open the fridge door"])
    assert texts.shape == (2, 16) and texts.dtype == np.float32
    # One text at a time: an embedding does not depend on what else is in the batch.
    np.testing.assert_allclose(text_extractor.extract_text(["cut carrot"])[0], texts[0], rtol=1e-5, atol=1e-6)

    item = ScoredItem("s", "full", gen, gt, gen[0], None, "cut carrot")
    item.features["egovlp"], item.target_features["egovlp"] = features
    value = EgoVLPScore().score(item)
    assert -1.0 <= value <= 1.0
    item.target_features["egovlp"] = features[0]
    assert EgoVLPScore().score(item) == pytest.approx(1.0)
    assert embedding_cosine(np.array([1.0, 0.0]), np.array([0.0, 2.0])) == pytest.approx(0.0)


def test_config_records_checkpoint_and_frame_fit():
    config = EgoVLPBackbone.tiny().config()
    assert config["weights"] == "random" and config["num_frames"] == 4
    assert "resampled" in config["frame_fit"]

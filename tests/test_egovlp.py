"""EgoVLP (Frozen in Time): official checkpoint keys, forward parity, extractors and score."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

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
        torch.save(checkpoint, tmp_path / "egovlp.pth")  # torch.save's default protocol, as EgoVLP's trainer saved it
    finally:
        del sys.modules["parse_config"]
    state = load_egovlp_state_dict(tmp_path / "egovlp.pth")
    reloaded = FrozenInTime(**tiny_egovlp_config())
    reloaded.load_state_dict(state, strict=True)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[key], value)


# -- an independent reference forward ---------------------------------------------------
#
# Written from EgoVLP's published conventions (github.com/showlab/EgoVLP, model/model.py
# and model/video_transformer.py, as metrics/features/egovlp.py cites them) with plain
# torch ops on the state dict alone: no module of the model under test runs here.

VIDEO_LAYER_NORM_EPS = 1e-6  # the ViT's norm_layer, partial(nn.LayerNorm, eps=1e-6)
TEXT_LAYER_NORM_EPS = 1e-12  # DistilBERT's LayerNorms


def _layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # biased, as LayerNorm's
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def _linear(x: torch.Tensor, w: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    return x @ w[f"{name}.weight"].T + w[f"{name}.bias"]


def _softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, masked: torch.Tensor | None = None) -> torch.Tensor:
    """``[B, i, d]`` queries (pre-scaled) over ``[B, j, d]`` keys; ``masked`` bool ``[B, j]`` keys to ignore."""
    scores = q @ k.transpose(1, 2)
    if masked is not None:
        scores = scores.masked_fill(masked[:, None, :], float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def _reference_var_attention(x: torch.Tensor, w: dict, name: str, heads: int, frames: int, axis: str) -> torch.Tensor:
    """Divided space-time attention, one head and one token group at a time.

    Token 0 is the CLS token; token ``1 + f·N + n`` is patch n of frame f. The CLS token
    attends to every token. With axis "space" the patches of one frame attend to the CLS
    token and to that frame's patches; with "time" the patch at one position attends to
    the CLS token and to that position in every frame.
    """
    batch, tokens, dim = x.shape
    patches, head_dim = (tokens - 1) // frames, dim // heads
    q, k, v = _linear(x, w, f"{name}.qkv").split(dim, dim=-1)
    if axis == "space":
        groups = [[1 + f * patches + n for n in range(patches)] for f in range(frames)]
    else:
        groups = [[1 + f * patches + n for f in range(frames)] for n in range(patches)]
    out = torch.zeros_like(q)
    for head in range(heads):
        cols = slice(head * head_dim, (head + 1) * head_dim)
        qh, kh, vh = q[..., cols] * head_dim**-0.5, k[..., cols], v[..., cols]
        out[:, :1, cols] = _softmax_attention(qh[:, :1], kh, vh)
        for group in groups:
            keys = [0, *group]
            out[:, group, cols] = _softmax_attention(qh[:, group], kh[:, keys], vh[:, keys])
    return _linear(out, w, f"{name}.proj")


def reference_video_embedding(w: dict, video: torch.Tensor, patch: int, heads: int, depth: int) -> torch.Tensor:
    """``vid_proj`` of the normalized CLS token of SpaceTimeTransformer, from the state dict.

    Args:
        w: FrozenInTime state dict.
        video: float ``[B, F, 3, H, W]``, F at most the temporal embedding's length.

    Returns:
        float ``[B, projection_dim]``.
    """
    batch, frames, channels, height, width = video.shape
    w = {k.removeprefix("video_model."): v for k, v in w.items() if not k.startswith("text_model.")}
    # Patch embedding as a matrix product over (channel, row, column)-flattened patches.
    rows, cols = height // patch, width // patch
    patches = video.reshape(batch, frames, channels, rows, patch, cols, patch).permute(0, 1, 3, 5, 2, 4, 6)
    patches = patches.reshape(batch, frames, rows * cols, channels * patch * patch)
    x = patches @ w["patch_embed.proj.weight"].reshape(len(w["patch_embed.proj.bias"]), -1).T + w["patch_embed.proj.bias"]
    # Spatial position of the patch plus temporal position of its frame.
    x = x + w["pos_embed"][0, 1:][None, None] + w["temporal_embed"][0, :frames][None, :, None]
    cls = w["cls_token"][0] + w["pos_embed"][0, :1]
    x = torch.cat((cls.expand(batch, 1, -1), x.reshape(batch, frames * rows * cols, -1)), dim=1)
    for i in range(depth):
        b = f"blocks.{i}"
        time_residual = x + _reference_var_attention(
            _layer_norm(x, w[f"{b}.norm3.weight"], w[f"{b}.norm3.bias"], VIDEO_LAYER_NORM_EPS), w, f"{b}.timeattn", heads, frames, "time"
        )
        # Frozen in Time: the space output goes onto the block input, not onto the time residual.
        space_residual = x + _reference_var_attention(
            _layer_norm(time_residual, w[f"{b}.norm1.weight"], w[f"{b}.norm1.bias"], VIDEO_LAYER_NORM_EPS), w, f"{b}.attn", heads, frames, "space"
        )
        hidden = _layer_norm(space_residual, w[f"{b}.norm2.weight"], w[f"{b}.norm2.bias"], VIDEO_LAYER_NORM_EPS)
        x = space_residual + _linear(F.gelu(_linear(hidden, w, f"{b}.mlp.fc1")), w, f"{b}.mlp.fc2")
    cls = _layer_norm(x[:, 0], w["norm.weight"], w["norm.bias"], VIDEO_LAYER_NORM_EPS)
    return _linear(cls, w, "vid_proj.0")


def reference_text_embedding(w: dict, input_ids: torch.Tensor, attention_mask: torch.Tensor, heads: int) -> torch.Tensor:
    """``txt_proj`` (ReLU, then Linear) of DistilBERT's first-token ([CLS]) output, from the state dict.

    Args:
        w: FrozenInTime state dict.
        input_ids: int64 ``[B, S]``.
        attention_mask: int64 ``[B, S]``, 0 at padding.

    Returns:
        float ``[B, projection_dim]``.
    """
    t = {k.removeprefix("text_model."): v for k, v in w.items() if k.startswith("text_model.")}
    seq = input_ids.shape[1]
    x = t["embeddings.word_embeddings.weight"][input_ids] + t["embeddings.position_embeddings.weight"][:seq][None]
    x = _layer_norm(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"], TEXT_LAYER_NORM_EPS)
    padding = attention_mask == 0
    layers = len({k.split(".")[2] for k in t if k.startswith("transformer.layer.")})
    for i in range(layers):
        p = f"transformer.layer.{i}"
        q, k, v = (_linear(x, t, f"{p}.attention.{n}") for n in ("q_lin", "k_lin", "v_lin"))
        head_dim = x.shape[-1] // heads
        context = torch.cat(
            [
                _softmax_attention(q[..., h * head_dim : (h + 1) * head_dim] / head_dim**0.5, k[..., h * head_dim : (h + 1) * head_dim],
                                   v[..., h * head_dim : (h + 1) * head_dim], padding)
                for h in range(heads)
            ],
            dim=-1,
        )
        # Post-norm blocks: attention, add & norm, GELU feed-forward, add & norm.
        x = _layer_norm(_linear(context, t, f"{p}.attention.out_lin") + x, t[f"{p}.sa_layer_norm.weight"], t[f"{p}.sa_layer_norm.bias"], TEXT_LAYER_NORM_EPS)
        ffn = _linear(F.gelu(_linear(x, t, f"{p}.ffn.lin1")), t, f"{p}.ffn.lin2")
        x = _layer_norm(ffn + x, t[f"{p}.output_layer_norm.weight"], t[f"{p}.output_layer_norm.bias"], TEXT_LAYER_NORM_EPS)
    return _linear(torch.relu(x[:, 0]), w, "txt_proj.1")


def _randomized_backbone(residual_scale: float = 1.0, seed: int = 0) -> EgoVLPBackbone:
    """The tiny 4-frame backbone with every parameter drawn anew (no zero or unit init hides a mistake).

    Args:
        residual_scale: Factor on every video parameter that writes into the residual
            stream (patch and position embeddings, attention and MLP outputs). Small
            values keep the stream's variance near the LayerNorm eps, where eps shows.
        seed: Seed of the draw.
    """
    backbone = EgoVLPBackbone.from_config(tiny_egovlp_config(num_frames=4), seed=seed)
    writers = ("patch_embed.", "cls_token", "pos_embed", "temporal_embed", ".proj.", ".fc2.")
    with torch.no_grad():
        for name, p in backbone.model.named_parameters():
            torch.nn.init.normal_(p, std=0.2)
            if name.startswith("video_model.") and any(w in name for w in writers):
                p.mul_(residual_scale)
    return backbone


@pytest.mark.parametrize("residual_scale", [1.0, 0.01])
def test_video_tower_matches_an_independent_reference(residual_scale):
    model = _randomized_backbone(residual_scale).model
    video = torch.randn(2, 3, 3, 32, 32)  # fewer frames than num_frames, as the official code allows
    cfg = model.config
    with torch.no_grad():
        expected = reference_video_embedding(model.state_dict(), video, cfg.patch_size, cfg.num_heads, cfg.depth)
        torch.testing.assert_close(model.compute_video(video), expected, rtol=1e-5, atol=1e-5)


def test_text_tower_matches_an_independent_reference():
    backbone = _randomized_backbone()
    model = backbone.model
    texts = ["cut carrot", "pick up the knife", "open"]
    heads = model.text_model.config.n_heads
    with torch.no_grad():
        # A padded batch: padding must not reach the [CLS] token.
        tokens = backbone.tokenizer(texts, padding=True, return_tensors="pt")
        assert (tokens["attention_mask"] == 0).any()
        expected = reference_text_embedding(model.state_dict(), tokens["input_ids"], tokens["attention_mask"], heads)
        torch.testing.assert_close(model.compute_text(tokens["input_ids"], tokens["attention_mask"]), expected, rtol=1e-5, atol=1e-5)
        # The extractor (one text at a time, through the tokenizer) gives the same vectors.
        singles = [backbone.tokenizer([t], return_tensors="pt") for t in texts]
        one_by_one = torch.cat([reference_text_embedding(model.state_dict(), s["input_ids"], s["attention_mask"], heads) for s in singles])
    np.testing.assert_allclose(EgoVLPTextExtractor(backbone).extract_text(texts), one_by_one.numpy(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(one_by_one, expected, rtol=1e-5, atol=1e-5)


def test_video_extractor_matches_the_reference_on_preprocessed_frames():
    backbone = _randomized_backbone()
    model = backbone.model
    clip = _clip(0)
    # EgoVLP's test transform: evenly resampled frames, bilinear resize without antialias, ImageNet mean/std.
    frames = torch.from_numpy(clip[resample_indices(len(clip), 4)]).permute(0, 3, 1, 2).double() / 255.0
    frames = F.interpolate(frames, size=(32, 32), mode="bilinear", align_corners=False, antialias=False)
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)
    pixels = ((frames - mean) / std).float()[None]
    cfg = model.config
    with torch.no_grad():
        expected = reference_video_embedding(model.state_dict(), pixels, cfg.patch_size, cfg.num_heads, cfg.depth)[0]
    np.testing.assert_allclose(EgoVLPVideoExtractor(backbone).extract([clip])[0], expected.numpy(), rtol=1e-5, atol=1e-5)


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

"""CLIP ViT-L/14 extractors and CLIP_GT / CLIP_Cs / CLIP_Tx, on a tiny random CLIP."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hcvg.assets import AssetNotFoundError
from metrics.base import MetricUndefined, ScoredItem
from metrics.clip_scores import (
    CLIPConsistencyScore,
    CLIPGroundTruthScore,
    CLIPTextScore,
    clip_consistency_score,
    clip_gt_score,
    clip_text_score,
)
from metrics.features.clip import ClipBackbone, ClipImageExtractor, ClipTextExtractor
from metrics.features.registry import FEATURES

PROMPT = "pick up the cup"


@pytest.fixture(scope="module")
def backbone() -> ClipBackbone:
    return ClipBackbone.tiny()


def _video(size: int, frames: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, size, size, 3), dtype=np.uint8)


def _item(generated: np.ndarray, target: np.ndarray, backbone: ClipBackbone) -> ScoredItem:
    item = ScoredItem("s", "full", generated, target, generated[0], None, PROMPT)
    item.features["clip"] = ClipImageExtractor(backbone).extract([generated])[0]
    item.target_features["clip"] = ClipImageExtractor(backbone).extract([target])[0]
    item.features["clip-text"] = ClipTextExtractor(backbone).extract_text([PROMPT])[0]
    return item


class _FeaturesAsTensors(torch.nn.Module):
    """torchmetrics 1.9 expects transformers 4's tensors from ``get_*_features``; transformers 5 returns outputs."""

    def __init__(self, model):
        super().__init__()
        self.model, self.config = model, model.config

    def get_image_features(self, *args, **kwargs):
        return self.model.get_image_features(*args, **kwargs).pooler_output

    def get_text_features(self, *args, **kwargs):
        return self.model.get_text_features(*args, **kwargs).pooler_output


def test_extractors_are_registered_and_share_the_text_kind():
    assert FEATURES.get("clip") is ClipImageExtractor
    assert FEATURES.get("clip-text") is ClipTextExtractor
    assert ClipTextExtractor.kind == "text" and ClipImageExtractor.kind == "video"


def test_frame_and_text_embeddings_are_unit_rows(backbone):
    frames = ClipImageExtractor(backbone).extract([_video(48, 3)])[0]
    texts = ClipTextExtractor(backbone).extract_text([PROMPT, "cut carrot"])
    assert frames.shape == (3, 16) and frames.dtype == np.float32
    assert texts.shape == (2, 16) and texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(frames, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1, atol=1e-5)


def test_preprocessing_is_lego_bicubic_resize_without_crop(backbone):
    # A non-square frame is resized whole (no crop): a bright right edge stays in view.
    frame = np.zeros((1, 40, 80, 3), dtype=np.uint8)
    frame[:, :, -8:] = 255
    pixels = backbone.pixel_values(frame)
    assert pixels.shape == (1, 3, 32, 32)
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(frame).permute(0, 3, 1, 2).float() / 255, size=(32, 32), mode="bicubic", align_corners=False
    )
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    torch.testing.assert_close(pixels, (expected - mean) / std)
    assert pixels[0, :, :, -2:].mean() > pixels[0, :, :, :20].mean()


def test_clip_tx_equals_torchmetrics_clip_score_per_sample(backbone):
    from transformers import CLIPImageProcessor, CLIPProcessor
    from torchmetrics.functional.multimodal.clip_score import _clip_score_update

    video = _video(32, frames=4, seed=1)  # at the model's input size, so both pipelines skip resizing
    item = _item(video, video, backbone)
    ours = CLIPTextScore().score(item)

    size = backbone.image_size
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}),
        tokenizer=backbone.tokenizer,
    )
    frames = [torch.from_numpy(f).permute(2, 0, 1) for f in video]
    per_frame, n = _clip_score_update(frames, [PROMPT] * len(frames), _FeaturesAsTensors(backbone.model), processor)
    assert n == 4
    # CLIPScore = max(mean, 0); compare before the clamp, frame by frame and on average.
    np.testing.assert_allclose(ours, per_frame.mean().item(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(
        100 * (item.features["clip"] @ item.features["clip-text"]), per_frame.detach().numpy(), rtol=1e-5, atol=1e-4
    )


def test_clip_gt_of_a_video_with_itself_is_one(backbone):
    video = _video(48, seed=2)
    assert CLIPGroundTruthScore().score(_item(video, video, backbone)) == pytest.approx(1.0, abs=1e-6)
    other = CLIPGroundTruthScore().score(_item(video, _video(48, seed=3), backbone))
    assert -1.0 <= other < 1.0 - 1e-4


def test_clip_cs_of_a_static_video_is_one(backbone):
    static = np.repeat(_video(48, frames=1, seed=4), 15, axis=0)
    assert CLIPConsistencyScore().score(_item(static, static, backbone)) == pytest.approx(1.0, abs=1e-6)
    moving = _video(48, frames=15, seed=5)
    assert CLIPConsistencyScore().score(_item(moving, moving, backbone)) < 1.0 - 1e-4


def test_formulas_on_known_vectors():
    e = np.eye(3, dtype=np.float32)
    assert clip_gt_score(e, e) == pytest.approx(1.0)
    assert clip_gt_score(e, -e) == pytest.approx(-1.0)
    assert clip_consistency_score(np.array([[1, 0], [1, 1], [0, 1]], dtype=float)) == pytest.approx(np.sqrt(0.5))
    assert clip_text_score(np.array([[1, 0], [0, 1]], dtype=float), np.array([1.0, 0.0])) == pytest.approx(50.0)
    with pytest.raises(MetricUndefined):
        clip_consistency_score(e[:1])
    with pytest.raises(ValueError, match="differ in shape"):
        clip_gt_score(e, e[:2])


def test_pretrained_weights_are_never_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("HCVG_ASSET_DIR", str(tmp_path / "assets"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HCVG_CLIP_VIT_L_14", raising=False)
    with pytest.raises(AssetNotFoundError, match="clip-vit-l-14"):
        ClipBackbone.from_pretrained()

"""BLIP captioners (LEGO's protocol) and the BLIP score, on tiny random BLIP and EgoVLP."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics.base import ScoredItem
from metrics.blip_score import BlipBaseScore, BlipLargeScore, caption_text_score
from metrics.features.blip import (
    MAX_LENGTH,
    MIN_LENGTH,
    NUM_BEAMS,
    PROMPT,
    BlipBaseCaptionsExtractor,
    BlipCaptioner,
    BlipLargeCaptionsExtractor,
    original_blip_key,
)
from metrics.features.egovlp import EgoVLPTextExtractor
from metrics.features.registry import FEATURES


def _clip(seed: int = 0, frames: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, 48, 48, 3), dtype=np.uint8)


def test_tiny_captioner_uses_lego_generation_settings(monkeypatch):
    captioner = BlipCaptioner.tiny()
    calls = []
    generate = captioner.model.generate

    def spy(**kwargs):
        calls.append({k: v.clone() if hasattr(v, "clone") else v for k, v in kwargs.items()})  # generate edits input_ids
        return generate(**kwargs)

    monkeypatch.setattr(captioner.model, "generate", spy)
    captions = captioner.caption(_clip())
    assert len(captions) == 3 and all(isinstance(c, str) for c in captions)
    (kwargs,) = calls
    assert (kwargs["num_beams"], kwargs["min_length"], kwargs["max_length"], kwargs["do_sample"]) == (NUM_BEAMS, MIN_LENGTH, MAX_LENGTH, False)
    assert (NUM_BEAMS, MIN_LENGTH, MAX_LENGTH, PROMPT) == (3, 5, 20, "a picture of")
    # The prompt "[CLS] a picture of [SEP]" is given; generate swaps [CLS] for [DEC] and drops [SEP].
    prompt_ids = captioner.tokenizer.convert_ids_to_tokens(kwargs["input_ids"][0].tolist())
    assert prompt_ids == ["[CLS]", "a", "picture", "of", "[SEP]"]
    assert kwargs["pixel_values"].shape == (3, 3, captioner.image_size, captioner.image_size)
    # Lengths count the prompt, as in BLIP: 4 prompt tokens + at most 16 new ones.
    with torch.inference_mode():
        ids = generate(**kwargs)
    assert MIN_LENGTH <= ids.shape[1] <= MAX_LENGTH


def test_captions_are_deterministic():
    captioner = BlipCaptioner.tiny()
    clip = _clip(1)
    assert captioner.caption(clip) == captioner.caption(clip)


def test_blip_score_end_to_end():
    assert FEATURES.get("blip-large-captions") is BlipLargeCaptionsExtractor
    assert FEATURES.get("blip-base-captions") is BlipBaseCaptionsExtractor
    extractor = BlipLargeCaptionsExtractor.for_tests()
    gen = _clip(2, frames=4)
    (captions,) = extractor.extract([gen])
    assert captions.shape == (4, 16) and captions.dtype == np.float32
    assert len(extractor.last_captions[0]) == 4
    item = ScoredItem("s", "full", gen, gen, gen[0], None, "cut carrot")
    item.features["blip-large-captions"] = captions
    item.features["egovlp-text"] = EgoVLPTextExtractor.for_tests().extract_text([item.prompt])[0]
    value = BlipLargeScore().score(item)
    assert -1.0 <= value <= 1.0
    assert BlipLargeScore().score(item) == value
    assert BlipBaseScore.features == ("blip-base-captions", "egovlp-text")
    config = extractor.config()
    assert config["captioner"]["prompt"] == "a picture of" and config["captioner"]["weights"] == "random"


def test_caption_score_formula():
    captions = np.array([[1.0, 0.0], [0.0, 3.0]])
    assert caption_text_score(captions, np.array([2.0, 0.0])) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        caption_text_score(captions, np.zeros(3))


def test_original_checkpoint_keys_map_onto_transformers_blip():
    hf_keys = set(BlipCaptioner.tiny().model.state_dict())
    original = [
        "visual_encoder.cls_token",
        "visual_encoder.pos_embed",
        "visual_encoder.patch_embed.proj.weight",
        "visual_encoder.blocks.1.norm1.weight",
        "visual_encoder.blocks.1.attn.qkv.weight",
        "visual_encoder.blocks.1.attn.proj.bias",
        "visual_encoder.blocks.1.norm2.bias",
        "visual_encoder.blocks.1.mlp.fc2.weight",
        "visual_encoder.norm.weight",
        "text_decoder.bert.embeddings.word_embeddings.weight",
        "text_decoder.bert.encoder.layer.1.crossattention.self.query.weight",
        "text_decoder.cls.predictions.transform.dense.weight",
    ]
    mapped = [original_blip_key(k) for k in original]
    assert not [k for k in mapped if k not in hf_keys], mapped

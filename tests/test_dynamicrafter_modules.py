"""DynamiCrafter's smaller pieces: the image preprocessing, the text layer, the sampler's schedule, the per-frame context."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from adapters.dynamicrafter.config import TINY
from adapters.dynamicrafter.encoders import OpenCLIPConditioner, antialiased_resize
from adapters.dynamicrafter.sampler import make_scheduler
from tests.parity.reference import assert_close_reported, load_reference

FIXTURES = Path(__file__).parent / "fixtures" / "parity" / "dynamicrafter"


def test_image_resize_matches_kornia_as_upstream_calls_it():
    reference, provenance = load_reference(FIXTURES / "kornia_resize_reference.safetensors")
    images = reference["in.images"]
    for name, expected in reference.items():
        if name.startswith("out."):
            h, w = map(int, name[4:].split("x"))
            assert_close_reported(antialiased_resize(images, (h, w)), expected, provenance["atol"], provenance["rtol"], f"resize to {h}x{w}")


def test_text_features_come_from_the_penultimate_layer_after_ln_final():
    import open_clip

    torch.manual_seed(0)
    clip = open_clip.CLIP(**TINY.clip).eval()
    conditioner = OpenCLIPConditioner(clip)
    prompts = ["a hand picks up the cup", ""]
    with torch.no_grad():
        ours = conditioner.encode_text(prompts)
        shortened = copy.deepcopy(clip)
        shortened.transformer.resblocks = shortened.transformer.resblocks[:-1]
        tokens = open_clip.tokenize(prompts)
        x = shortened.token_embedding(tokens) + shortened.positional_embedding
        expected = shortened.ln_final(shortened.transformer(x, attn_mask=shortened.attn_mask))
        last = clip.ln_final(clip.transformer(clip.token_embedding(tokens) + clip.positional_embedding, attn_mask=clip.attn_mask))
    assert ours.shape == (2, 77, TINY.clip["text_cfg"]["width"])
    torch.testing.assert_close(ours, expected)
    assert not torch.allclose(ours, last, atol=1e-3)


def test_scheduler_has_upstreams_uniform_timesteps_and_float64_schedule():
    scheduler = make_scheduler()
    scheduler.set_timesteps(50)
    # lvdm make_ddim_timesteps('uniform', 50, 1000): range(0, 1000, 20) + 1, sampled from the end.
    assert scheduler.timesteps.tolist() == list(range(981, 0, -20))
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float64) ** 2
    expected = torch.tensor(np.cumprod(1 - betas), dtype=torch.float32)
    assert torch.equal(scheduler.alphas_cumprod, expected)
    assert scheduler.final_alpha_cumprod == expected[0]
    assert not scheduler.config.clip_sample and scheduler.config.prediction_type == "epsilon"


def test_context_gives_each_frame_its_own_image_tokens_only_at_16_per_frame():
    from adapters.dynamicrafter.unet import DynamiCrafterUNet

    unet = DynamiCrafterUNet(**TINY.unet)
    frames, width = 3, TINY.unet["context_dim"]
    text = torch.randn(2, 77, width)
    image = torch.randn(2, frames * 16, width)
    per_frame = unet._frame_context(torch.cat([text, image], dim=1), frames)
    assert per_frame.shape == (2 * frames, 77 + 16, width)
    assert torch.equal(per_frame[4, 77:], image[1, 16:32]) and torch.equal(per_frame[4, :77], text[1])
    shared = unet._frame_context(torch.cat([text, image[:, :20]], dim=1), frames)
    assert shared.shape == (2 * frames, 97, width) and torch.equal(shared[5], torch.cat([text, image[:, :20]], dim=1)[1])

"""Native DynamiCrafter against the upstream code: same random weights, same outputs.

The fixtures in tests/fixtures/parity/dynamicrafter/ were made by running the upstream
classes (Doubiiu/DynamiCrafter, the commit in each file's provenance) outside the
project: ``*_keys.json`` is the upstream ``state_dict()`` key list, ``*_reference``
holds the inputs (or the seeds that draw them) and upstream's outputs. Here the key
list is filled with the same seeded weights, converted by `adapters.dynamicrafter.convert`
and loaded strictly into the native modules, which must give the same outputs.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from adapters.dynamicrafter.config import PUBLISHED, TINY
from adapters.dynamicrafter.convert import CheckpointError, convert_checkpoint, upstream_unet_key
from adapters.dynamicrafter.loading import build_empty, fill
from adapters.dynamicrafter.resampler import ImageResampler
from adapters.dynamicrafter.sampler import guided_noise, make_scheduler
from adapters.dynamicrafter.unet import DynamiCrafterUNet
from tests.parity.reference import assert_close_reported, load_reference
from tests.parity.seeded_weights import load_key_list, seeded_state_dict

FIXTURES = Path(__file__).parent / "fixtures" / "parity" / "dynamicrafter"


def native_denoiser(keys_file: str, config, seed: int):
    """The native UNet and Resampler, loaded (strictly) from the seeded fill of an upstream key list.

    Built empty and given the converted tensors, as `adapters.dynamicrafter.loading`
    loads a checkpoint, so the published size needs one copy of its weights in memory.
    """
    keys, _ = load_key_list(FIXTURES / keys_file)
    wanted = {k: v for k, v in keys.items() if k.startswith(("model.diffusion_model.", "image_proj_model."))}
    converted = convert_checkpoint(seeded_state_dict(wanted, seed), config)
    unet = fill(build_empty("unet", config), converted.pop("unet"), "unet")
    resampler = fill(build_empty("resampler", config), converted.pop("resampler"), "resampler")
    return unet, resampler


def draw(seed: int, shape) -> torch.Tensor:
    """An input as the reference script drew it (see the provenance's ``how``)."""
    return torch.randn(tuple(shape), generator=torch.Generator().manual_seed(seed))


def run_native(unet, resampler, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The forward and one guided DDIM step, as the reference script ran them upstream."""
    frames = inputs["x"].shape[2]
    first = inputs["first_latent"].repeat(1, 1, frames, 1, 1)
    with torch.no_grad():
        image = resampler(inputs["clip_tokens"])
        context = torch.cat([inputs["text"], image], dim=1)
        uncond = torch.cat([inputs["uc_text"], resampler(inputs["uc_clip_tokens"])], dim=1)
        forward = unet(torch.cat([inputs["x"], first], dim=1), inputs["t_forward"], context, inputs["frame_stride"]).sample
        scheduler = make_scheduler()
        scheduler.set_timesteps(50)
        t = inputs["step_t"]
        noise = guided_noise(unet, inputs["x"], first, t, context, uncond, inputs["frame_stride"], 7.5)
        step = scheduler.step(noise, int(t[0]), inputs["x"], eta=1.0, variance_noise=inputs["noise"])
    return {"resampler": image, "forward": forward, "step_prev": step.prev_sample, "step_pred_x0": step.pred_original_sample}


@pytest.fixture(scope="module")
def tiny_run():
    reference, provenance = load_reference(FIXTURES / "tiny_reference.safetensors")
    unet, resampler = native_denoiser("tiny_keys.json", TINY, provenance["seed"])
    inputs = {k[3:]: v for k, v in reference.items() if k.startswith("in.")}
    return run_native(unet, resampler, inputs), reference, provenance


@pytest.mark.parametrize("output", ["resampler", "forward"])
def test_tiny_denoiser_forward_matches_upstream(tiny_run, output):
    native, reference, provenance = tiny_run
    assert_close_reported(native[output], reference[f"out.{output}"], provenance["atol"], provenance["rtol"], f"tiny {output}")


@pytest.mark.parametrize("output", ["step_prev", "step_pred_x0"])
def test_tiny_guided_ddim_step_matches_upstream(tiny_run, output):
    native, reference, provenance = tiny_run
    # Guidance multiplies the denoiser's float32 rounding by ~8.5 and the x0 prediction
    # divides by sqrt(alpha): the step has its own (recorded) tolerance.
    assert_close_reported(native[output], reference[f"out.{output}"], provenance["step_atol"], provenance["step_rtol"], f"tiny {output}")


def test_fixtures_name_their_upstream():
    for name in ("tiny_reference.safetensors", "published_reference.safetensors"):
        _, provenance = load_reference(FIXTURES / name)
        assert provenance["upstream"].endswith("Doubiiu/DynamiCrafter") and len(provenance["commit"]) == 40
    for name in ("tiny_keys.json", "published_keys.json"):
        _, provenance = load_key_list(FIXTURES / name)
        assert provenance["commit"] == "c453369367122d7fbb0aa38f124e76dc8fe2a91c"


def _meta_state(module_factory) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        return module_factory().state_dict()


def test_published_key_list_is_exactly_what_the_converter_maps_onto_the_native_model():
    import open_clip
    from diffusers import AutoencoderKL

    keys, _ = load_key_list(FIXTURES / "published_keys.json")
    checkpoint = {k: torch.empty(shape, device="meta") for k, shape in keys.items()}
    native = {
        "unet": _meta_state(lambda: DynamiCrafterUNet(**PUBLISHED.unet)),
        "resampler": _meta_state(lambda: ImageResampler(**PUBLISHED.resampler)),
        "vae": _meta_state(lambda: AutoencoderKL(**PUBLISHED.vae)),
        "clip": _meta_state(lambda: open_clip.CLIP(**PUBLISHED.clip)),
    }
    # Every upstream key lands on a native key of the right shape, and every native key is filled.
    convert_checkpoint(checkpoint, PUBLISHED, expected=native)
    # The UNet mapping is a bijection: each native key names exactly one upstream key.
    upstream_unet = {k for k in keys if k.startswith("model.diffusion_model.")}
    back = {"model.diffusion_model." + upstream_unet_key(k, PUBLISHED.unet) for k in native["unet"]}
    assert back == upstream_unet
    # The paper's sizes: a 1.4 B UNet and a 48.8 M Resampler.
    size = {name: sum(math.prod(v.shape) for v in state.values()) for name, state in native.items()}
    assert 1.40e9 < size["unet"] < 1.45e9, size
    assert round(size["resampler"] / 1e6, 1) == 48.8, size


def test_converter_names_a_key_it_cannot_place():
    keys, _ = load_key_list(FIXTURES / "tiny_keys.json")
    state = {k: torch.empty(shape, device="meta") for k, shape in keys.items()}
    state["model.diffusion_model.input_blocks.1.0.in_layers.9.weight"] = state.pop("model.diffusion_model.input_blocks.1.0.in_layers.0.weight")
    with pytest.raises(CheckpointError, match=r"input_blocks\.1\.0\.in_layers\.9\.weight"):
        convert_checkpoint(state, TINY)
    state = {k: torch.empty(shape, device="meta") for k, shape in keys.items()}
    state["some_extra.weight"] = torch.empty(1, device="meta")
    with pytest.raises(CheckpointError, match="some_extra.weight"):
        convert_checkpoint(state, TINY)


def test_missing_native_key_is_listed():
    keys, _ = load_key_list(FIXTURES / "tiny_keys.json")
    state = {k: torch.empty(shape, device="meta") for k, shape in keys.items() if "output_blocks.0.0.out_layers.3" not in k}
    native = {"unet": _meta_state(lambda: DynamiCrafterUNet(**TINY.unet))}
    with pytest.raises(CheckpointError, match=r"missing: up_blocks\.0\.resnets\.0\.conv2\.bias"):
        convert_checkpoint(state, TINY, expected=native)


def test_released_frame_stride_name_converts_like_the_class_name():
    keys, _ = load_key_list(FIXTURES / "tiny_keys.json")
    state = seeded_state_dict({k: v for k, v in keys.items() if k.startswith("model.diffusion_model.")}, 0)
    released = {k.replace("fps_embedding", "framestride_embed"): v for k, v in state.items()}
    assert any("framestride_embed" in k for k in released)
    a, b = convert_checkpoint(state, TINY)["unet"], convert_checkpoint(released, TINY)["unet"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_published_denoiser_forward_and_step_match_upstream():
    reference, provenance = load_reference(FIXTURES / "published_reference.safetensors")
    unet, resampler = native_denoiser("published_keys.json", PUBLISHED, provenance["seed"])
    frames, latent = provenance["frames"], provenance["latent"]
    seed = provenance["input_seed"]
    names = ("x", "first_latent", "text", "uc_text", "clip_tokens", "uc_clip_tokens", "noise")
    shapes = ((1, 4, frames, latent, latent), (1, 4, 1, latent, latent), (1, 77, 1024), (1, 77, 1024), (1, 257, 1280),
              (1, 257, 1280), (1, 4, frames, latent, latent))
    inputs = {name: draw(seed + i, shape) for i, (name, shape) in enumerate(zip(names, shapes))}
    inputs.update({k[3:]: v for k, v in reference.items() if k.startswith("in.")})
    native = run_native(unet, resampler, inputs)
    native["resampler_slice"] = native.pop("resampler")[:, ::16]
    for output in ("resampler_slice", "forward"):
        assert_close_reported(native[output], reference[f"out.{output}"], provenance["atol"], provenance["rtol"], f"published {output}")
    for output in ("step_prev", "step_pred_x0"):
        assert_close_reported(native[output], reference[f"out.{output}"], provenance["step_atol"], provenance["step_rtol"], f"published {output}")

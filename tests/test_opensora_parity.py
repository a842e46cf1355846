"""The native Open-Sora 1.2 port against the upstream code's saved outputs.

The references were made outside the project by running hpcaitech/Open-Sora v1.2.0's
own STDiT3 and rectified-flow sampler with seeded weights (the provenance in each file
says exactly how). Here the same seeded weights, keyed by the upstream names, go
through this port's converter into its own model, run on the same inputs, and must
give the same tensors.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from adapters.opensora import config
from adapters.opensora.convert import STDIT3_RULES, convert_stdit3, load_into, official_keys
from adapters.opensora.sampler import RectifiedFlowSampler
from adapters.opensora.stdit3 import STDiT3Model
from tests.parity.reference import assert_close_reported, load_reference
from tests.parity.seeded_weights import load_key_list, seeded_state_dict

FIXTURES = Path(__file__).parent / "fixtures" / "parity" / "opensora"


def randn(seed: int, *shape: int) -> torch.Tensor:
    """The reference script's inputs: standard normal from a CPU generator seeded ``seed``."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def native_stdit3(key_file: str, model_config: dict) -> STDiT3Model:
    keys, provenance = load_key_list(FIXTURES / key_file)
    assert provenance["commit"] == config.UPSTREAM_COMMIT
    model = STDiT3Model(**model_config).eval()
    load_into(model, convert_stdit3(seeded_state_dict(keys, seed=0)), key_file)
    return model


def check_stdit3(model: STDiT3Model, tensors: dict, provenance: dict, inputs: dict) -> None:
    """Forward (with and without a frame mask) and the guided sampling steps against the reference."""
    atol, rtol = float(provenance["atol"]), float(provenance["rtol"])
    x, y, mask, timestep = inputs["x"], inputs["y"], inputs["mask"], inputs["timestep"]
    height, width = inputs["height"], inputs["width"]
    batch = x.shape[0]
    fps = torch.full((batch,), float(config.FPS))
    frame_mask = torch.ones(batch, x.shape[2], dtype=torch.bool)
    frame_mask[:, 0] = False
    with torch.no_grad():
        out = model(x, timestep, y, mask, fps=fps, height=height, width=width).sample
        assert_close_reported(out, tensors["forward"], atol, rtol, "STDiT3 forward")
        out = model(x, timestep, y, mask, fps=fps, height=height, width=width, frame_mask=frame_mask).sample
        assert_close_reported(out, tensors["forward_masked"], atol, rtol, "STDiT3 forward with a frame mask")

        # The guided denoiser as upstream batches it: conditional rows, then the null
        # caption, which upstream masks with the prompts' own token mask.
        null = model.null_caption[None].expand(batch, -1, -1)

        def denoise(z, t, frames):
            return model(z, t, torch.cat([y, null]), torch.cat([mask, mask]), fps=fps.repeat(2), height=height,
                         width=width, frame_mask=frames).sample[:, : config.STDIT3_TINY["in_channels"]]

        sampler = RectifiedFlowSampler(num_steps=inputs["num_steps"], guidance=config.GUIDANCE)
        timesteps = sampler.timesteps(height, width, num_frames=51)
        for name, frame_mask in (("sample", inputs["frame_mask"]), ("sample_t2v", None)):
            generator = torch.Generator().manual_seed(4)  # upstream: torch.manual_seed(4) before sampling
            state = sampler.start(inputs["z"], frame_mask)
            for index in range(inputs["run_steps"]):
                state = sampler.step(denoise, state, timesteps, index, lambda like: torch.randn(like.shape, generator=generator))
            assert_close_reported(state.latents, tensors[name], atol, rtol, f"rectified-flow {name} ({inputs['run_steps']} steps)")


def test_stdit3_tiny_matches_upstream():
    """Tiny config: forward, forward with a frame mask, 3 guided steps with a 0 / 0.5 / 1 mask, and text-to-video."""
    tensors, provenance = load_reference(FIXTURES / "stdit3_tiny_reference.safetensors")
    model = native_stdit3("stdit3_tiny_keys.json", config.STDIT3_TINY)
    inputs = dict(
        x=tensors["x"], y=tensors["y"], mask=tensors["mask"], timestep=tensors["timestep"], z=tensors["z"],
        frame_mask=tensors["frame_mask"], height=256.0, width=320.0, num_steps=3, run_steps=3,
    )
    assert torch.equal(tensors["x"], randn(1, *tensors["x"].shape)), "the stored inputs are the seeded ones"
    check_stdit3(model, tensors, provenance, inputs)


def test_stdit3_published_keys_are_the_ports():
    """The official checkpoint's key list (the upstream module at the published config) is exactly what the converter maps."""
    keys, provenance = load_key_list(FIXTURES / "stdit3_published_keys.json")
    with torch.device("meta"):
        model = STDiT3Model(**config.STDIT3_XL_2)
    native = model.state_dict()
    assert official_keys(native, STDIT3_RULES, "STDiT3") == set(keys)
    converted = convert_stdit3({k: torch.empty(v, device="meta") for k, v in keys.items()})
    assert {k: tuple(v.shape) for k, v in converted.items()} == {k: tuple(v.shape) for k, v in native.items()}
    assert sum(v.numel() for v in model.parameters()) > 1.1e9  # STDiT3-XL/2: 1.1 B


@pytest.mark.slow
def test_stdit3_published_matches_upstream():
    """Published config (STDiT3-XL/2, 1.1 B) on a small latent that still reaches every weight: forward and 2 guided steps."""
    tensors, provenance = load_reference(FIXTURES / "stdit3_published_reference.safetensors")
    model = native_stdit3("stdit3_published_keys.json", config.STDIT3_XL_2)
    inputs = published_inputs()
    check_stdit3(model, tensors, provenance, inputs)


def published_inputs() -> dict:
    """The published-config reference's inputs, regenerated from their seeds (see its provenance)."""
    batch, frames, height, width, tokens = 1, 3, 4, 4, config.STDIT3_XL_2["caption_tokens"]
    mask = torch.zeros(batch, tokens, dtype=torch.long)
    mask[0, :7] = 1
    return dict(
        x=randn(1, batch, 4, frames, height, width), y=randn(2, batch, tokens, config.STDIT3_XL_2["caption_channels"]),
        mask=mask, timestep=torch.tensor([700.0]), z=randn(3, batch, 4, frames, height, width),
        frame_mask=torch.tensor([[0.0, 0.5, 1.0]]), height=256.0, width=256.0, num_steps=30, run_steps=2,
    )


def test_vae_published_keys_are_the_ports():
    """The official VAE file's key list (SDXL image VAE + upstream temporal VAE + normalization) is what the converter maps."""
    from diffusers.models.autoencoders import AutoencoderKL

    from adapters.opensora.convert import VAE_RULES, convert_vae
    from adapters.opensora.vae import OpenSoraVAE, TemporalVAE

    keys, provenance = load_key_list(FIXTURES / "vae_published_keys.json")
    assert provenance["commit"] == config.UPSTREAM_COMMIT
    with torch.device("meta"):
        vae = OpenSoraVAE(AutoencoderKL(**config.SDXL_VAE), TemporalVAE(**config.TEMPORAL_VAE))
    native = vae.state_dict()
    assert official_keys(native, VAE_RULES, "VAE") == set(keys)
    converted = convert_vae({k: torch.empty(v, device="meta") for k, v in keys.items()})
    assert {k: tuple(v.shape) for k, v in converted.items()} == {k: tuple(v.shape) for k, v in native.items()}


def check_temporal_vae(name: str, model_config: dict, keys: dict) -> None:
    from adapters.opensora.convert import TEMPORAL_VAE_RULES, convert_state_dict
    from adapters.opensora.vae import TemporalVAE

    tensors, provenance = load_reference(FIXTURES / f"temporal_vae_{name}_reference.safetensors")
    atol, rtol = float(provenance["atol"]), float(provenance["rtol"])
    vae = TemporalVAE(**model_config).eval()
    load_into(vae, convert_state_dict(seeded_state_dict(keys, seed=0), TEMPORAL_VAE_RULES, "temporal VAE"), name)
    height, width = tensors["decode"].shape[-2:]
    x, z = randn(5, 1, 4, 17, height, width), randn(6, 1, 4, 5, height, width)
    with torch.no_grad():
        mean, logvar = vae.encode(x)
        assert_close_reported(mean, tensors["encode_mean"], atol, rtol, "temporal VAE encode (mean)")
        assert_close_reported(logvar, tensors["encode_logvar"], atol, rtol, "temporal VAE encode (log-variance)")
        assert_close_reported(vae.encode(x[:, :, :1])[0], tensors["encode_image_mean"], atol, rtol, "temporal VAE encode of one frame")
        assert_close_reported(vae.decode(z, num_frames=17), tensors["decode"], atol, rtol, "temporal VAE decode")


def test_temporal_vae_tiny_matches_upstream():
    keys, _ = load_key_list(FIXTURES / "temporal_vae_tiny_keys.json")
    check_temporal_vae("tiny", config.TEMPORAL_VAE_TINY, keys)


@pytest.mark.slow
def test_temporal_vae_published_matches_upstream():
    """VAE_Temporal_SD at the published config (the temporal part of the official VAE file)."""
    keys, _ = load_key_list(FIXTURES / "vae_published_keys.json")
    temporal = {k.removeprefix("temporal_vae."): v for k, v in keys.items() if k.startswith("temporal_vae.")}
    check_temporal_vae("published", config.TEMPORAL_VAE, temporal)

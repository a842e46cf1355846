"""LFDM port vs the authors' code (nihaomiao/CVPR23_LFDM), on identical seeded weights.

The references under tests/fixtures/parity/lfdm/ were made by running the upstream
modules outside the project (see each file's provenance): the upstream state dicts
were filled with `tests.parity.seeded_weights.seeded_state_dict`, except for constants
(rotary frequencies, noise schedule) which kept their computed values; LFAE
``running_mean`` buffers had 1 subtracted (centred, so the ReLUs after them stay alive).
Here the same key lists are filled the same way, converted by the port's converter,
loaded strictly, and run on the same inputs.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from adapters.lfdm.config import PUBLISHED_MUG, TINY, LFDMConfig
from adapters.lfdm.convert import (
    ROTARY_KEY,
    UNET_PREFIX,
    CheckpointKeyError,
    convert_diffusion_state_dict,
    convert_lfae_state_dict,
    diffusion_constants,
    split_lfae_keys,
    unet_key_to_upstream,
)
from adapters.lfdm.lfae import LatentFlowAutoencoder
from adapters.lfdm.sampler import NoiseSchedule, ancestral_step, ddim_step, ddim_times
from adapters.lfdm.unet import FlowUNet3DModel
from tests.parity.reference import assert_close_reported, load_reference
from tests.parity.seeded_weights import load_key_list, seeded_state_dict

FIXTURES = Path(__file__).parent / "fixtures" / "parity" / "lfdm"
SEED = 1234
COMMIT = "36016353d4c0ce99f2eba17078226f24e9ecc289"


def seeded_diffusion_state(keys: dict, config: LFDMConfig) -> dict[str, torch.Tensor]:
    """The upstream DM state dict as the reference script filled it (constants computed, not seeded)."""
    state = seeded_state_dict(keys, SEED)
    constants = diffusion_constants(config)
    for key in state:
        if key in constants:
            state[key] = constants[key]
        elif key.startswith(UNET_PREFIX) and ROTARY_KEY.match(key[len(UNET_PREFIX):]):
            state[key] = constants["rotary_emb.freqs"]
    return state


def native_unet(config: LFDMConfig, keys_file: str) -> FlowUNet3DModel:
    keys, provenance = load_key_list(FIXTURES / keys_file)
    assert provenance["commit"] == COMMIT
    model = FlowUNet3DModel(**dataclasses.asdict(config.unet)).eval()
    model.load_state_dict(convert_diffusion_state_dict(seeded_diffusion_state(keys, config), config, set(model.state_dict())), strict=True)
    return model


def bound(model: FlowUNet3DModel, fea: torch.Tensor, cond: torch.Tensor):
    def denoise(x: torch.Tensor, t: torch.Tensor, drop: bool) -> torch.Tensor:
        features = fea[:, :, None].expand(-1, -1, x.shape[2], -1, -1)
        return model(torch.cat([x, features], 1), t, cond, torch.full((x.shape[0],), drop, dtype=torch.bool))

    return denoise


def tolerance(provenance: dict) -> tuple[float, float]:
    return float(provenance["atol"]), float(provenance["rtol"])


def run_diffusion_reference(config: LFDMConfig, model: FlowUNet3DModel, x, fea, cond, t) -> dict[str, torch.Tensor]:
    """The four outputs the reference script saved, computed by the port."""
    schedule = NoiseSchedule(config.diffusion.timesteps)
    denoise = bound(model, fea, cond)
    features = fea[:, :, None].expand(-1, -1, x.shape[2], -1, -1)
    seeded = torch.Generator().manual_seed(SEED + 2)
    step_noise = torch.randn(x.shape, generator=seeded)
    # ddim_sample after torch.manual_seed(SEED + 3): its initial noise, then its first step's noise.
    stream = torch.Generator().manual_seed(SEED + 3)
    ddim_x = torch.randn(x.shape, generator=stream)
    ddim_noise = torch.randn(x.shape, generator=stream)
    with torch.no_grad():
        out = {
            "forward": model(torch.cat([x, features], 1), t, cond, torch.zeros(len(t), dtype=torch.bool)),
            "forward_null": model(torch.cat([x, features], 1), t, cond, torch.ones(len(t), dtype=torch.bool)),
            "ddpm_step": ancestral_step(schedule, config.diffusion, denoise, x, 417, 2.0, step_noise),
        }
        (t0, t1), (t2, t3) = ddim_times(config.diffusion.timesteps, 2)
        y = ddim_step(schedule, config.diffusion, denoise, ddim_x, t0, t1, 1.0, ddim_noise)
        out["ddim_2_steps"] = ddim_step(schedule, config.diffusion, denoise, y, t2, t3, 1.0, ddim_noise)
    return out


def test_tiny_unet_forward_and_sampling_steps_match_upstream():
    ref, provenance = load_reference(FIXTURES / "diffusion_tiny.safetensors")
    assert provenance["commit"] == COMMIT
    model = native_unet(TINY, "diffusion_keys_tiny.json")
    ours = run_diffusion_reference(TINY, model, ref["x"], ref["fea"], ref["cond"], ref["t"])
    atol, rtol = tolerance(provenance)
    for name, value in ours.items():
        assert_close_reported(value, ref[name], atol, rtol, f"tiny {name}")


def seeded_lfae_state(keys: dict) -> dict[str, torch.Tensor]:
    state = seeded_state_dict(keys, SEED)
    for key in keys:
        if key.endswith("running_mean"):
            state[key] = state[key] - 1.0
        elif key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0)
    return state


def test_tiny_lfae_regions_flows_and_warp_match_upstream():
    ref, provenance = load_reference(FIXTURES / "lfae_tiny.safetensors")
    keys, _ = load_key_list(FIXTURES / "lfae_keys_tiny.json")
    lfae = LatentFlowAutoencoder(TINY.lfae).eval()
    lfae.load_state_dict(convert_lfae_state_dict(split_lfae_keys(seeded_lfae_state(keys))), strict=True)
    source, driving = ref["source"], ref["driving"]
    with torch.no_grad():
        source_regions, driving_regions = lfae.region_predictor(source), lfae.region_predictor(driving)
        bg = lfae.bg_predictor(source, driving)
        full = lfae.generator(source, driving_regions, source_regions, bg)
        warped = lfae.generator.forward_with_flow(source, ref["flow"], ref["occlusion"])
    atol, rtol = tolerance(provenance)
    pairs = {
        "region_shift": driving_regions["shift"], "region_affine": driving_regions["affine"], "bg_params": bg,
        "real_flow": full["optical_flow"], "real_occlusion": full["occlusion_map"], "bottleneck": full["bottleneck"],
        "reconstruction": full["prediction"], "warp_prediction": warped["prediction"], "warp_deformed": warped["deformed"],
        "features": lfae.generator.compute_features(source).detach(),
    }
    assert float(ref["bottleneck"].abs().max()) > 0.1  # the reference exercises the encoder (no dead ReLUs)
    for name, value in pairs.items():
        assert_close_reported(value, ref[name], atol, rtol, f"tiny LFAE {name}")


def test_published_diffusion_keys_are_the_converters_key_set():
    keys, provenance = load_key_list(FIXTURES / "diffusion_keys_published.json")
    assert provenance["commit"] == COMMIT
    with torch.device("meta"):
        model = FlowUNet3DModel(**dataclasses.asdict(PUBLISHED_MUG.unet))
    native = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    upstream_weights = {k[len(UNET_PREFIX):]: v for k, v in keys.items() if k.startswith(UNET_PREFIX) and not ROTARY_KEY.match(k[len(UNET_PREFIX):])}
    mapped_back = {unet_key_to_upstream(k): shape for k, shape in native.items()}
    assert mapped_back == upstream_weights
    # Everything else in the file is a constant the converter checks and drops.
    constants = set(keys) - {UNET_PREFIX + k for k in upstream_weights}
    assert constants == set(NoiseSchedule.NAMES) | {k for k in keys if k.endswith("rotary_emb.freqs")}
    assert sum(v.numel() for v in model.parameters()) == pytest.approx(42.7e6, rel=0.02)  # the paper's 42.7 M


def test_published_lfae_keys_are_the_ports_key_set():
    keys, provenance = load_key_list(FIXTURES / "lfae_keys_published.json")
    with torch.device("meta"):
        lfae = LatentFlowAutoencoder(PUBLISHED_MUG.lfae)
    assert {k: tuple(v.shape) for k, v in lfae.state_dict().items()} == keys


def test_converter_names_missing_and_unexpected_keys():
    keys, _ = load_key_list(FIXTURES / "diffusion_keys_tiny.json")
    state = seeded_diffusion_state(keys, TINY)
    state.pop("denoise_fn.init_conv.weight")
    state["denoise_fn.extra.weight"] = torch.zeros(1)
    expected = set(FlowUNet3DModel(**dataclasses.asdict(TINY.unet)).state_dict())
    with pytest.raises(CheckpointKeyError, match=r"missing 1 keys: denoise_fn.init_conv.weight(.|\n)*unexpected 1 keys: denoise_fn.extra.weight"):
        convert_diffusion_state_dict(state, TINY, expected)


def test_converter_refuses_a_checkpoint_with_another_schedule():
    keys, _ = load_key_list(FIXTURES / "diffusion_keys_tiny.json")
    state = seeded_diffusion_state(keys, TINY)
    state["betas"] = state["betas"] * 2
    with pytest.raises(CheckpointKeyError, match="betas"):
        convert_diffusion_state_dict(state, TINY)


def test_a_saved_drive_page_is_named_as_such(tmp_path):
    from adapters.lfdm.convert import load_checkpoint_file

    page = tmp_path / "lfdm-mug-lfae.pth"
    page.write_text("<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title>")
    with pytest.raises(CheckpointKeyError, match="HTML page.*browser"):
        load_checkpoint_file(page, "LFAE")


def test_converter_names_missing_lfae_parts():
    with pytest.raises(CheckpointKeyError, match="bg_predictor"):
        convert_lfae_state_dict({"generator": {}, "region_predictor": {}})


@pytest.mark.slow
def test_published_unet_forward_and_sampling_steps_match_upstream():
    ref, provenance = load_reference(FIXTURES / "diffusion_published.safetensors")
    config = json.loads(provenance["config"])
    assert config["dim"] == 64 and config["dim_mults"] == [1, 2, 4, 8]
    frames, size = ref["forward"].shape[2], None
    # Inputs are regenerated from the recorded seed, in the recorded order.
    generator = torch.Generator().manual_seed(SEED + 1)
    how = provenance["how"]
    size = int(how.split("frames, ")[1].split("x")[0])
    frames = int(how.split(" at ")[1].split(" frames")[0])
    x = torch.randn(2, 3, frames, size, size, generator=generator)
    fea = torch.randn(2, 256, size, size, generator=generator)
    cond = torch.randn(2, 768, generator=generator)
    model = native_unet(PUBLISHED_MUG, "diffusion_keys_published.json")
    ours = run_diffusion_reference(PUBLISHED_MUG, model, x, fea, cond, ref["t"])
    atol, rtol = tolerance(provenance)
    for name, value in ours.items():
        assert_close_reported(value[:, :, :2, ::4, ::4], ref[name], atol, rtol, f"published {name}")


@pytest.mark.slow
def test_published_lfae_regions_flows_and_warp_match_upstream():
    ref, provenance = load_reference(FIXTURES / "lfae_published.safetensors")
    keys, _ = load_key_list(FIXTURES / "lfae_keys_published.json")
    lfae = LatentFlowAutoencoder(PUBLISHED_MUG.lfae).eval()
    lfae.load_state_dict(convert_lfae_state_dict(split_lfae_keys(seeded_lfae_state(keys))), strict=True)
    generator = torch.Generator().manual_seed(SEED + 5)
    source, driving = torch.rand(1, 3, 128, 128, generator=generator), torch.rand(1, 3, 128, 128, generator=generator)
    flow = torch.rand(1, 32, 32, 2, generator=generator) * 2 - 1
    occlusion = torch.rand(1, 1, 32, 32, generator=generator)
    with torch.no_grad():
        source_regions, driving_regions = lfae.region_predictor(source), lfae.region_predictor(driving)
        bg = lfae.bg_predictor(source, driving)
        full = lfae.generator(source, driving_regions, source_regions, bg)
        warped = lfae.generator.forward_with_flow(source, flow, occlusion)
    sub = lambda v: v[..., ::4, ::4]  # noqa: E731
    pairs = {
        "region_shift": driving_regions["shift"], "region_affine": driving_regions["affine"], "bg_params": bg,
        "real_flow": full["optical_flow"][:, ::4, ::4], "real_occlusion": sub(full["occlusion_map"]),
        "bottleneck": full["bottleneck"][:, ::16, ::4, ::4], "reconstruction": sub(full["prediction"]),
        "warp_prediction": sub(warped["prediction"]), "warp_deformed": sub(warped["deformed"]),
    }
    atol, rtol = tolerance(provenance)
    for name, value in pairs.items():
        assert_close_reported(value, ref[name], atol, rtol, f"published LFAE {name}")

"""AVDC's native port against the authors' code (flow-diffusion/AVDC), on identical seeded weights.

The references under tests/fixtures/parity/avdc/ were written by running the upstream
``GoalGaussianDiffusion`` / ``UNetModel`` (commit in each file's provenance) outside the
project, with `tests.parity.seeded_weights` filling its ``model.unet.*`` keys. Here the
same key list is filled the same way, converted with `adapters.avdc.convert` and loaded
strictly into `AVDCUNet3D`; the forward, two full DDIM steps (with and without
guidance) and one DDPM step must match.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from adapters.avdc.config import VARIANTS, get_variant
from adapters.avdc.convert import (
    CheckpointConversionError,
    check_schedule,
    convert_unet_state,
    native_to_upstream,
    split_diffusion_state,
)
from adapters.avdc.sampler import AVDCDiffusion
from adapters.avdc.unet import AVDCUNet3D
from tests.parity.reference import assert_close_reported, load_reference
from tests.parity.seeded_weights import load_key_list, seeded_state_dict

FIXTURES = Path(__file__).parent / "fixtures" / "parity" / "avdc"
PUBLISHED = ("bridge", "ithor", "metaworld")


def _native_model(variant: str, seed: int) -> AVDCUNet3D:
    keys, _ = load_key_list(FIXTURES / f"{variant}_keys.json")
    filled = seeded_state_dict({k: s for k, s in keys.items() if k.startswith("model.unet.")}, seed)
    unet_state, _ = split_diffusion_state(filled, variant)
    model = AVDCUNet3D(**get_variant(variant).unet).eval()
    model.load_state_dict(convert_unet_state(unet_state, model.config), strict=True)
    return model


def _inputs(reference: dict[str, torch.Tensor], provenance: dict) -> dict[str, torch.Tensor]:
    if "in.x" in reference:
        return {k[3:]: v for k, v in reference.items() if k.startswith("in.")}
    # Published configs store no inputs: they are drawn again from the recorded seed, in the recorded order.
    g = torch.Generator().manual_seed(provenance["inputs_seed"])
    b, f, size, tokens = provenance["batch"], provenance["frames"], tuple(provenance["size"]), provenance["tokens"]
    dim = get_variant(provenance["config"]).unet["text_channels"]
    return {
        "x": torch.randn(b, 3 * f, *size, generator=g), "x_cond": torch.rand(b, 3, *size, generator=g),
        "t": torch.tensor([99, 37][:b]), "text": torch.randn(b, tokens, dim, generator=g),
        "noise": torch.randn(b, 3 * f, *size, generator=g),
    }


def _check_parity(variant: str) -> None:
    reference, provenance = load_reference(FIXTURES / f"{variant}_reference.safetensors")
    model = _native_model(variant, provenance["seed"])
    x = _inputs(reference, provenance)
    b, f = x["x"].shape[0], x["x"].shape[1] // 3
    subsample = "in.x" not in reference

    def to5(t: torch.Tensor) -> torch.Tensor:  # upstream [B, (F·3), H, W] → native [B, 3, F, H, W]
        return t.reshape(b, f, 3, *t.shape[-2:]).transpose(1, 2)

    def compare(name: str, native5: torch.Tensor, atol: float) -> None:
        actual = native5.transpose(1, 2).reshape(b, 3 * f, *native5.shape[-2:])
        if subsample:
            actual = actual[:, ::4, ::4, ::4]
        assert_close_reported(actual, reference[f"out.{name}"], atol=atol, rtol=provenance["rtol"], what=f"avdc {variant} {name}")

    diffusion = AVDCDiffusion()
    with torch.no_grad():
        def denoise(xt: torch.Tensor, t: torch.Tensor, conditional: bool) -> torch.Tensor:
            return model(xt, t, x["x_cond"], x["text"] if conditional else x["text"] * 0.0).sample

        compare("forward", model(to5(x["x"]), x["t"], x["x_cond"], x["text"]).sample, provenance["atol"])
        for w in (0, 2):
            if f"out.ddim2_w{w}" not in reference:
                continue
            atol = provenance["atol"] if w == 0 else provenance["atol_guided"]
            compare(f"ddim2_w{w}", diffusion.sample(denoise, to5(x["x"]), 2, float(w)), atol)
            t = torch.full((b,), 37)
            xt = to5(x["x"])
            _, x0 = diffusion.predictions(xt, t, denoise(xt, t, True), denoise(xt, t, False) if w else None, float(w))
            compare(f"ddpm_t37_w{w}", diffusion.ddpm_step(xt, 37, x0, to5(x["noise"])), provenance["atol"])


def test_tiny_config_matches_upstream():
    _check_parity("tiny")


@pytest.mark.slow
@pytest.mark.parametrize("variant", PUBLISHED)
def test_published_config_matches_upstream(variant):
    _check_parity(variant)


@pytest.mark.parametrize("variant", ("tiny", *PUBLISHED))
def test_key_fixture_is_what_the_converter_maps(variant):
    """The upstream key list (= the official checkpoint's 'model' entry) maps exactly onto the native model."""
    keys, provenance = load_key_list(FIXTURES / f"{variant}_keys.json")
    assert provenance["commit"] and provenance["upstream"] == "flow-diffusion/AVDC"
    config = get_variant(variant).unet
    with torch.device("meta"):
        model = AVDCUNet3D(**config)
    native = set(model.state_dict())
    upstream = {k.removeprefix("model.unet.") for k in keys if k.startswith("model.unet.")}
    assert native_to_upstream(native, model.config) == upstream
    _, buffers = split_diffusion_state({k: torch.zeros(s) for k, s in keys.items()}, variant)
    assert set(buffers) == set(k for k in keys if not k.startswith("model.unet."))


def test_schedule_buffers_of_the_release_are_the_samplers():
    """The fixture's schedule buffers, computed by upstream, are checked against the native sampler."""
    reference_schedule = AVDCDiffusion().schedule
    check_schedule(reference_schedule, "native")
    broken = dict(reference_schedule, betas=reference_schedule["betas"] * 1.01)
    with pytest.raises(CheckpointConversionError, match="betas"):
        check_schedule(broken, "a checkpoint")


def test_a_wrong_variant_is_refused_with_the_keys_named():
    keys, _ = load_key_list(FIXTURES / "tiny_keys.json")
    unet_state, _ = split_diffusion_state({k: torch.zeros(s) for k, s in keys.items()}, "tiny")
    with pytest.raises(CheckpointConversionError, match="(?s)missing .*unexpected"):
        convert_unet_state(unet_state, get_variant("bridge").unet)
    assert set(VARIANTS) >= {"tiny", *PUBLISHED}

"""HANDI's noise predictor: the released layout, parity with AnimateAnything's UNet, the interface.

Fixtures in tests/fixtures/handi_unet/ were made from the upstream code in its own
environment (PROVENANCE.md there says how); nothing here imports upstream code.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from safetensors import safe_open  # noqa: E402

from handi.models.configs import published_unet_config, tiny_unet_config  # noqa: E402
from handi.models.unet import HandiUNet3DConditionModel, UNet3DConditionOutput  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "handi_unet"
PARITY_CASES = ("mask_motion", "plain", "cfg_odd_size")
# fp32 on CPU; upstream's diffusers 0.24 and our 0.42 take the same SDPA kernels.
PARITY_ATOL = 1e-5
# The recipe's constants; tests/fixtures/handi_unet/PROVENANCE.md repeats them.
WEIGHT_SEED = 20240610


def seeded_state_dict(shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """Weights that depend only on the key names and shapes, not on any module's init order.

    Every tensor is drawn from one generator, keys in sorted order: matrices and kernels
    N(0, 1/fan_in), 1-D weights (norms) 1 + N(0, 0.1^2), biases N(0, 0.05^2). Zero-initialised
    layers (temporal convs' last conv, temporal transformers' proj_out) become non-zero, so
    the parity covers every path.
    """
    generator = torch.Generator().manual_seed(WEIGHT_SEED)
    state = {}
    for name in sorted(shapes):
        shape = tuple(shapes[name])
        noise = torch.randn(shape, generator=generator, dtype=torch.float32)
        if len(shape) >= 2:
            state[name] = noise / math.sqrt(math.prod(shape[1:]))
        elif name.endswith("weight"):
            state[name] = 1.0 + 0.1 * noise
        else:
            state[name] = 0.05 * noise
    return state


def _digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].contiguous().numpy().tobytes())
    return h.hexdigest()


def _tiny(seed: int = 0, **overrides) -> HandiUNet3DConditionModel:
    torch.manual_seed(seed)
    config = tiny_unet_config()
    config.update(overrides)
    model = HandiUNet3DConditionModel.from_config(config)
    # Seeded non-zero weights everywhere, so no path is an identity by initialisation.
    model.load_state_dict(seeded_state_dict({k: v.shape for k, v in model.state_dict().items()}))
    return model.eval()


def _inputs(batch: int = 2, frames: int = 4, size: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "sample": torch.randn(batch, 4, frames, size, size, generator=g),
        "timestep": torch.tensor([10, 700][:batch]),
        "encoder_hidden_states": torch.randn(batch, 5, 32, generator=g),
        "condition_latent": torch.randn(batch, 4, 1, size, size, generator=g),
        "mask": (torch.rand(batch, 1, 1, size, size, generator=g) > 0.5).float(),
        "motion": torch.tensor([3.0, 9.0][:batch]),
    }


# --- The released layout -------------------------------------------------------------------


def test_published_unet_has_upstream_keys_shapes_and_parameter_count() -> None:
    from accelerate import init_empty_weights

    with init_empty_weights():
        model = HandiUNet3DConditionModel.from_config(published_unet_config())
    reference = json.loads(gzip.decompress((FIXTURES / "upstream_published_keys.json.gz").read_bytes()))
    ours = {name: list(t.shape) for name, t in model.state_dict().items()}

    assert next(model.parameters()).device.type == "meta"
    assert sorted(set(ours) - set(reference["keys"])) == []
    assert sorted(set(reference["keys"]) - set(ours)) == []
    assert ours == reference["keys"]
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == reference["num_parameters"] == 1_413_401_540  # 1,413.4 M, as AnimateAnything reports


def test_released_folder_layout_loads_with_from_pretrained(tmp_path: Path) -> None:
    """A `unet/` folder as released (config.json by upstream's class name, a .bin state dict) loads."""
    model = _tiny()
    config = dict(tiny_unet_config(), _class_name="UNet3DConditionModel", _diffusers_version="0.24.0")
    (tmp_path / "config.json").write_text(json.dumps(config))
    torch.save(model.state_dict(), tmp_path / "diffusion_pytorch_model.bin")

    loaded = HandiUNet3DConditionModel.from_pretrained(tmp_path).eval()

    assert loaded.config.motion_mask and loaded.config.motion_strength
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_save_pretrained_round_trip_keeps_the_function(tmp_path: Path) -> None:
    model = _tiny()
    x = _inputs()
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert {k: saved[k] for k in tiny_unet_config()} == tiny_unet_config()

    loaded = HandiUNet3DConditionModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert torch.equal(loaded(**x).sample, model(**x).sample)


# --- Parity with upstream --------------------------------------------------------------------


@pytest.fixture(scope="module")
def parity_fixture() -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(FIXTURES / "parity_tiny.safetensors", framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


@pytest.mark.parametrize("case", PARITY_CASES)
def test_output_equals_upstream_animate_anything_unet(case: str, parity_fixture) -> None:
    tensors, metadata = parity_fixture
    torch.manual_seed(0)
    model = HandiUNet3DConditionModel.from_config(tiny_unet_config()).eval()
    state = seeded_state_dict({k: v.shape for k, v in model.state_dict().items()})
    # The same weights upstream ran with, or the comparison would mean nothing.
    assert _digest(state) == metadata["weights_sha256"]
    model.load_state_dict(state, strict=True)

    timestep = tensors[f"{case}.timestep"]
    with torch.no_grad():
        out = model(
            tensors[f"{case}.sample"],
            int(timestep) if case == "plain" else timestep,  # "plain" passes a Python int
            tensors[f"{case}.encoder_hidden_states"],
            tensors[f"{case}.condition_latent"],
            mask=tensors.get(f"{case}.mask"),
            motion=tensors.get(f"{case}.motion"),
        ).sample

    reference = tensors[f"{case}.output"]
    assert out.shape == reference.shape
    assert (out - reference).abs().max().item() <= PARITY_ATOL


def test_parity_fixture_covers_mask_and_motion(parity_fixture) -> None:
    """The reference exercises both conditioned and unconditioned paths (else parity is partial)."""
    tensors, _ = parity_fixture
    assert "mask_motion.mask" in tensors and "mask_motion.motion" in tensors
    assert "plain.mask" not in tensors and "plain.motion" not in tensors
    assert tensors["cfg_odd_size.mask"].shape[0] == 1  # one mask for the whole CFG batch


# --- Interface ------------------------------------------------------------------------------


def test_output_is_target_frames_only_with_context_dropped() -> None:
    model = _tiny()
    x = _inputs(batch=2, frames=5, size=8)
    with torch.no_grad():
        out = model(**x)
        as_tuple = model(**x, return_dict=False)
    assert isinstance(out, UNet3DConditionOutput)
    assert out.sample.shape == (2, 4, 5, 8, 8)
    assert out.sample.dtype == torch.float32
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], out.sample)


def test_condition_latent_conditions_the_prediction() -> None:
    model = _tiny()
    x = _inputs()
    other = dict(x, condition_latent=x["condition_latent"] + 1.0)
    with torch.no_grad():
        assert not torch.allclose(model(**x).sample, model(**other).sample, atol=1e-4)


def test_mask_goes_through_conv_in2() -> None:
    model = _tiny()
    x = _inputs()
    with torch.no_grad():
        with_mask = model(**x).sample
        without_mask = model(**dict(x, mask=None)).sample
        other_mask = model(**dict(x, mask=1.0 - x["mask"])).sample
        assert not torch.allclose(with_mask, without_mask, atol=1e-4)
        assert not torch.allclose(with_mask, other_mask, atol=1e-4)

        # conv_in2 is the path with a mask, conv_in the path without.
        model.conv_in2.weight.mul_(0.5)
        assert not torch.allclose(model(**x).sample, with_mask, atol=1e-4)
        assert torch.equal(model(**dict(x, mask=None)).sample, without_mask)


def test_mask_channel_comes_first() -> None:
    """conv_in2's input channel 0 is the mask: zeroing its kernel makes the mask irrelevant."""
    model = _tiny()
    x = _inputs()
    with torch.no_grad():
        model.conv_in2.weight[:, 0].zero_()
        assert torch.equal(model(**x).sample, model(**dict(x, mask=1.0 - x["mask"])).sample)


def test_one_mask_serves_the_whole_batch() -> None:
    model = _tiny()
    x = _inputs()
    one = x["mask"][:1]
    with torch.no_grad():
        assert torch.equal(model(**dict(x, mask=one)).sample, model(**dict(x, mask=one.expand(2, -1, -1, -1, -1))).sample)


def test_motion_strength_changes_the_prediction() -> None:
    model = _tiny()
    x = _inputs()
    with torch.no_grad():
        base = model(**x).sample
        assert not torch.allclose(base, model(**dict(x, motion=x["motion"] * 2)).sample, atol=1e-4)
        assert not torch.allclose(base, model(**dict(x, motion=None)).sample, atol=1e-4)
        # A float serves every video, the same as a [B] tensor of it.
        assert torch.equal(model(**dict(x, motion=4.0)).sample, model(**dict(x, motion=torch.tensor([4.0, 4.0]))).sample)


def test_motion_is_added_through_time_embedding_cond_proj() -> None:
    model = _tiny()
    x = _inputs()
    with torch.no_grad():
        base = model(**x).sample
        model.time_embedding.cond_proj.weight.zero_()
        assert torch.allclose(model(**x).sample, model(**dict(x, motion=None)).sample, atol=1e-6)
        assert not torch.allclose(model(**x).sample, base, atol=1e-4)


def test_classifier_free_guidance_batch_rows_are_independent() -> None:
    """B = 2 with an unconditional and a conditional text row: each row equals its own B = 1 run."""
    model = _tiny()
    x = _inputs()
    x["encoder_hidden_states"][0] = 0.0
    with torch.no_grad():
        both = model(**dict(x, mask=x["mask"][:1])).sample
        for row in range(2):
            single = {k: v[row : row + 1] for k, v in x.items() if k != "mask"}
            alone = model(**single, mask=x["mask"][:1]).sample
            assert torch.allclose(both[row : row + 1], alone, atol=1e-5), row
    assert not torch.allclose(both[0], both[1], atol=1e-4)


def test_timestep_forms_agree() -> None:
    model = _tiny()
    x = _inputs()
    with torch.no_grad():
        as_int = model(**dict(x, timestep=321)).sample
        assert torch.equal(as_int, model(**dict(x, timestep=torch.tensor(321))).sample)
        assert torch.equal(as_int, model(**dict(x, timestep=torch.tensor([321, 321]))).sample)
        assert not torch.allclose(as_int, model(**dict(x, timestep=torch.tensor([321, 5]))).sample, atol=1e-4)


def test_gradient_checkpointing_recomputes_and_matches() -> None:
    model = _tiny().train()  # dropout on: checkpointing must replay the same RNG draws
    x = _inputs()
    calls = {"n": 0}

    def count(*_):  # a pre-hook: recomputation stops early, before forward hooks would run
        calls["n"] += 1

    hooks = [block.register_forward_pre_hook(count) for block in (*model.down_blocks, model.mid_block, *model.up_blocks)]

    def step() -> tuple[torch.Tensor, dict[str, torch.Tensor], int]:
        model.zero_grad()
        calls["n"] = 0
        torch.manual_seed(123)
        out = model(**x).sample
        out.square().mean().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        return out.detach(), grads, calls["n"]

    plain_out, plain_grads, plain_calls = step()
    model.enable_gradient_checkpointing()
    ckpt_out, ckpt_grads, ckpt_calls = step()
    for hook in hooks:
        hook.remove()

    assert ckpt_calls == 2 * plain_calls  # each block ran again in backward
    assert torch.allclose(ckpt_out, plain_out, atol=1e-6)
    assert plain_grads.keys() == ckpt_grads.keys()
    assert "conv_in2.weight" in ckpt_grads and "time_embedding.cond_proj.weight" in ckpt_grads
    for name, grad in plain_grads.items():
        assert torch.allclose(ckpt_grads[name], grad, atol=1e-6), name
    assert all(g.abs().sum() > 0 for n, g in ckpt_grads.items() if n.startswith(("down_blocks", "up_blocks")))


# --- Clear errors ---------------------------------------------------------------------------


def test_mask_refused_by_a_model_without_motion_mask() -> None:
    model = _tiny(motion_mask=False)
    with pytest.raises(ValueError, match="motion_mask=False"):
        model(**_inputs())


def test_motion_refused_by_a_model_without_motion_strength() -> None:
    model = _tiny(motion_strength=False)
    with pytest.raises(ValueError, match="motion_strength=False"):
        model(**_inputs())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("condition_latent", torch.zeros(2, 4, 2, 8, 8), "condition_latent must be"),
        ("mask", torch.zeros(2, 1, 2, 8, 8), "mask must be"),
        ("encoder_hidden_states", torch.zeros(1, 5, 32), "encoder_hidden_states must be"),
        ("motion", torch.zeros(3), "motion must be"),
    ],
)
def test_inconsistent_inputs_are_named(field: str, value: torch.Tensor, message: str) -> None:
    model = _tiny()
    with pytest.raises(ValueError, match=message):
        model(**dict(_inputs(), **{field: value}))


def test_mismatched_block_lists_are_refused() -> None:
    with pytest.raises(ValueError, match="down_block_types and up_block_types"):
        HandiUNet3DConditionModel.from_config(dict(tiny_unet_config(), up_block_types=["UpBlock3D"]))

"""Read LFDM's released checkpoints and map their keys onto the port's modules.

The authors release two files per dataset (README, Google Drive):

- the **LFAE** ``RegionMM_*.pth``: ``{"generator", "region_predictor", "bg_predictor",
  "optimizer", "example", "epoch"}``, the three state dicts saved by ``LFAE/train.py``;
- the **DM** ``flowdiff_*.pth``: ``{"diffusion", "optimizer_diff", "example"}``, where
  ``diffusion`` is ``GaussianDiffusion.state_dict()``: the UNet under ``denoise_fn.`` and
  the noise-schedule buffers (``DM/train_video_flow_diffusion_*.py``).

LFAE keys keep their names (the port's modules are named as upstream's). UNet keys are
renamed by `UNET_RULES` (upstream ``downs.0.0.block1.proj.weight`` → port
``down_blocks.0.resnet1.conv1.weight``). Constants stored in the DM file (the schedule
buffers and one copy of the rotary frequencies per temporal attention) are checked
against the port's own values and dropped, so a checkpoint trained with a different
schedule is refused rather than sampled wrongly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import torch

from adapters.lfdm.config import LFDMConfig
from adapters.lfdm.sampler import NoiseSchedule
from adapters.lfdm.unet import rotary_frequencies

LFAE_PARTS = ("generator", "region_predictor", "bg_predictor")
UNET_PREFIX = "denoise_fn."


class CheckpointKeyError(ValueError):
    """A checkpoint's keys do not match the model; the message lists the missing and unexpected ones."""


def _resnet_rules(upstream: str, native: str) -> list[tuple[str, str]]:
    parts = [("mlp.1", "time_proj"), ("block1.proj", "conv1"), ("block1.norm", "norm1"),
             ("block2.proj", "conv2"), ("block2.norm", "norm2"), ("res_conv", "shortcut")]
    return [(f"{upstream}.{a}.{{p}}", f"{native}.{b}.{{p}}") for a, b in parts]


def _attention_rules(upstream: str, native: str, nested: bool) -> list[tuple[str, str]]:
    # Upstream wraps attentions as Residual(PreNorm(norm, fn)), temporal/full ones once more (EinopsToAndFrom).
    inner = f"{upstream}.fn.fn.fn" if nested else f"{upstream}.fn.fn"
    return [(f"{upstream}.fn.norm.gamma", f"{native}.norm.weight"),
            (f"{inner}.to_qkv.weight", f"{native}.to_qkv.weight"),
            (f"{inner}.to_out.{{p}}", f"{native}.to_out.{{p}}")]


def _level_rules(upstream: str, native: str, resample: str) -> list[tuple[str, str]]:
    return [
        *_resnet_rules(f"{upstream}.0", f"{native}.resnet1"),
        *_resnet_rules(f"{upstream}.1", f"{native}.resnet2"),
        *_attention_rules(f"{upstream}.2", f"{native}.spatial_attn", nested=False),
        *_attention_rules(f"{upstream}.3", f"{native}.temporal_attn", nested=True),
        (f"{upstream}.4.{{p}}", f"{native}.{resample}.{{p}}"),
    ]


#: (upstream pattern, port pattern): ``{i}`` is a level index, ``{p}`` weight or bias.
UNET_RULES: list[tuple[str, str]] = [
    ("time_rel_pos_bias.relative_attention_bias.weight", "time_pos_bias.embedding.weight"),
    ("init_conv.{p}", "conv_in.{p}"),
    *_attention_rules("init_temporal_attn", "temporal_in", nested=True),
    ("time_mlp.1.{p}", "time_embedding.linear_1.{p}"),
    ("time_mlp.3.{p}", "time_embedding.linear_2.{p}"),
    ("null_cond_emb", "null_text_embedding"),
    *_level_rules("downs.{i}", "down_blocks.{i}", "downsample"),
    *_level_rules("ups.{i}", "up_blocks.{i}", "upsample"),
    *_resnet_rules("mid_block1", "mid_block.resnet1"),
    *_attention_rules("mid_spatial_attn", "mid_block.spatial_attn", nested=True),
    *_attention_rules("mid_temporal_attn", "mid_block.temporal_attn", nested=True),
    *_resnet_rules("mid_block2", "mid_block.resnet2"),
    *_resnet_rules("final_conv.0", "flow_head.resnet"),
    ("final_conv.1.{p}", "flow_head.proj.{p}"),
    *_resnet_rules("occlusion_map.0", "occlusion_head.resnet"),
    ("occlusion_map.1.{p}", "occlusion_head.proj.{p}"),
]

#: Upstream keys holding constants, not weights (checked, then dropped).
ROTARY_KEY = re.compile(r"^(init_temporal_attn|downs\.\d+\.3|ups\.\d+\.3|mid_temporal_attn)\.fn\.fn\.fn\.rotary_emb\.freqs$")


def _compile(pattern: str) -> re.Pattern[str]:
    regex = re.escape(pattern).replace(r"\{i\}", r"(?P<i>\d+)").replace(r"\{p\}", r"(?P<p>weight|bias)")
    return re.compile(f"^{regex}$")


_FORWARD = [(_compile(a), b) for a, b in UNET_RULES]
_BACKWARD = [(_compile(b), a) for a, b in UNET_RULES]


def _rename(key: str, rules: list[tuple[re.Pattern[str], str]]) -> str | None:
    for regex, template in rules:
        match = regex.match(key)
        if match:
            return template.format(**match.groupdict())
    return None


def unet_key_to_native(key: str) -> str | None:
    """The port's name of an upstream ``Unet3D`` key (without ``denoise_fn.``), or None if unknown."""
    return _rename(key, _FORWARD)


def unet_key_to_upstream(key: str) -> str | None:
    """The inverse of `unet_key_to_native`."""
    return _rename(key, _BACKWARD)


def _key_error(what: str, missing: list[str], unexpected: list[str]) -> CheckpointKeyError:
    def show(keys: list[str]) -> str:
        return ", ".join(keys[:12]) + (f" … (+{len(keys) - 12})" if len(keys) > 12 else "")

    lines = [f"{what}: the checkpoint does not match the LFDM model"]
    if missing:
        lines.append(f"  missing {len(missing)} keys: {show(sorted(missing))}")
    if unexpected:
        lines.append(f"  unexpected {len(unexpected)} keys: {show(sorted(unexpected))}")
    lines.append("  (is it the right file — an LFAE RegionMM_*.pth or a DM flowdiff_*.pth — and the right config: mug / mhad / natops?)")
    return CheckpointKeyError("\n".join(lines))


def diffusion_constants(config: LFDMConfig) -> dict[str, torch.Tensor]:
    """The constants a released DM state dict holds beside the weights, by their upstream names.

    The schedule buffers, and the rotary frequencies keyed by one temporal attention
    (``rotary_emb.freqs``: the converter compares every copy with it).
    """
    out = NoiseSchedule(config.diffusion.timesteps).as_buffers()
    out["rotary_emb.freqs"] = rotary_frequencies(min(32, config.unet.temporal_dim_head))
    return out


def convert_diffusion_state_dict(state: Mapping[str, torch.Tensor], config: LFDMConfig, expected: set[str] | None = None) -> dict[str, torch.Tensor]:
    """The DM checkpoint's ``diffusion`` dict → the port's `FlowUNet3DModel` state dict.

    Args:
        state: ``GaussianDiffusion.state_dict()`` keys (``denoise_fn.*`` and the schedule).
        config: The model's config (its schedule and rotary size are checked).
        expected: The port's key set, to report missing keys (default: not checked here;
            ``load_state_dict(strict=True)`` will).

    Returns:
        Port key → tensor.

    Raises:
        CheckpointKeyError: Listing unknown (unexpected) and missing keys, or a
            constant whose value differs from the port's.
    """
    constants = diffusion_constants(config)
    out: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    for key, value in state.items():
        if key in NoiseSchedule.NAMES:
            _check_constant(key, value, constants[key])
            continue
        if not key.startswith(UNET_PREFIX):
            unexpected.append(key)
            continue
        inner = key[len(UNET_PREFIX):]
        if ROTARY_KEY.match(inner):
            _check_constant(key, value, constants["rotary_emb.freqs"])
            continue
        native = unet_key_to_native(inner)
        if native is None:
            unexpected.append(key)
        else:
            out[native] = value
    missing = [UNET_PREFIX + (unet_key_to_upstream(k) or k) for k in sorted(expected - set(out))] if expected is not None else []
    missing += [k for k in NoiseSchedule.NAMES if k not in state]
    if unexpected or missing:
        raise _key_error("LFDM diffusion checkpoint", missing, unexpected)
    return out


def _check_constant(key: str, value: torch.Tensor, mine: torch.Tensor) -> None:
    if tuple(value.shape) != tuple(mine.shape) or not torch.allclose(value.float().cpu(), mine, rtol=1e-5, atol=1e-6):
        raise CheckpointKeyError(
            f"LFDM diffusion checkpoint: {key} (shape {tuple(value.shape)}) differs from the port's constant "
            f"(shape {tuple(mine.shape)}): the checkpoint was made with another noise schedule or rotary size"
        )


def convert_lfae_state_dict(checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The LFAE checkpoint (or ``{part: state}``) → the port's `LatentFlowAutoencoder` state dict.

    Raises:
        CheckpointKeyError: If one of ``generator``, ``region_predictor``,
            ``bg_predictor`` is missing.
    """
    missing = [part for part in LFAE_PARTS if part not in checkpoint]
    if missing:
        raise CheckpointKeyError(
            f"LFDM LFAE checkpoint: lacks {missing} (has {sorted(checkpoint)[:8]}); expected the RegionMM_*.pth "
            "file saved by LFAE/train.py"
        )
    return {f"{part}.{key}": value for part in LFAE_PARTS for key, value in checkpoint[part].items()}


def split_lfae_keys(state: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"generator.x": v, ...}`` → ``{"generator": {"x": v}, ...}`` (a flat key list back to the file's layout)."""
    out: dict[str, dict[str, Any]] = {part: {} for part in LFAE_PARTS}
    for key, value in state.items():
        part, _, rest = key.partition(".")
        if part not in out:
            raise CheckpointKeyError(f"LFDM LFAE: key {key!r} belongs to none of {LFAE_PARTS}")
        out[part][rest] = value
    return out


def load_checkpoint_file(path: str | Path, what: str) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with a clear error for an unreadable file."""
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(512).lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        # What a plain download of a Google Drive link (e.g. `hcvg assets fetch`) saves.
        raise CheckpointKeyError(
            f"LFDM: {what} checkpoint {path} is an HTML page, not the weights: Google Drive serves its "
            "download page to scripts. Open the Drive link in a browser (or use `gdown FILE_ID`) and save the .pth there"
        )
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - re-raised with the file and what was expected
        raise CheckpointKeyError(f"LFDM: cannot read {what} checkpoint {path}: {err}") from err
    if not isinstance(data, dict):
        raise CheckpointKeyError(f"LFDM: {what} checkpoint {path} holds a {type(data).__name__}, expected a dict")
    return data


def load_released(lfae_path: str | Path, dm_path: str | Path, config: LFDMConfig) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Both released files → (LFAE state dict, UNet state dict) of the port.

    Raises:
        CheckpointKeyError: If a file is unreadable, lacks its parts, or holds other keys.
    """
    lfae = convert_lfae_state_dict(load_checkpoint_file(lfae_path, "LFAE"))
    dm = load_checkpoint_file(dm_path, "DM")
    if "diffusion" not in dm:
        raise CheckpointKeyError(f"LFDM: DM checkpoint {dm_path} has no 'diffusion' entry (has {sorted(dm)[:8]}); expected a flowdiff_*.pth")
    return lfae, convert_diffusion_state_dict(dm["diffusion"], config)

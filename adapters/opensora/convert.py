"""Official Open-Sora 1.2 checkpoints → this port's modules, by key name.

The released files (``hpcai-tech/OpenSora-STDiT-v3/model.safetensors`` and
``hpcai-tech/OpenSora-VAE-v1.2/model.safetensors``) hold the upstream modules' state
dicts. Each key is mapped by one rule of a table: a renamed key, or a fused projection
split in equal parts along its output rows (STDiT3's ``attn.qkv`` into query, key and
value; ``cross_attn.kv_linear`` into key and value). A key no rule maps, or a native key
no official key fills, is an error listing them, never skipped.

The tables run both ways: `official_keys` maps a native key list back to the official
names, so a test can compare the port's keys with the checkpoint's key list without
building the full model in memory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Mapping

import torch

#: Placeholders of the rule templates and what they match.
_FIELDS = {
    "blocks": r"(?:spatial|temporal)_blocks\.\d+",
    "param": r"weight|bias",
    "i": r"\d+",
    "j": r"\d+",
    "rest": r".+",
}

# (official key template, native key templates): one native key = a rename; several =
# the official tensor split in that many equal parts along dim 0, in that order.
STDIT3_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("x_embedder.proj.{param}", ("patch_embed.{param}",)),
    ("t_embedder.mlp.0.{param}", ("time_embed.linear_1.{param}",)),
    ("t_embedder.mlp.2.{param}", ("time_embed.linear_2.{param}",)),
    ("fps_embedder.mlp.0.{param}", ("fps_embed.linear_1.{param}",)),
    ("fps_embedder.mlp.2.{param}", ("fps_embed.linear_2.{param}",)),
    ("t_block.1.{param}", ("time_modulation.1.{param}",)),
    ("y_embedder.y_proj.fc1.{param}", ("caption_projection.linear_1.{param}",)),
    ("y_embedder.y_proj.fc2.{param}", ("caption_projection.linear_2.{param}",)),
    ("y_embedder.y_embedding", ("null_caption",)),
    ("rope.freqs", ("rope_freqs",)),
    ("{blocks}.scale_shift_table", ("{blocks}.scale_shift_table",)),
    ("{blocks}.attn.qkv.{param}", ("{blocks}.attn.to_q.{param}", "{blocks}.attn.to_k.{param}", "{blocks}.attn.to_v.{param}")),
    ("{blocks}.attn.q_norm.weight", ("{blocks}.attn.norm_q.weight",)),
    ("{blocks}.attn.k_norm.weight", ("{blocks}.attn.norm_k.weight",)),
    ("{blocks}.attn.proj.{param}", ("{blocks}.attn.to_out.{param}",)),
    ("{blocks}.cross_attn.q_linear.{param}", ("{blocks}.cross_attn.to_q.{param}",)),
    ("{blocks}.cross_attn.kv_linear.{param}", ("{blocks}.cross_attn.to_k.{param}", "{blocks}.cross_attn.to_v.{param}")),
    ("{blocks}.cross_attn.proj.{param}", ("{blocks}.cross_attn.to_out.{param}",)),
    ("{blocks}.mlp.fc1.{param}", ("{blocks}.ff.net.0.proj.{param}",)),
    ("{blocks}.mlp.fc2.{param}", ("{blocks}.ff.net.2.{param}",)),
    ("final_layer.linear.{param}", ("proj_out.{param}",)),
    ("final_layer.scale_shift_table", ("out_scale_shift_table",)),
)

# The temporal VAE's causal convolutions wrap an ``nn.Conv3d`` as ``.conv``; the port's
# are the convolution itself, so ``X.conv.weight`` becomes ``X.weight``.
_RESNET = (
    ("norm1.{param}", "norm1.{param}"), ("conv1.conv.weight", "conv1.weight"), ("norm2.{param}", "norm2.{param}"),
    ("conv2.conv.weight", "conv2.weight"), ("conv3.conv.weight", "conv_shortcut.weight"),
)
TEMPORAL_VAE_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("encoder.conv_in.conv.weight", ("encoder.conv_in.weight",)),
    *((f"encoder.block_res_blocks.{{i}}.{{j}}.{a}", (f"encoder.down_blocks.{{i}}.{{j}}.{b}",)) for a, b in _RESNET),
    ("encoder.conv_blocks.{i}.conv.{param}", ("encoder.downsamplers.{i}.{param}",)),
    *((f"encoder.res_blocks.{{j}}.{a}", (f"encoder.mid_blocks.{{j}}.{b}",)) for a, b in _RESNET),
    ("encoder.norm1.{param}", ("encoder.norm_out.{param}",)),
    ("encoder.conv2.conv.{param}", ("encoder.conv_out.{param}",)),
    ("quant_conv.conv.{param}", ("quant_conv.{param}",)),
    ("post_quant_conv.conv.{param}", ("post_quant_conv.{param}",)),
    ("decoder.conv1.conv.{param}", ("decoder.conv_in.{param}",)),
    *((f"decoder.res_blocks.{{j}}.{a}", (f"decoder.mid_blocks.{{j}}.{b}",)) for a, b in _RESNET),
    *((f"decoder.block_res_blocks.{{i}}.{{j}}.{a}", (f"decoder.up_blocks.{{i}}.{{j}}.{b}",)) for a, b in _RESNET),
    ("decoder.conv_blocks.{i}.conv.{param}", ("decoder.upsamplers.{i}.{param}",)),
    ("decoder.norm1.{param}", ("decoder.norm_out.{param}",)),
    ("decoder.conv_out.conv.{param}", ("decoder.conv_out.{param}",)),
)
#: The whole VAE file: the SDXL image VAE (diffusers key names already), the temporal
#: VAE, and the latent normalization.
VAE_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("spatial_vae.module.{rest}", ("spatial.{rest}",)),
    *((f"temporal_vae.{a}", tuple(f"temporal.{b}" for b in bs)) for a, bs in TEMPORAL_VAE_RULES),
    ("scale", ("latent_scale",)),
    ("shift", ("latent_shift",)),
)


class CheckpointKeyError(KeyError):
    """A checkpoint's keys do not match the module it is loaded into."""

    def __str__(self) -> str:  # KeyError quotes its message; show it as written
        return str(self.args[0])


def _compile(template: str) -> re.Pattern:
    parts = re.split(r"(\{\w+\})", template)
    pattern = "".join(f"(?P<{p[1:-1]}>{_FIELDS[p[1:-1]]})" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(pattern + r"\Z")


def _match(key: str, rules, forward: bool) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(source templates, target templates) of the rule matching ``key``, filled in; None if none does."""
    for official, natives in rules:
        sources, targets = ((official,), natives) if forward else (natives, (official,))
        for source in sources:
            found = _compile(source).match(key)
            if found:
                fields = found.groupdict()
                return tuple(s.format(**fields) for s in sources), tuple(t.format(**fields) for t in targets)
    return None


def convert_state_dict(official: Mapping[str, torch.Tensor], rules, what: str) -> dict[str, torch.Tensor]:
    """Map official tensors to native keys (splitting fused projections).

    Args:
        official: The checkpoint's key → tensor.
        rules: `STDIT3_RULES` or `VAE_RULES`.
        what: The checkpoint's name, for messages.

    Returns:
        Native key → tensor.

    Raises:
        CheckpointKeyError: Listing the keys no rule maps.
    """
    native: dict[str, torch.Tensor] = {}
    unmapped = []
    for key, tensor in official.items():
        matched = _match(key, rules, forward=True)
        if matched is None:
            unmapped.append(key)
            continue
        _, targets = matched
        if len(targets) == 1:
            native[targets[0]] = tensor
        else:
            if tensor.shape[0] % len(targets):
                raise CheckpointKeyError(f"{what}: {key} has {tensor.shape[0]} rows, not divisible into {len(targets)} parts")
            native.update(zip(targets, tensor.chunk(len(targets), dim=0)))
    if unmapped:
        raise CheckpointKeyError(f"{what}: {len(unmapped)} keys this port has no place for: {_listing(unmapped)}")
    return native


def official_keys(native_keys: Iterable[str], rules, what: str) -> set[str]:
    """The official key names a set of native keys comes from (the inverse of `convert_state_dict`).

    Raises:
        CheckpointKeyError: If a native key has no rule, or a split's parts are not all present.
    """
    native_keys = set(native_keys)
    out, orphans = set(), []
    for key in native_keys:
        matched = _match(key, rules, forward=False)
        if matched is None:
            orphans.append(key)
            continue
        parts, (official,) = matched
        if not set(parts) <= native_keys:
            orphans.append(key)
            continue
        out.add(official)
    if orphans:
        raise CheckpointKeyError(f"{what}: native keys no official key maps to: {_listing(orphans)}")
    return out


def to_official(native: Mapping[str, torch.Tensor], rules, what: str) -> dict[str, torch.Tensor]:
    """Native tensors under the official names (split parts concatenated back): the checkpoint a port's weights make.

    Used to write tiny test checkpoints in the official layout, so the adapter's tests
    load them through `convert_state_dict` like the released files.

    Raises:
        CheckpointKeyError: If a native key has no rule or a split lacks a part.
    """
    out: dict[str, torch.Tensor] = {}
    for key in sorted(official_keys(native, rules, what)):
        _, targets = _match(key, rules, forward=True)
        out[key] = native[targets[0]] if len(targets) == 1 else torch.cat([native[t] for t in targets], dim=0)
    return out


def _listing(keys: Iterable[str], limit: int = 12) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def load_into(module: torch.nn.Module, native: Mapping[str, torch.Tensor], what: str, assign: bool = False) -> None:
    """Load converted tensors into ``module``, strictly, with a message naming what differs.

    ``assign=True`` takes the tensors themselves (for a module built on the ``meta`` device).

    Raises:
        CheckpointKeyError: Listing missing and unexpected keys, or mismatched shapes.
    """
    expected = module.state_dict()
    missing = set(expected) - set(native)
    unexpected = set(native) - set(expected)
    shapes = [f"{k}: checkpoint {tuple(native[k].shape)} vs model {tuple(expected[k].shape)}"
              for k in set(expected) & set(native) if tuple(native[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or shapes:
        lines = [f"{what}: the checkpoint does not fit {type(module).__name__} (is it the right file and config?)"]
        if missing:
            lines.append(f"  missing ({len(missing)}): {_listing(missing)}")
        if unexpected:
            lines.append(f"  unexpected ({len(unexpected)}): {_listing(unexpected)}")
        if shapes:
            lines.append(f"  shape mismatches ({len(shapes)}): {'; '.join(sorted(shapes)[:6])}")
        raise CheckpointKeyError("\n".join(lines))
    module.load_state_dict(dict(native), strict=True, assign=assign)


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file, or of a torch file read with ``weights_only=True``.

    A folder is read as the ``model.safetensors`` inside it (a hub snapshot).

    Raises:
        FileNotFoundError: If there is no such file.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"Open-Sora checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    return dict(state)


def convert_stdit3(official: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The STDiT3 checkpoint's tensors under `adapters.opensora.stdit3.STDiT3Model`'s names."""
    return convert_state_dict(official, STDIT3_RULES, "OpenSora-STDiT-v3")


def convert_vae(official: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The VAE checkpoint's tensors under `adapters.opensora.vae.OpenSoraVAE`'s names."""
    return convert_state_dict(official, VAE_RULES, "OpenSora-VAE-v1.2")

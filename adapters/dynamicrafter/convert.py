"""Read DynamiCrafter's released checkpoint and map its keys onto the native modules.

The release (hub ``Doubiiu/DynamiCrafter``, ``model.ckpt``) is a PyTorch Lightning
checkpoint whose ``state_dict`` holds the whole ``LatentVisualDiffusion``:

| upstream prefix | native module |
| --- | --- |
| ``model.diffusion_model.`` | `DynamiCrafterUNet` (`unet_key_pairs` maps the layout) |
| ``image_proj_model.`` | `ImageResampler` |
| ``first_stage_model.`` | diffusers ``AutoencoderKL`` (diffusers' own LDM-VAE conversion) |
| ``cond_stage_model.model.`` | ``open_clip.CLIP``: the text tower |
| ``embedder.model.visual.`` | ``open_clip.CLIP``: the vision tower |

Not loaded, and named here so that nothing else is dropped unseen: the noise-schedule
buffers (recomputed by the scheduler from the config) and the image embedder's copy of
the text tower's embeddings (``embedder.model.token_embedding`` ..., which upstream
keeps but never runs). Any other key, or a missing one, is an error listing them.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    import torch

UNET_PREFIX = "model.diffusion_model."
RESAMPLER_PREFIX = "image_proj_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model.model."
IMAGE_PREFIX = "embedder.model."

#: LatentDiffusion's schedule buffers (and the training-only logvar): derived from the config, not weights.
SCHEDULE_BUFFERS = frozenset({
    "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod", "posterior_variance",
    "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2", "scale_arr", "logvar",
})
#: What the image embedder keeps of open_clip's text tower (upstream deletes only ``transformer``).
IMAGE_EMBEDDER_TEXT_REMNANTS = ("token_embedding.", "positional_embedding", "ln_final.", "text_projection", "logit_scale", "logit_bias", "attn_mask")

#: The 256 release names the frame-stride MLP differently from the class (upstream's
#: load_model_checkpoint renames it); both spellings are accepted.
FRAME_STRIDE_ALIASES = ("fps_embedding.", "framestride_embed.")


class CheckpointError(ValueError):
    """A checkpoint does not hold what the native model needs (missing or unexpected keys, wrong shapes)."""


def load_checkpoint(path: str | Path) -> dict[str, "torch.Tensor"]:
    """The flat state dict of a DynamiCrafter checkpoint (``.ckpt`` / ``.pt`` / ``.safetensors``).

    Read with ``weights_only=True`` (no code runs from the file) and memory-mapped
    where the file allows, so a 10 GB checkpoint is not copied into memory at once.

    Raises:
        CheckpointError: If the file cannot be read safely, naming the file and the fix.
    """
    import torch

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{path}: refuses to load with weights_only=True ({err}). The file pickles objects beyond tensors; "
            "if you trust it, re-save its weights once with\n  python -c \"import torch; ck = torch.load('IN', "
            "weights_only=False); torch.save({'state_dict': ck['state_dict']}, 'OUT')\"\nand pass OUT"
        ) from err
    state = data.get("state_dict", data) if isinstance(data, dict) else None
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: expected a Lightning checkpoint with a 'state_dict', found {type(data).__name__}")
    return dict(state)


def check_keys(what: str, converted: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted(set(converted) - set(expected))
    wrong = sorted(k for k in set(expected) & set(converted) if tuple(converted[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or wrong:
        def show(keys: list[str]) -> str:
            return ", ".join(keys[:12]) + (f" ... ({len(keys)} in all)" if len(keys) > 12 else "")

        lines = [f"{what}: the checkpoint does not fit the native model built from this config"]
        if missing:
            lines.append(f"  missing: {show(missing)}")
        if unexpected:
            lines.append(f"  unexpected: {show(unexpected)}")
        if wrong:
            lines.append("  wrong shapes: " + show([f"{k} {tuple(converted[k].shape)} != {tuple(expected[k].shape)}" for k in wrong]))
        lines.append("  Is it the DynamiCrafter 256 checkpoint (Doubiiu/DynamiCrafter model.ckpt), and the config the published one?")
        raise CheckpointError("\n".join(lines))


# -- the UNet ----------------------------------------------------------------------
_RESNET_PARTS = (
    ("in_layers.0.", "norm1."), ("in_layers.2.", "conv1."), ("emb_layers.1.", "time_emb_proj."),
    ("out_layers.0.", "norm2."), ("out_layers.3.", "conv2."), ("skip_connection.", "conv_shortcut."),
)


def unet_key_pairs(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(upstream prefix, native prefix) for every module of the UNet, derived from its config.

    Upstream numbers its blocks flatly (``input_blocks.K.M``: a resnet, then the spatial
    and temporal transformers, or a downsampler); the native model names them by level
    (``down_blocks.L.resnets.I`` ...). The pairs are a bijection, so they map both ways.
    """
    levels = len(config["channel_mult"])
    blocks = config["num_res_blocks"]
    attention = [2**level in tuple(config["attention_resolutions"]) for level in range(levels)]
    pairs = [("time_embed.0.", "time_embedding.linear_1."), ("time_embed.2.", "time_embedding.linear_2."),
             ("fps_embedding.0.", "fs_embedding.linear_1."), ("fps_embedding.2.", "fs_embedding.linear_2."),
             ("input_blocks.0.0.", "conv_in."), ("init_attn.0.", "init_temporal_attention."),
             ("out.0.", "conv_norm_out."), ("out.2.", "conv_out.")]

    def layer(up: str, native: str, i: int, with_attention: bool) -> None:
        pairs.extend((f"{up}.0.{a}", f"{native}.resnets.{i}.{b}") for a, b in _RESNET_PARTS)
        pairs.append((f"{up}.0.temopral_conv.", f"{native}.temp_convs.{i}."))  # sic: upstream's spelling
        if with_attention:
            pairs.append((f"{up}.1.", f"{native}.attentions.{i}."))
            pairs.append((f"{up}.2.", f"{native}.temp_attentions.{i}."))

    k = 0
    for level in range(levels):
        for i in range(blocks):
            k += 1
            layer(f"input_blocks.{k}", f"down_blocks.{level}", i, attention[level])
        if level < levels - 1:
            k += 1
            pairs.append((f"input_blocks.{k}.0.op.", f"down_blocks.{level}.downsamplers.0.conv."))
    pairs.extend((f"middle_block.0.{a}", f"mid_block.resnets.0.{b}") for a, b in _RESNET_PARTS)
    pairs += [("middle_block.0.temopral_conv.", "mid_block.temp_convs.0."), ("middle_block.1.", "mid_block.attentions.0."),
              ("middle_block.2.", "mid_block.temp_attentions.0."), ("middle_block.3.temopral_conv.", "mid_block.temp_convs.1.")]
    pairs.extend((f"middle_block.3.{a}", f"mid_block.resnets.1.{b}") for a, b in _RESNET_PARTS)
    k = 0
    for j, level in enumerate(reversed(range(levels))):
        for i in range(blocks + 1):
            layer(f"output_blocks.{k}", f"up_blocks.{j}", i, attention[level])
            if level > 0 and i == blocks:
                pairs.append((f"output_blocks.{k}.{3 if attention[level] else 1}.conv.", f"up_blocks.{j}.upsamplers.0.conv."))
            k += 1
    return pairs


def _rename(key: str, pairs: list[tuple[str, str]], forward: bool) -> str | None:
    for up, native in pairs:
        src, dst = (up, native) if forward else (native, up)
        if key.startswith(src):
            return dst + key[len(src):]
    return None


def upstream_unet_key(native_key: str, config: Mapping[str, Any]) -> str | None:
    """The upstream name of one native UNet key (None: no upstream counterpart)."""
    return _rename(native_key, unet_key_pairs(config), forward=False)


def convert_unet(upstream: Mapping[str, "torch.Tensor"], config: Mapping[str, Any]) -> dict[str, "torch.Tensor"]:
    """Upstream UNet weights (without the ``model.diffusion_model.`` prefix) → `DynamiCrafterUNet` weights.

    Also reshapes the first temporal attention's 1x1 ``Conv1d`` projections (upstream
    builds that one layer with ``use_linear=False``) into the ``Linear`` weights the
    native layer uses.

    Raises:
        CheckpointError: Naming the upstream keys that map to nothing.
    """
    pairs = unet_key_pairs(config)
    out, unknown = {}, []
    for key, value in upstream.items():
        for alias in FRAME_STRIDE_ALIASES[1:]:
            if key.startswith(alias):
                key = FRAME_STRIDE_ALIASES[0] + key[len(alias):]
        native = _rename(key, pairs, forward=True)
        if native is None:
            unknown.append(key)
            continue
        if native.startswith("init_temporal_attention.proj_") and native.endswith(".weight") and value.ndim == 3:
            value = value[..., 0]
        out[native] = value
    if unknown:
        raise CheckpointError(f"UNet: upstream keys with no native counterpart: {', '.join(sorted(unknown)[:12])} ({len(unknown)} in all)")
    return out


# -- the Resampler -------------------------------------------------------------------
_RESAMPLER_PARTS = (("0.norm1.", "attn.norm_media."), ("0.norm2.", "attn.norm_latents."), ("0.to_q.", "attn.to_q."),
                    ("0.to_kv.", "attn.to_kv."), ("0.to_out.", "attn.to_out."), ("1.0.", "ff.norm."),
                    ("1.1.", "ff.proj_in."), ("1.3.", "ff.proj_out."))


def convert_resampler(upstream: Mapping[str, "torch.Tensor"]) -> dict[str, "torch.Tensor"]:
    """Upstream ``image_proj_model`` weights (prefix removed) → `ImageResampler` weights."""
    out = {}
    for key, value in upstream.items():
        if key.startswith("layers."):
            _, index, rest = key.split(".", 2)
            for a, b in _RESAMPLER_PARTS:
                if rest.startswith(a):
                    rest = b + rest[len(a):]
                    break
            else:
                raise CheckpointError(f"Resampler: upstream key {RESAMPLER_PREFIX}{key} maps to nothing")
            key = f"layers.{index}.{rest}"
        out[key] = value
    return out


# -- the whole checkpoint ---------------------------------------------------------------
def split_checkpoint(state: Mapping[str, "torch.Tensor"]) -> dict[str, dict[str, "torch.Tensor"]]:
    """Group a full checkpoint's keys by component (prefixes removed), refusing unknown keys.

    Returns:
        ``{"unet", "resampler", "vae", "text", "image"}`` → that part's upstream keys;
        ``"vae"`` keeps the ``first_stage_model.`` prefix diffusers' converter expects.

    Raises:
        CheckpointError: On keys that belong to no component.
    """
    parts: dict[str, dict[str, Any]] = {"unet": {}, "resampler": {}, "vae": {}, "text": {}, "image": {}}
    unknown = []
    for key, value in state.items():
        if key.startswith(UNET_PREFIX):
            parts["unet"][key[len(UNET_PREFIX):]] = value
        elif key.startswith(RESAMPLER_PREFIX):
            parts["resampler"][key[len(RESAMPLER_PREFIX):]] = value
        elif key.startswith(VAE_PREFIX):
            parts["vae"][key] = value
        elif key.startswith(TEXT_PREFIX):
            parts["text"][key[len(TEXT_PREFIX):]] = value
        elif key.startswith(IMAGE_PREFIX + "visual."):
            parts["image"][key[len(IMAGE_PREFIX):]] = value
        elif key.startswith(IMAGE_PREFIX) and key[len(IMAGE_PREFIX):].startswith(IMAGE_EMBEDDER_TEXT_REMNANTS):
            continue
        elif key in SCHEDULE_BUFFERS:
            continue
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointError(f"checkpoint: keys of no DynamiCrafter component: {', '.join(sorted(unknown)[:12])} ({len(unknown)} in all)")
    return parts


def convert_vae(upstream_with_prefix: Mapping[str, "torch.Tensor"], vae_config: Mapping[str, Any]) -> dict[str, "torch.Tensor"]:
    """LDM-format ``first_stage_model.*`` weights → diffusers ``AutoencoderKL`` weights (diffusers' converter)."""
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    return convert_ldm_vae_checkpoint(dict(upstream_with_prefix), dict(vae_config))


def convert_clip(text: Mapping[str, "torch.Tensor"], image: Mapping[str, "torch.Tensor"]) -> dict[str, "torch.Tensor"]:
    """The two frozen OpenCLIP towers → one ``open_clip.CLIP`` state dict (text keys + ``visual.*``)."""
    return {**text, **image}


def convert_checkpoint(state: Mapping[str, "torch.Tensor"], config: Any, expected: Mapping[str, Mapping[str, Any]] | None = None
                       ) -> dict[str, dict[str, "torch.Tensor"]]:
    """A full upstream state dict → the native components' state dicts.

    Args:
        state: The checkpoint's ``state_dict`` (`load_checkpoint`).
        config: A `DynamiCrafterConfig` (the UNet layout comes from ``config.unet``).
        expected: Optional per-component native state dicts (or key → shape-bearing
            values) to check against: ``{"unet": model.state_dict(), ...}``.

    Returns:
        ``{"unet", "resampler", "vae", "clip"}`` → native state dict.

    Raises:
        CheckpointError: Listing unknown, missing or unexpected keys, or wrong shapes.
    """
    parts = split_checkpoint(state)
    converted = {
        "unet": convert_unet(parts["unet"], config.unet),
        "resampler": convert_resampler(parts["resampler"]),
        "vae": convert_vae(parts["vae"], config.vae) if parts["vae"] else {},
        "clip": convert_clip(parts["text"], parts["image"]),
    }
    for name, reference in (expected or {}).items():
        check_keys(name, converted[name], reference)
    return converted

"""Read AVDC's official checkpoints and map their keys onto `AVDCUNet3D`.

A released file (``ckpts/{metaworld,ithor,bridge}/model-N.pt`` on the hub repo
``Po-Chen/flowdiffusion``) is what the authors' ``Trainer.save`` writes: a dict with
``step``, ``model`` (the ``GoalGaussianDiffusion`` state dict: the schedule buffers and
``model.unet.*``, the guided-diffusion ``UNetModel``), ``opt``, ``ema`` (ema_pytorch's
``EMA`` state dict: ``initted``, ``step``, ``online_model.*`` and ``ema_model.*``, each a
copy of ``model``), ``scaler`` and ``version``. The authors sample from the EMA copy
(``Trainer.sample`` calls ``self.ema.ema_model.sample``), so that is what is loaded by
default.

Key mapping (upstream → native), per block kind:

- ``time_embed.{0,2}`` → ``time_embedding.linear_{1,2}``;
- ``task_attnpool.0`` (Perceiver resampler) → ``text_pooler`` (``pos_emb`` →
  ``position_embedding``, ``to_latents_from_mean_pooled_seq.{0.g,1}`` →
  ``pooled_norm.weight`` / ``pooled_proj``, ``layers.i.0`` → ``layers.i.attn``
  (``to_out.{0,1}`` → ``out_proj`` / ``out_norm``, ``norm`` → ``norm_text``),
  ``layers.i.1.{0.g,1,3.g,4}`` → ``layers.i.ff.{norm_in.weight,proj_in,norm_hidden.weight,proj_out}``);
  ``task_attnpool.1`` → ``text_pooler.proj``;
- ``input_blocks.k`` / ``output_blocks.k`` → ``conv_in``, ``down_blocks.l.{resnets,attentions}.i``,
  ``down_blocks.l.downsampler``, ``mid_block``, ``up_blocks.j.{resnets,attentions}.i``,
  ``up_blocks.j.upsampler``, in the order the authors' constructor appends them;
- residual blocks: ``in_layers.{0,2}`` → ``norm1`` / ``conv1``, ``emb_layers.1`` →
  ``time_emb_proj``, ``out_layers.{0,3}`` → ``norm2`` / ``conv2``, ``skip_connection`` →
  ``conv_shortcut``; factorized convolutions: ``spatial_conv`` / ``temporal_conv`` →
  ``spatial`` / ``temporal``;
- attention: ``qkv`` (a 1×1 Conv1d whose rows are per head [q, k, v]) is split into
  ``to_q`` / ``to_k`` / ``to_v`` Linear weights, ``proj_out`` → ``to_out``;
- ``out.{0,2}`` → ``norm_out`` / ``conv_out``.

The schedule buffers are not weights of the native model; they are checked against
`adapters.avdc.sampler.AVDCDiffusion` (a different schedule would be another model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

import torch

UNET_PREFIX = "model.unet."
#: ``GoalGaussianDiffusion``'s registered buffers (schedule and loss weights).
SCHEDULE_BUFFERS = (
    "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod", "posterior_variance",
    "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2", "loss_weight",
)
SOURCES = ("ema", "model")


class CheckpointConversionError(ValueError):
    """An AVDC checkpoint does not match the native model (keys missing, unexpected, or shaped wrong)."""


# -- the key plan --------------------------------------------------------------------
def _conv(up: str, native: str) -> Iterator[tuple[str, str]]:
    for part, mine in (("spatial_conv", "spatial"), ("temporal_conv", "temporal")):
        for p in ("weight", "bias"):
            yield f"{up}.{part}.{p}", f"{native}.{mine}.{p}"


def _norm(up: str, native: str) -> Iterator[tuple[str, str]]:
    yield f"{up}.weight", f"{native}.weight"
    yield f"{up}.bias", f"{native}.bias"


def _resnet(up: str, native: str, shortcut: bool) -> Iterator[tuple[str, str]]:
    yield from _norm(f"{up}.in_layers.0", f"{native}.norm1")
    yield from _conv(f"{up}.in_layers.2", f"{native}.conv1")
    yield from _norm(f"{up}.emb_layers.1", f"{native}.time_emb_proj")
    yield from _norm(f"{up}.out_layers.0", f"{native}.norm2")
    yield from _conv(f"{up}.out_layers.3", f"{native}.conv2")
    if shortcut:
        yield f"{up}.skip_connection.spatial_conv.weight", f"{native}.conv_shortcut.spatial.weight"
        yield f"{up}.skip_connection.spatial_conv.bias", f"{native}.conv_shortcut.spatial.bias"


def _attention(up: str, native: str) -> Iterator[tuple[str, str]]:
    yield from _norm(f"{up}.norm", f"{native}.norm")
    # qkv is split into three native tensors: see `_split_qkv`.
    yield f"{up}.qkv.weight", f"{native}.to_qkv.weight"
    yield f"{up}.qkv.bias", f"{native}.to_qkv.bias"
    yield f"{up}.proj_out.weight", f"{native}.to_out.weight"
    yield f"{up}.proj_out.bias", f"{native}.to_out.bias"


def _text_pooler(depth: int) -> Iterator[tuple[str, str]]:
    up, native = "task_attnpool.0", "text_pooler"
    yield f"{up}.pos_emb.weight", f"{native}.position_embedding.weight"
    yield f"{up}.latents", f"{native}.latents"
    yield f"{up}.to_latents_from_mean_pooled_seq.0.g", f"{native}.pooled_norm.weight"
    yield from _norm(f"{up}.to_latents_from_mean_pooled_seq.1", f"{native}.pooled_proj")
    for i in range(depth):
        a, n = f"{up}.layers.{i}.0", f"{native}.layers.{i}.attn"
        yield from _norm(f"{a}.norm", f"{n}.norm_text")
        yield from _norm(f"{a}.norm_latents", f"{n}.norm_latents")
        for name in ("to_q", "to_kv"):
            yield f"{a}.{name}.weight", f"{n}.{name}.weight"
        yield f"{a}.q_scale", f"{n}.q_scale"
        yield f"{a}.k_scale", f"{n}.k_scale"
        yield f"{a}.to_out.0.weight", f"{n}.out_proj.weight"
        yield from _norm(f"{a}.to_out.1", f"{n}.out_norm")
        f, n = f"{up}.layers.{i}.1", f"{native}.layers.{i}.ff"
        yield f"{f}.0.g", f"{n}.norm_in.weight"
        yield f"{f}.1.weight", f"{n}.proj_in.weight"
        yield f"{f}.3.g", f"{n}.norm_hidden.weight"
        yield f"{f}.4.weight", f"{n}.proj_out.weight"
    yield from _norm("task_attnpool.1", f"{native}.proj")


def key_plan(config: Mapping[str, Any], pooler_depth: int = 2) -> list[tuple[str, str]]:
    """(upstream UNet key, native key) pairs for a UNet config (`AVDCUNet3D` arguments).

    The attention ``qkv`` entries name a native ``to_qkv`` that `convert_unet_state`
    splits into ``to_q`` / ``to_k`` / ``to_v``.
    """
    mc, mult, nrb = config["model_channels"], tuple(config["channel_mult"]), config["num_res_blocks"]
    attn_at = tuple(config["attention_resolutions"])
    plan: list[tuple[str, str]] = []
    plan += [("time_embed.0.weight", "time_embedding.linear_1.weight"), ("time_embed.0.bias", "time_embedding.linear_1.bias"),
             ("time_embed.2.weight", "time_embedding.linear_2.weight"), ("time_embed.2.bias", "time_embedding.linear_2.bias")]
    plan += list(_text_pooler(pooler_depth))
    plan += list(_conv("input_blocks.0.0", "conv_in"))
    ch, factor, k = mc * mult[0], 1, 1
    skips = [ch]
    for level, m in enumerate(mult):
        for i in range(nrb):
            plan += list(_resnet(f"input_blocks.{k}.0", f"down_blocks.{level}.resnets.{i}", ch != m * mc))
            ch = m * mc
            if factor in attn_at:
                plan += list(_attention(f"input_blocks.{k}.1", f"down_blocks.{level}.attentions.{i}"))
            skips.append(ch)
            k += 1
        if level != len(mult) - 1:
            plan += list(_conv(f"input_blocks.{k}.0.op", f"down_blocks.{level}.downsampler"))
            skips.append(ch)
            factor *= 2
            k += 1
    plan += list(_resnet("middle_block.0", "mid_block.resnets.0", False))
    plan += list(_attention("middle_block.1", "mid_block.attention"))
    plan += list(_resnet("middle_block.2", "mid_block.resnets.1", False))
    k = 0
    for j, (level, m) in enumerate(reversed(list(enumerate(mult)))):
        for i in range(nrb + 1):
            plan += list(_resnet(f"output_blocks.{k}.0", f"up_blocks.{j}.resnets.{i}", True))
            ch = m * mc
            sub = 1
            if factor in attn_at:
                plan += list(_attention(f"output_blocks.{k}.1", f"up_blocks.{j}.attentions.{i}"))
                sub = 2
            if level and i == nrb:
                plan += list(_conv(f"output_blocks.{k}.{sub}.conv", f"up_blocks.{j}.upsampler.conv"))
                factor //= 2
            skips.pop()
            k += 1
    plan += list(_norm("out.0", "norm_out"))
    plan += list(_conv("out.2", "conv_out"))
    return plan


def upstream_unet_keys(config: Mapping[str, Any]) -> set[str]:
    """The upstream UNet's key set for a config (without the ``model.unet.`` prefix)."""
    return {up for up, _ in key_plan(config)}


def native_to_upstream(native_keys: set[str], config: Mapping[str, Any]) -> set[str]:
    """The upstream keys a set of native keys comes from (``to_q/k/v`` share one ``qkv``).

    Raises:
        CheckpointConversionError: If a native key has no upstream source.
    """
    back = {}
    for up, native in key_plan(config):
        if ".to_qkv." in native:
            for part in ("to_q", "to_k", "to_v"):
                back[native.replace("to_qkv", part)] = up
        else:
            back[native] = up
    unknown = sorted(native_keys - back.keys())
    if unknown:
        raise CheckpointConversionError(f"AVDC: native keys with no upstream source: {unknown[:10]}")
    return {back[k] for k in native_keys}


# -- conversion ----------------------------------------------------------------------
def _split_qkv(qkv: torch.Tensor, heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The authors' fused qkv (rows: per head, [q; k; v] of ``C / heads`` each) → q, k, v."""
    rows = qkv.shape[0] // 3
    grouped = qkv.reshape(heads, 3, rows // heads, *qkv.shape[1:])
    return tuple(grouped[:, i].reshape(rows, *qkv.shape[1:]) for i in range(3))  # type: ignore[return-value]


def _check_keys(have: set[str], want: set[str], what: str) -> None:
    missing, unexpected = sorted(want - have), sorted(have - want)
    if missing or unexpected:
        raise CheckpointConversionError(
            f"{what}: the state dict does not match the AVDC UNet of this config.\n"
            f"  missing ({len(missing)}): {missing[:12]}{' ...' if len(missing) > 12 else ''}\n"
            f"  unexpected ({len(unexpected)}): {unexpected[:12]}{' ...' if len(unexpected) > 12 else ''}\n"
            "Check the variant (metaworld, ithor, bridge): each release has its own widths and depths."
        )


def convert_unet_state(unet_state: Mapping[str, torch.Tensor], config: Mapping[str, Any], what: str = "AVDC checkpoint") -> dict[str, torch.Tensor]:
    """Map the upstream ``UNetModel`` state dict (no prefix) onto native `AVDCUNet3D` keys.

    Args:
        unet_state: Upstream key → tensor.
        config: The native UNet's config (its constructor arguments).
        what: Named in errors (the file).

    Returns:
        Native key → tensor, ready for ``load_state_dict(strict=True)``.

    Raises:
        CheckpointConversionError: Listing the missing and unexpected keys.
    """
    plan = key_plan(config)
    _check_keys(set(unet_state), {up for up, _ in plan}, what)
    heads_of = {}
    out: dict[str, torch.Tensor] = {}
    for up, native in plan:
        tensor = unet_state[up]
        if native.endswith("to_qkv.weight") or native.endswith("to_qkv.bias"):
            channels = tensor.shape[0] // 3
            heads = heads_of.setdefault(native.rsplit(".", 2)[0], channels // config["head_channels"])
            flat = tensor.reshape(tensor.shape[0], -1) if tensor.ndim > 1 else tensor
            for part, value in zip(("to_q", "to_k", "to_v"), _split_qkv(flat, heads)):
                out[native.replace("to_qkv", part)] = value.contiguous()
        elif native.endswith("to_out.weight") and tensor.ndim == 3:
            out[native] = tensor[..., 0].contiguous()  # a 1×1 Conv1d is a Linear
        else:
            out[native] = tensor
    return out


def split_diffusion_state(state: Mapping[str, torch.Tensor], what: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """A ``GoalGaussianDiffusion`` state dict → (UNet state without prefix, schedule buffers).

    Raises:
        CheckpointConversionError: On keys that are neither.
    """
    unet = {k[len(UNET_PREFIX):]: v for k, v in state.items() if k.startswith(UNET_PREFIX)}
    buffers = {k: v for k, v in state.items() if k in SCHEDULE_BUFFERS}
    other = sorted(set(state) - set(buffers) - {UNET_PREFIX + k for k in unet})
    if other:
        raise CheckpointConversionError(f"{what}: keys that are neither model.unet.* nor schedule buffers: {other[:12]}")
    if not unet:
        raise CheckpointConversionError(f"{what}: no model.unet.* keys; is this an AVDC (flowdiffusion) checkpoint?")
    return unet, buffers


def check_schedule(buffers: Mapping[str, torch.Tensor], what: str) -> None:
    """The checkpoint's schedule must be the one `AVDCDiffusion` samples with.

    Raises:
        CheckpointConversionError: Naming the first buffer that differs.
    """
    from adapters.avdc.sampler import AVDCDiffusion

    schedule = AVDCDiffusion().schedule
    for name, value in buffers.items():
        ours = schedule[name]
        if value.shape != ours.shape or not torch.allclose(value.float().cpu(), ours, rtol=1e-4, atol=1e-6):
            raise CheckpointConversionError(
                f"{what}: schedule buffer {name!r} differs from the 100-step cosine schedule AVDC was released with "
                f"(shape {tuple(value.shape)} vs {tuple(ours.shape)}); this checkpoint is not a released AVDC model"
            )


def diffusion_state_of(checkpoint: Mapping[str, Any], source: str, what: str) -> Mapping[str, torch.Tensor]:
    """The ``GoalGaussianDiffusion`` state dict inside a saved checkpoint.

    Args:
        checkpoint: The loaded file: the Trainer's dict, or a bare diffusion state dict.
        source: ``"ema"`` (the EMA weights the authors sample with) or ``"model"``
            (the online weights).

    Raises:
        CheckpointConversionError: If the wanted entry is absent.
    """
    if source not in SOURCES:
        raise CheckpointConversionError(f"{what}: source must be one of {', '.join(SOURCES)}; got {source!r}")
    if any(k.startswith(UNET_PREFIX) for k in checkpoint):
        return checkpoint  # a bare diffusion state dict
    if source not in checkpoint:
        raise CheckpointConversionError(f"{what}: no {source!r} entry (it has {sorted(checkpoint)[:8]}); pass source='model' or 'ema'")
    state = checkpoint[source]
    if source == "ema":
        prefix = "ema_model."
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not state:
            raise CheckpointConversionError(f"{what}: its 'ema' entry holds no ema_model.* keys")
    return state


def load_official_checkpoint(path: str | Path, config: Mapping[str, Any], source: str = "ema") -> dict[str, torch.Tensor]:
    """Read a released ``model-N.pt`` and return the native UNet state dict.

    Args:
        path: The file (``torch.load(..., weights_only=True)``: tensors and plain data only).
        config: The native UNet's config for the file's variant.
        source: ``"ema"`` (default, what the authors sample with) or ``"model"``.

    Raises:
        CheckpointConversionError: On a file of another model or variant.
    """
    what = f"AVDC checkpoint {path}"
    checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, Mapping):
        raise CheckpointConversionError(f"{what}: expected a dict, got {type(checkpoint).__name__}")
    unet, buffers = split_diffusion_state(diffusion_state_of(checkpoint, source, what), what)
    check_schedule(buffers, what)
    return convert_unet_state(unet, config, what)

"""Build DynamiCrafter's native modules from a checkpoint file.

Two formats are read:

- the **released** checkpoint (``model.ckpt``: upstream key names, converted on the
  fly by `adapters.dynamicrafter.convert`);
- a **native** safetensors file (keys ``unet.*``, ``resampler.*``, ``vae.*``,
  ``clip.*`` with ``{"format": NATIVE_FORMAT}`` metadata) as `save_native` writes it:
  the converted weights, quicker to load and free of pickle. The tiny test weights
  are stored this way.

Modules are built with empty (meta) parameters and take the checkpoint's tensors
directly, so a 1.4 B UNet is never randomly initialised only to be overwritten.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from adapters.dynamicrafter.config import DynamiCrafterConfig
from adapters.dynamicrafter.convert import CheckpointError, check_keys, convert_checkpoint, load_checkpoint

if TYPE_CHECKING:
    import torch
    from torch import nn

NATIVE_FORMAT = "hcvg-dynamicrafter-native-v1"
COMPONENTS = ("unet", "resampler", "vae", "clip")


def build_empty(component: str, config: DynamiCrafterConfig) -> "nn.Module":
    """One native component with meta parameters (buffers real), to be filled by `fill`."""
    from accelerate import init_empty_weights

    with init_empty_weights(include_buffers=False):
        return build_module(component, config)


def build_module(component: str, config: DynamiCrafterConfig) -> "nn.Module":
    """One native component, randomly initialised (for tiny test weights)."""
    if component == "unet":
        from adapters.dynamicrafter.unet import DynamiCrafterUNet

        return DynamiCrafterUNet(**config.unet)
    if component == "resampler":
        from adapters.dynamicrafter.resampler import ImageResampler

        return ImageResampler(**config.resampler)
    if component == "vae":
        from diffusers import AutoencoderKL

        return AutoencoderKL(**config.vae)
    if component == "clip":
        import open_clip

        return open_clip.CLIP(**config.clip)
    raise ValueError(f"unknown DynamiCrafter component {component!r}; one of {', '.join(COMPONENTS)}")


def fill(module: "nn.Module", state: Mapping[str, "torch.Tensor"], what: str) -> "nn.Module":
    """Load ``state`` strictly, taking its tensors (``assign=True``), and switch to eval mode.

    Raises:
        CheckpointError: Listing missing / unexpected keys and wrong shapes.
    """
    check_keys(what, state, module.state_dict())
    module.load_state_dict(dict(state), strict=True, assign=True)
    return module.eval().requires_grad_(False)


def read_components(path: str | Path, config: DynamiCrafterConfig) -> dict[str, dict[str, "torch.Tensor"]]:
    """The native state dict of every component, from a released or a native checkpoint.

    Raises:
        CheckpointError: If the file is neither, or its keys do not fit ``config``.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            native = (f.metadata() or {}).get("format") == NATIVE_FORMAT
        if native:
            from safetensors.torch import load_file

            flat = load_file(str(path))
            parts: dict[str, dict[str, Any]] = {c: {} for c in COMPONENTS}
            for key, value in flat.items():
                component, _, rest = key.partition(".")
                if component not in parts:
                    raise CheckpointError(f"{path}: key {key!r} belongs to no component ({', '.join(COMPONENTS)})")
                parts[component][rest] = value
            return parts
    return convert_checkpoint(load_checkpoint(path), config)


def save_native(components: Mapping[str, Mapping[str, "torch.Tensor"]], path: str | Path, config_name: str) -> None:
    """Write native component state dicts as one safetensors file `read_components` reads."""
    from safetensors.torch import save_file

    flat = {f"{c}.{k}": v.contiguous() for c in COMPONENTS for k, v in components[c].items()}
    save_file(flat, str(path), metadata={"format": NATIVE_FORMAT, "config": config_name})


def load_components(
    path: str | Path,
    config: DynamiCrafterConfig,
    skip: tuple[str, ...] = (),
) -> tuple[dict[str, "nn.Module"], Callable[[], "nn.Module"]]:
    """Build the UNet, Resampler and VAE from a checkpoint, and a builder for the CLIP towers.

    The CLIP towers are returned as a builder so the caller can share one copy between
    adapters (`adapters.shared_encoders.shared_encoder`) and skip building it when a copy
    is alive.

    Args:
        path: A released ``model.ckpt`` or a native safetensors file.
        config: The configuration the file was made for.
        skip: Components not to build.

    Returns:
        (``{"unet", "resampler", "vae"}`` → module in eval mode, float32 as stored),
        and ``build_clip()`` → the ``open_clip.CLIP``.
    """
    parts = read_components(path, config)
    modules = {c: fill(build_empty(c, config), parts[c], c) for c in ("unet", "resampler", "vae") if c not in skip}
    return modules, lambda: fill(build_empty("clip", config), parts["clip"], "clip")

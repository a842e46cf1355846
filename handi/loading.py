"""Load a saved HANDI / AnimateAnything pipeline folder (released or trained here).

The released AnimateAnything and HANDI folders have diffusers-style subfolders
(``scheduler/ tokenizer/ text_encoder/ vae/ unet/``) but no ``model_index.json``, so
components are loaded one by one rather than through `DiffusionPipeline.from_pretrained`.
A folder may carry a stage-1 ``mask_unet/``, an HRL-off ``unet_no_hrl/`` (Table 2) and the
prior mask; a folder without ``tokenizer/`` (the committed tiny model) gets the CLIP BPE
tokenizer rebuilt offline from the open_clip wheel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hcvg.errors import UserError

UNET_VARIANTS = {"on": "unet", "off": "unet_no_hrl"}


def load_handi_pipeline(folder: str | Path, hrl: str = "on", device: str | None = None, dtype: Any = None, **components: Any) -> Any:
    """A `HandiPipeline` from a weights folder.

    Args:
        folder: The pipeline folder.
        hrl: ``on`` loads ``unet/``; ``off`` loads ``unet_no_hrl/`` (the Table 2 model
            trained without the Hand Refinement Loss).
        device: Move the pipeline there (default: stay on CPU).
        dtype: Weight dtype (e.g. ``torch.bfloat16``); default float32.
        **components: Ready components to use instead of loading them (``vae=``,
            ``text_encoder=``, ``tokenizer=``, ``scheduler=``, ``unet=``, ``mask_unet=``):
            e.g. one text encoder shared by two adapters.

    Raises:
        UserError: Naming the missing subfolder.
    """
    import torch
    from diffusers import AutoencoderKL, DPMSolverMultistepScheduler
    from transformers import CLIPTextModel, CLIPTokenizer

    from handi.models.unet import HandiUNet3DConditionModel
    from handi.pipeline import PRIOR_MASK_FILE, HandiPipeline

    root = Path(folder)
    if hrl not in UNET_VARIANTS:
        raise UserError(f"hrl must be on or off, got {hrl!r}")
    unet_dir = UNET_VARIANTS[hrl]
    for sub in ("vae", "text_encoder", "scheduler", unet_dir):
        if not (root / sub).is_dir():
            raise UserError(f"{root}: no {sub}/ folder; this is not a complete HANDI/AnimateAnything weights folder")
    dtype = dtype or torch.float32
    loaders = {
        "tokenizer": lambda: (
            CLIPTokenizer.from_pretrained(root / "tokenizer", local_files_only=True) if (root / "tokenizer").is_dir() else _bpe_tokenizer()
        ),
        "vae": lambda: AutoencoderKL.from_pretrained(root / "vae", torch_dtype=dtype),
        "text_encoder": lambda: _quietly(lambda: CLIPTextModel.from_pretrained(root / "text_encoder", torch_dtype=dtype)),
        # The released folders store a DDPM scheduler config; sampling is DPM-Solver++ (order 2).
        "scheduler": lambda: DPMSolverMultistepScheduler.from_pretrained(root / "scheduler", algorithm_type="dpmsolver++", solver_order=2),
        "unet": lambda: HandiUNet3DConditionModel.from_pretrained(root / unet_dir, torch_dtype=dtype),
        "mask_unet": lambda: (
            HandiUNet3DConditionModel.from_pretrained(root / "mask_unet", torch_dtype=dtype) if (root / "mask_unet").is_dir() else None
        ),
    }
    unknown = sorted(set(components) - set(loaders))
    if unknown:
        raise TypeError(f"unknown pipeline components {unknown}; known: {sorted(loaders)}")
    pipe = HandiPipeline(**{name: components[name] if name in components else load() for name, load in loaders.items()})
    if (root / PRIOR_MASK_FILE).is_file():
        pipe.prior_mask = np.load(root / PRIOR_MASK_FILE).astype(np.float32)
    if device is not None:
        pipe.to(device)
    return pipe


def _quietly(load: Any) -> Any:
    """Run a transformers loader without its per-file progress bar (a run has its own)."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return load()
    finally:
        if shown:
            hf_logging.enable_progress_bar()


def _bpe_tokenizer() -> Any:
    from handi.text import clip_bpe_tokenizer

    return clip_bpe_tokenizer()

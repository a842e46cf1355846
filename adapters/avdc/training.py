"""AVDC as a trainable for ``hcvg train avdc`` (the protocol of `benchmark.baseline_training`).

The objective is the authors' (``GoalGaussianDiffusion.p_losses`` and ``Trainer.train``
in ``flowdiffusion/goal_diffusion.py``): t uniform in [0, 100), v-target, L2 with
min-SNR-5 weights, the text embedding zeroed for 10 % of the samples (what guidance's
unconditional branch sees), the CLIP text encoder frozen. The clips are the split's,
resized to the native size, ``frames`` frames after the context.

Model keys (under ``model:`` in the YAML): ``variant`` (metaworld | ithor | bridge |
tiny), ``pretrained`` (``official``: the variant's released checkpoint; ``random``;
or a weights folder from an earlier run), ``source`` (ema | model, of an official file),
``weights`` (an explicit checkpoint path), ``text_encoder`` (``clip``: the
``clip-vit-b-32`` asset or a folder path; ``tiny``: a random 32-feature CLIP saved with
the weights), ``height`` / ``width`` / ``frames`` (default: the variant's size, 15
frames), ``cond_drop`` (0.1), ``gradient_checkpointing``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from adapters.avdc.config import DIFFUSION, get_variant
from adapters.avdc.pipeline import NativeShape, save_avdc_folder
from adapters.avdc.sampler import AVDCDiffusion
from adapters.avdc.unet import AVDCUNet3D
from hcvg.frames import evenly_spaced_indices

MODEL_KEYS = ("variant", "pretrained", "source", "weights", "text_encoder", "height", "width", "frames", "cond_drop", "gradient_checkpointing")


def _resize(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 ``[T, h, w, 3]`` → ``[T, H, W, 3]`` (area when shrinking, as the authors' PIL resize roughly does)."""
    import cv2

    interp = cv2.INTER_AREA if size[0] <= frames.shape[1] else cv2.INTER_CUBIC
    return np.stack([cv2.resize(f, (size[1], size[0]), interpolation=interp) for f in frames])


class AVDCTrainable(nn.Module):
    """The UNet being fine-tuned, with the frozen text encoder beside it (not a submodule).

    Args:
        unet: The denoiser (trained).
        text_encoder / tokenizer: Frozen CLIP, used once per prompt in `make_batches`.
        shape: Native variant, size and frames (written with the weights).
        cond_drop: Share of samples whose text embedding is zeroed.
        text_is_bundled: Save the text encoder with the weights (a tiny random one).
    """

    def __init__(self, unet: AVDCUNet3D, text_encoder: Any, tokenizer: Any, shape: NativeShape, cond_drop: float, text_is_bundled: bool):
        super().__init__()
        self.unet = unet
        self.diffusion = AVDCDiffusion()
        self.shape, self.cond_drop, self.text_is_bundled = shape, cond_drop, text_is_bundled
        # Kept out of the module tree: frozen, never saved in the training state.
        self._text = (text_encoder, tokenizer)

    # -- the protocol ------------------------------------------------------------------
    @torch.no_grad()
    def make_batches(self, samples: Sequence[Any], config: dict[str, Any]) -> list[dict[str, Any]]:
        """One example per sample: ``x0`` ``[1, 3, F, H, W]`` in [-1, 1], ``context`` ``[1, 3, H, W]`` in
        [0, 1], ``text`` ``[1, T_max, d]`` and ``text_length`` ``[1]``, ``prompt`` (list of one).

        Texts are encoded once, padded with CLIP's EOS to the longest prompt of the split;
        CLIP's causal attention leaves every position unchanged by later padding, so
        cutting a batch to its longest prompt (`training_loss`) gives what the authors'
        batch-wise padding gives.
        """
        from adapters.avdc.pipeline import TOKENIZER_MAX_LENGTH

        encoder, tokenizer = self._text
        size, frames = (self.shape.height, self.shape.width), self.shape.frames
        prompts = [s.prompt for s in samples]
        limit = min(TOKENIZER_MAX_LENGTH, int(encoder.config.max_position_embeddings))
        ids = tokenizer(prompts, return_tensors="pt", padding=True, truncation=True, max_length=limit)
        lengths = ids["attention_mask"].sum(dim=1)
        text = torch.cat([
            encoder(input_ids=chunk.to(encoder.device)).last_hidden_state.float().cpu() for chunk in ids["input_ids"].split(64)
        ])
        examples = []
        for i, sample in enumerate(samples):
            if sample.target.shape[0] < frames:
                raise ValueError(f"avdc training: sample {sample.id!r} has {sample.target.shape[0]} target frames, fewer than frames={frames}")
            clip = sample.target[evenly_spaced_indices(0, sample.target.shape[0] - 1, frames)]  # last frame kept, as the authors sample
            video = torch.from_numpy(_resize(clip, size)).permute(3, 0, 1, 2).float() / 127.5 - 1.0
            context = torch.from_numpy(_resize(sample.context[None], size)[0]).permute(2, 0, 1).float() / 255.0
            examples.append({
                "x0": video[None], "context": context[None], "text": text[i : i + 1], "text_length": lengths[i : i + 1],
                "prompt": [sample.prompt],
            })
        return examples

    def training_loss(self, batch: dict[str, Any], generator: torch.Generator) -> torch.Tensor:
        """The min-SNR-weighted v-loss of one batch (random draws from ``generator``)."""
        device = next(self.unet.parameters()).device
        x0 = batch["x0"].to(device)
        b = x0.shape[0]
        text = batch["text"][:, : int(batch["text_length"].max())].to(device)
        keep = (torch.rand(b, generator=generator) >= self.cond_drop).float().to(device)
        t = torch.randint(0, self.diffusion.num_train_timesteps, (b,), generator=generator).to(device)
        noise = torch.randn(x0.shape, generator=generator).to(device)
        x_t = self.diffusion.add_noise(x0, t, noise)
        v = self.unet(x_t, t, batch["context"].to(device), text * keep[:, None, None]).sample
        return self.diffusion.training_loss(v, x0, t, noise)

    def forward(self, batch: dict[str, Any], generator: torch.Generator) -> torch.Tensor:
        return self.training_loss(batch, generator)

    def save_pretrained(self, folder: str | Path) -> Path:
        """The `avdc` adapter's weights folder (``weights=FOLDER``)."""
        encoder, tokenizer = self._text if self.text_is_bundled else (None, None)
        return save_avdc_folder(folder, self.unet, self.shape, encoder, tokenizer)


def _text_encoder(spec: str | None, device: torch.device) -> tuple[Any, Any, bool]:
    if spec == "tiny":
        from adapters.avdc.tiny import tiny_text

        encoder, tokenizer = tiny_text()
        return encoder.to(device), tokenizer, True
    from transformers import CLIPTextModel, CLIPTokenizer

    if spec in (None, "clip"):
        from adapters.avdc.checkpoints import CLIP_VIT_B_32
        from hcvg.assets import resolve_asset

        folder = resolve_asset(CLIP_VIT_B_32).parent
    else:
        folder = Path(spec)
    encoder = CLIPTextModel.from_pretrained(folder).to(device).eval().requires_grad_(False)
    return encoder, CLIPTokenizer.from_pretrained(folder), False


def _unet(model: dict[str, Any], seed: int) -> AVDCUNet3D:
    variant = get_variant(model.get("variant", "bridge"))
    pretrained = model.get("pretrained", "official")
    if pretrained == "random":
        from adapters.avdc.tiny import tiny_unet

        return tiny_unet(seed, variant.name)
    if pretrained == "official":
        if variant.asset is None:
            raise ValueError(f"avdc training: variant {variant.name!r} has no official checkpoint; use pretrained: random")
        from adapters.avdc.checkpoints import CHECKPOINTS
        from adapters.avdc.convert import load_official_checkpoint
        from hcvg.assets import resolve_asset

        path = resolve_asset(CHECKPOINTS[variant.name], model.get("weights"))
        unet = AVDCUNet3D(**variant.unet)
        unet.load_state_dict(load_official_checkpoint(path, unet.config, model.get("source", "ema")), strict=True)
        return unet
    return AVDCUNet3D.from_pretrained(Path(pretrained) / "unet")


def build_trainable(config: dict[str, Any], seed: int) -> AVDCTrainable:
    """AVDC for `benchmark.baseline_training.train_baseline` (see the module docstring for ``model:`` keys).

    Raises:
        ValueError: On an unknown model key or a variant without the asked-for weights.
    """
    model = dict(config.get("model") or {})
    unknown = sorted(set(model) - set(MODEL_KEYS) - {"name"})
    if unknown:
        raise ValueError(f"avdc training: unknown model keys {unknown}; known: {', '.join(MODEL_KEYS)}")
    variant = get_variant(model.get("variant", "bridge"))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    unet = _unet(model, seed)
    if model.get("gradient_checkpointing"):
        unet.gradient_checkpointing = True
    encoder, tokenizer, bundled = _text_encoder(model.get("text_encoder"), device)
    height, width = int(model.get("height") or variant.size[0]), int(model.get("width") or variant.size[1])
    shape = NativeShape(variant.name, height, width, int(model.get("frames") or 15))
    trainable = AVDCTrainable(unet, encoder, tokenizer, shape, float(model.get("cond_drop", DIFFUSION.cond_drop)), bundled)
    return trainable.to(device)

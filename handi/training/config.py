"""Training configuration: the paper's hyper-parameters as defaults, read from YAML.

Paper §4, "Implementation Details": 50 epochs, batch 48, learning rate 5e-5, bf16,
α = 0.1 (stage 1's mIoU weight), η = 0.1 (stage 2's Hand Refinement Loss weight). The
rest follows the released AnimateAnything recipe (`example/train_mask_motion.yaml`):
AdamW, gradient checkpointing, zero-terminal-SNR rescaled betas, 15 % text dropout,
trainable attention / temporal-conv / input-conv / motion modules.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

STAGES = ("vae", "1", "2")
#: AnimateAnything's trainable modules (substrings of parameter names).
PAPER_TRAINABLE_MODULES = ("attn1", "attentions", "attn2", "conv_in", "temp_conv", "motion")


@dataclass
class TrainConfig:
    """One training run of one stage.

    Attributes:
        stage: ``"1"`` (motion-area masks, Eq. 5), ``"2"`` (video, Eq. 7) or ``"vae"``
            (fit a tiny VAE as an autoencoder: only for the tiny model, which has no
            pretrained SD VAE to start from).
        pretrained: A `HandiPipeline` folder to start from (the released
            AnimateAnything weights for the paper; a previous stage's output for the tiny
            model), or ``"tiny"`` to build tiny random components.
        output_dir: Where checkpoints, logs, validation videos and the final pipeline go.
        train_split / val_split: Split specs (``NAME:key=value,...``); the samples need
            hand keypoints.
        size: Native ``(H, W)`` the model trains at.
        hrl: Stage 2: add ``η · L_HR`` (Table 2's HRL switch). Writes ``unet`` (on) or
            ``unet_no_hrl`` (off) into the output pipeline.
        alpha / eta: Loss weights of Eq. 5 and Eq. 7.
        hrl_frame_stride: Decode every k-th predicted frame for ``L_HR`` (memory and
            time), starting one frame later at each step so that every frame takes turns.
        miou_frame_stride: Same for stage 1's ``L_mIoU``.
        trainable_modules: Substrings of trainable parameter names; empty = all.
    """

    stage: str = "2"
    pretrained: str = "downloads/weights/animate_anything_512_v1.02"
    output_dir: str = "runs/train-handi"
    train_split: str = "ek100-train:cache=data/ek100"
    val_split: str | None = None
    num_validation: int = 2
    size: tuple[int, int] = (256, 256)
    epochs: int = 50
    max_steps: int | None = None
    batch_size: int = 48
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5e-5
    adam_weight_decay: float = 1e-2
    max_grad_norm: float = 1.0
    mixed_precision: str = "bf16"
    gradient_checkpointing: bool = True
    text_dropout: float = 0.15
    rescale_zero_terminal_snr: bool = True
    trainable_modules: tuple[str, ...] = PAPER_TRAINABLE_MODULES
    alpha: float = 0.1
    eta: float = 0.1
    hrl: bool = True
    hrl_frame_stride: int = 1
    miou_frame_stride: int = 1
    ema: bool = False
    ema_decay: float = 0.9999
    checkpoint_every: int = 500
    validate_every: int = 500
    validation_steps: int = 25
    guidance_scale: float = 9.0
    mask_strength: float = 1.0
    log_every: int = 10
    log_with: str | None = "tensorboard"
    seed: int = 0
    num_workers: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stage = str(self.stage)
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {self.stage!r}")
        self.size = tuple(self.size)
        self.trainable_modules = tuple(self.trainable_modules or ())
        if self.size[0] % 8 or self.size[1] % 8:
            raise ValueError(f"size must be a multiple of 8 (the VAE's factor), got {self.size}")

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> "TrainConfig":
        """Read a YAML file of `TrainConfig` fields; unknown keys are an error naming them."""
        data = yaml.safe_load(Path(path).read_text()) or {}
        data.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown training settings {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["size"] = list(self.size)
        out["trainable_modules"] = list(self.trainable_modules)
        return out

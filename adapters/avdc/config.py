"""AVDC's published configurations, as data: the denoiser, the diffusion and the data shape.

Every value is read from ``flow-diffusion/AVDC`` at commit
``176fbe1352a869d77855fe17ab0ddc82c440dc4b`` (2024-04-26):

- the UNet of each variant: ``flowdiffusion/unet.py`` (``UnetMW``, ``UnetThor``,
  ``UnetBridge``), which build ``flowdiffusion/guided_diffusion/guided_diffusion/unet.py``
  ``UNetModel`` with ``dims=3`` and ``task_tokens=True``; the text pooler's fixed sizes
  (8 heads of 64, 64 latents + 4 from the mean-pooled text, 512 positions, depth 2,
  feed-forward x4) are ``PerceiverResampler``'s defaults in ``.../imagen.py``;
- frames and size: ``sample_per_seq`` and ``target_size`` in ``flowdiffusion/train_mw.py``,
  ``train_thor.py``, ``train_bridge.py`` (the first of the ``sample_per_seq`` frames is
  the condition, the model generates the other ``sample_per_seq - 1``);
- the diffusion: ``GoalGaussianDiffusion(timesteps=100, objective='pred_v',
  beta_schedule='cosine', min_snr_loss_weight=True)`` in the same scripts, with
  ``ddim_sampling_eta=0`` and ``min_snr_gamma=5`` from ``flowdiffusion/goal_diffusion.py``;
- the training recipe: ``Trainer(train_lr=1e-4, train_batch_size=..., ema_decay=0.999,
  ema_update_every=10, adam_betas=(0.9, 0.99), cond_drop_chance=0.1)`` and its gradient
  clipping at 1.0 (``goal_diffusion.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

UPSTREAM = "https://github.com/flow-diffusion/AVDC"
UPSTREAM_COMMIT = "176fbe1352a869d77855fe17ab0ddc82c440dc4b"
#: The text encoder every variant was trained with (``pretrained_model`` in train_*.py).
TEXT_ENCODER_REPO = "openai/clip-vit-base-patch32"


@dataclass(frozen=True)
class AVDCVariant:
    """One released AVDC model: its denoiser, native data shape, checkpoint and recipe.

    Attributes:
        name: ``metaworld``, ``ithor``, ``bridge`` or ``tiny`` (tests).
        unet: Keyword arguments of `adapters.avdc.unet.AVDCUNet3D`.
        size: Native (H, W) it was trained at.
        frames: Frames it generates (``sample_per_seq - 1``; the context is extra).
        asset: Registered asset of the official checkpoint (None for ``tiny``).
        batch_size: ``train_batch_size`` of its training script.
        train_steps: ``train_num_steps`` of its training script.
        input_resize: How the authors' inference script fits an image to ``size``.
    """

    name: str
    unet: dict[str, Any]
    size: tuple[int, int]
    frames: int
    asset: str | None
    batch_size: int
    train_steps: int
    input_resize: str


def _unet(model_channels: int, channel_mult: tuple[int, ...], num_res_blocks: int, attention_resolutions: tuple[int, ...],
          text_channels: int = 512, **extra: Any) -> dict[str, Any]:
    return dict(
        in_channels=3, out_channels=3, model_channels=model_channels, channel_mult=channel_mult,
        num_res_blocks=num_res_blocks, attention_resolutions=attention_resolutions, head_channels=32,
        text_channels=text_channels, **extra,
    )


VARIANTS: dict[str, AVDCVariant] = {
    # UnetMW: 128², 8 frames per sequence; inference resizes to 240x320, then center-crops 128².
    "metaworld": AVDCVariant(
        "metaworld", _unet(128, (1, 2, 3, 4, 5), 2, (8, 16)), (128, 128), 7, "avdc-metaworld", 16, 60_000,
        "resize to 240x320, center-crop 128x128",
    ),
    # UnetThor: 64², 8 frames per sequence; inference resizes to 64².
    "ithor": AVDCVariant("ithor", _unet(128, (1, 2, 4), 3, (4, 8)), (64, 64), 7, "avdc-ithor", 32, 80_000, "resize to 64x64"),
    # UnetBridge: 48x64, 7 frames per sequence; inference resizes to 48x64.
    "bridge": AVDCVariant("bridge", _unet(160, (1, 2, 4), 3, (4, 8)), (48, 64), 6, "avdc-bridge", 32, 180_000, "resize to 48x64"),
    # Tests only: every kind of block (factorized convs, attention at level 2, the text
    # pooler) at widths GroupNorm(32) allows, with the tiny CLIP text encoder's 32 features.
    "tiny": AVDCVariant(
        "tiny", _unet(32, (1, 2), 1, (2,), text_channels=32), (16, 16), 3, None, 2, 100, "resize to 16x16",
    ),
}

#: The variant the adapter runs by default: Bridge is the only one trained on real camera
#: footage of manipulation with free-form instructions ("put banana in pot"); Meta-World
#: and iTHOR are simulator renders.
DEFAULT_VARIANT = "bridge"


@dataclass(frozen=True)
class DiffusionConfig:
    """The Gaussian diffusion around the UNet (``GoalGaussianDiffusion``'s arguments).

    Attributes:
        num_train_timesteps: ``timesteps``: 100.
        beta_schedule: ``"cosine"`` (Nichol & Dhariwal, s = 0.008).
        objective: ``"pred_v"``: the UNet predicts v = sqrt(ᾱ)·ε − sqrt(1−ᾱ)·x₀.
        min_snr_gamma: Min-SNR loss weight clamp (``min_snr_loss_weight=True``, γ = 5).
        ddim_eta: ``ddim_sampling_eta``: 0, deterministic DDIM when fewer steps are asked.
        cond_drop: ``cond_drop_chance``: the text embedding is zeroed for this share of
            training samples, which is what guidance's unconditional branch sees.
    """

    num_train_timesteps: int = 100
    beta_schedule: str = "cosine"
    objective: str = "pred_v"
    min_snr_gamma: float = 5.0
    ddim_eta: float = 0.0
    cond_drop: float = 0.1


DIFFUSION = DiffusionConfig()
#: Sampling steps and guidance of the authors' inference (``-n 100``, ``-g 0`` in train_*.py).
DEFAULT_STEPS = 100
DEFAULT_GUIDANCE = 0.0


def get_variant(name: str) -> AVDCVariant:
    """The variant called ``name``.

    Raises:
        ValueError: Naming the known variants.
    """
    if name not in VARIANTS:
        raise ValueError(f"avdc: unknown variant {name!r}; choose one of {', '.join(VARIANTS)}")
    return VARIANTS[name]

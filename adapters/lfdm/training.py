"""Fine-tuning LFDM's diffusion on a benchmark split (issue 13, item 3), as upstream trains it.

Upstream (``DM/modules/video_flow_diffusion_model.py`` ``FlowDiffusion.forward`` and
``DM/train_video_flow_diffusion_*.py``) trains the 3D UNet on the flows and occlusions
the frozen LFAE computes between each clip's first frame and every frame: ε-prediction
MSE at a uniformly drawn step, text dropped with probability 0.1 (joint conditional /
unconditional training), Adam (lr 2e-4, betas (0.9, 0.99)), batch 5, 128², the LFAE
and BERT frozen and in eval mode (their BatchNorm statistics stay fixed).

The shared training command (``hcvg train lfdm --config FILE``) drives this module:

- `build_trainable(config, seed)` → `LFDMTrainable`, a ``torch.nn.Module`` with
  ``training_loss(batch, generator)`` and ``save_pretrained(folder)`` (a folder the
  ``lfdm`` adapter loads with ``weights=FOLDER``);
- `make_batches(samples, config)` → batches of clips (context + targets, resized to
  the native size) and prompts;
- `make_optimizer(trainable, config)` → the authors' optimizer.

The LFAE stays as released (MRAA's perceptual and equivariance losses are not ported);
``configs/paper.yaml`` is the paper's recipe (50 epochs on the benchmark, upstream's lr
and batch), ``configs/tiny.yaml`` a tiny model on the demo split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch
from torch import nn

from adapters.lfdm.pipeline import LFDMPipeline
from adapters.lfdm.sampler import training_loss
from adapters.lfdm.text import bert_embed

CONFIGS_DIR = Path(__file__).parent / "configs"

#: The keys a training config may hold, with their defaults (the paper's recipe).
DEFAULTS: dict[str, Any] = {
    "model": "released",          # released (the authors' files) | weights (a saved folder) | tiny (random, tests)
    "dataset": "mug",             # which released pair starts the fine-tuning
    "lfae": None,                 # explicit released LFAE file (default: the lfdm-<dataset>-lfae asset)
    "dm": None,                   # explicit released DM file (default: the lfdm-<dataset>-dm asset)
    "weights": None,              # a saved folder, for model: weights
    "text_encoder": None,         # a BERT folder (default: the bert-base-cased asset)
    "train_split": "demo",
    "num_frames": 16,             # the context + the benchmark's 15 targets
    "batch_size": 5,              # DM/train_video_flow_diffusion_mug.py BATCH_SIZE
    "epochs": 50,                 # the paper's fine-tuning length (§4.1)
    "lr": 2.0e-4,                 # LEARNING_RATE
    "adam_betas": [0.9, 0.99],    # FlowDiffusion(adam_betas=...)
    "null_cond_prob": 0.1,        # joint training ("-j" runs)
    "seed": 1234,                 # RANDOM_SEED
}


def resolve_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config with defaults filled in.

    Raises:
        ValueError: Naming unknown keys or a bad ``model``.
    """
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"lfdm training config: unknown keys {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    out = {**DEFAULTS, **config}
    if out["model"] not in ("released", "weights", "tiny"):
        raise ValueError(f"lfdm training config: model must be released, weights or tiny; got {out['model']!r}")
    if out["model"] == "weights" and not out["weights"]:
        raise ValueError("lfdm training config: model: weights needs weights: /path/to/a/saved/folder")
    if int(out["num_frames"]) < 2:
        raise ValueError(f"lfdm training config: num_frames must be >= 2 (the context and at least one target); got {out['num_frames']}")
    return out


def load_config(path: str | Path) -> dict[str, Any]:
    """A YAML training config (e.g. ``configs/paper.yaml``), defaults filled in."""
    import yaml

    return resolve_config(yaml.safe_load(Path(path).read_text()) or {})


class LFDMTrainable(nn.Module):
    """The UNet under training, with the frozen LFAE and text encoder that make its inputs.

    Attributes:
        pipe: The LFDM pipeline whose UNet is trained.
        unet: ``pipe.unet`` (the only trainable part).
        null_cond_prob: Probability of training a sample without its text.
    """

    def __init__(self, pipe: LFDMPipeline, null_cond_prob: float = 0.1):
        super().__init__()
        if pipe.text_encoder is None:
            raise ValueError("LFDMTrainable: the pipeline has no text encoder")
        self.pipe = pipe
        self.unet = pipe.unet
        self.lfae = pipe.lfae.requires_grad_(False).eval()
        self.text_encoder = pipe.text_encoder.requires_grad_(False).eval()
        self.null_cond_prob = null_cond_prob

    def forward(self, batch: dict[str, Any], generator: torch.Generator | None = None) -> torch.Tensor:
        """The shared loop calls the module (so DDP syncs gradients): the same as `training_loss`."""
        return self.training_loss(batch, generator)

    def make_batches(self, samples: Sequence[Any], loop_config: dict[str, Any]) -> list[dict[str, Any]]:
        """The shared loop's examples: one clip each (leading dimension 1), the loop batches them."""
        return make_batches(samples, {**model_config(loop_config), "batch_size": 1})

    def train(self, mode: bool = True) -> "LFDMTrainable":
        # The frozen parts stay in eval mode (upstream: the LFAE's BatchNorm must not update).
        super().train(mode)
        self.lfae.eval()
        self.text_encoder.eval()
        return self

    def training_loss(self, batch: dict[str, Any], generator: torch.Generator | None = None) -> torch.Tensor:
        """The diffusion loss of one batch.

        Args:
            batch: ``video`` float ``[B, 3, F, S, S]`` in [0, 1] (frame 0 is the
                condition frame) and ``prompts`` (B texts), as `make_batches` makes them.
            generator: CPU generator drawing the steps, the noise and the text dropout.

        Returns:
            Scalar float loss (ε-prediction MSE).
        """
        parameter = next(self.unet.parameters())
        video = batch["video"].to(device=parameter.device, dtype=parameter.dtype)
        source = video[:, :, 0]
        with torch.no_grad():
            flow, occlusion = self.lfae.flows(source, video)
            features = self.lfae.generator.compute_features(source)
            text = bert_embed(self.text_encoder, self.pipe.tokenizer, list(batch["prompts"])).to(parameter.dtype)
        x0 = torch.cat((flow, occlusion * 2 - 1), dim=1)
        feature_video = features[:, :, None].expand(-1, -1, video.shape[2], -1, -1)
        drop = (torch.rand(video.shape[0], generator=generator) < self.null_cond_prob).to(parameter.device)

        def denoise(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self.unet(torch.cat((x_t, feature_video), dim=1), t, text, drop)

        return training_loss(self.pipe.schedule, denoise, x0, generator)

    def save_pretrained(self, folder: str | Path) -> None:
        """Write the pipeline (LFAE, UNet, text encoder) for ``lfdm:weights=FOLDER``."""
        self.pipe.save_pretrained(folder)


def _text_encoder(config: dict[str, Any], pipe: LFDMPipeline) -> None:
    from adapters.lfdm.checkpoints import BERT_BASE_CASED
    from adapters.lfdm.text import load_bert
    from hcvg.assets import resolve_asset

    folder = resolve_asset(BERT_BASE_CASED, config["text_encoder"])
    pipe.text_encoder, pipe.tokenizer = load_bert(folder, torch.float32, torch.device("cpu"))


def build_trainable(config: dict[str, Any], seed: int) -> LFDMTrainable:
    """The trainable LFDM a config describes (weights on the CPU; the loop places them).

    Args:
        config: A training config (see `DEFAULTS`).
        seed: Seeds the random initialisation (``model: tiny``).

    Raises:
        ValueError: On a bad config.
        AssetNotFoundError: If released weights or the text encoder are not found.
    """
    config = resolve_config(config)
    if config["model"] == "tiny":
        from adapters.lfdm.tiny import tiny_pipeline

        pipe = tiny_pipeline(seed=seed)
    elif config["model"] == "weights":
        pipe = LFDMPipeline.from_pretrained(config["weights"])
        text = Path(config["weights"]) / "text_encoder"
        if config["text_encoder"] is None and (text / "config.json").is_file():
            from adapters.lfdm.text import load_bert

            pipe.text_encoder, pipe.tokenizer = load_bert(text, torch.float32, torch.device("cpu"))
        else:
            _text_encoder(config, pipe)
    else:
        from adapters.lfdm.checkpoints import RELEASED
        from adapters.lfdm.config import PUBLISHED
        from adapters.lfdm.convert import load_released
        from hcvg.assets import resolve_asset

        lfae_asset, dm_asset = RELEASED[config["dataset"]]
        pipe = LFDMPipeline.from_config(PUBLISHED[config["dataset"]])
        lfae, unet = load_released(resolve_asset(lfae_asset, config["lfae"]), resolve_asset(dm_asset, config["dm"]), pipe.config)
        pipe.lfae.load_state_dict(lfae, strict=True)
        pipe.unet.load_state_dict(unet, strict=True)
        _text_encoder(config, pipe)
    return LFDMTrainable(pipe, null_cond_prob=float(config["null_cond_prob"]))


#: The keys of `DEFAULTS` that describe the model; the shared loop's config holds them under ``model:``.
MODEL_KEYS = ("model", "dataset", "lfae", "dm", "weights", "text_encoder", "num_frames", "null_cond_prob")


def model_config(loop_config: dict[str, Any]) -> dict[str, Any]:
    """This module's config from the shared loop's (`benchmark.baseline_training.load_config`).

    Raises:
        ValueError: If ``model:`` holds a key that is not one of `MODEL_KEYS`.
    """
    model = dict(loop_config.get("model") or {})
    unknown = sorted(set(model) - set(MODEL_KEYS))
    if unknown:
        raise ValueError(f"lfdm: unknown keys under model: {unknown}; known: {list(MODEL_KEYS)}")
    return resolve_config(model)


def build_loop_trainable(loop_config: dict[str, Any], seed: int) -> LFDMTrainable:
    """`hcvg train lfdm`'s entry (the `benchmark.baseline_training.TRAINERS` protocol)."""
    return build_trainable(model_config(loop_config), seed)


def make_optimizer(trainable: LFDMTrainable, config: dict[str, Any]) -> torch.optim.Optimizer:
    """Adam over the UNet's parameters with the config's lr and betas (upstream's optimizer)."""
    config = resolve_config(config)
    return torch.optim.Adam(trainable.unet.parameters(), lr=float(config["lr"]), betas=tuple(config["adam_betas"]))


def clip_frames(sample: Any, num_frames: int, size: int) -> np.ndarray:
    """A sample's context + target frames, ``num_frames`` of them evenly spaced (context first), at ``size``².

    Returns:
        uint8 ``[F, size, size, 3]``.

    Raises:
        ValueError: If the sample has fewer frames than asked.
    """
    from hcvg.frames import evenly_spaced_indices

    frames = np.concatenate([sample.context[None], sample.target], axis=0)
    if frames.shape[0] < num_frames:
        raise ValueError(f"lfdm training: sample {sample.id!r} has {frames.shape[0]} frames (context + targets), num_frames asks {num_frames}")
    frames = frames[evenly_spaced_indices(0, frames.shape[0] - 1, num_frames)]
    if frames.shape[1:3] != (size, size):
        shrink = size <= frames.shape[1] and size <= frames.shape[2]
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
        frames = np.stack([cv2.resize(f, (size, size), interpolation=interpolation) for f in frames])
    return frames


def native_image_size(config: dict[str, Any]) -> int:
    """The frame size of the model a config trains (its saved config, the tiny one, or the released one's)."""
    import json

    from adapters.lfdm.config import PUBLISHED, TINY

    config = resolve_config(config)
    if config["model"] == "tiny":
        return TINY.image_size
    if config["model"] == "weights":
        return int(json.loads((Path(config["weights"]) / "lfdm_config.json").read_text())["image_size"])
    return PUBLISHED[config["dataset"]].image_size


def make_batches(samples: Sequence[Any], config: dict[str, Any], image_size: int | None = None) -> list[dict[str, Any]]:
    """Batches of training clips from benchmark samples.

    Args:
        samples: `hcvg.sample.Sample` objects (context, target, prompt).
        config: The training config (``num_frames``, ``batch_size``).
        image_size: The model's native size (default: `native_image_size`).

    Returns:
        Dicts with ``video`` float ``[B, 3, F, S, S]`` in [0, 1] (frame 0 = the
        context), ``prompts`` (the action texts) and ``ids``; the last batch may be smaller.
    """
    config = resolve_config(config)
    size = int(image_size or native_image_size(config))
    frames, batch = int(config["num_frames"]), int(config["batch_size"])
    out = []
    for start in range(0, len(samples), batch):
        chunk = samples[start : start + batch]
        clips = np.stack([clip_frames(s, frames, size) for s in chunk])  # [B, F, S, S, 3]
        video = torch.from_numpy(clips).permute(0, 4, 1, 2, 3).float() / 255.0
        out.append({"video": video, "prompts": [s.prompt for s in chunk], "ids": [s.id for s in chunk]})
    return out

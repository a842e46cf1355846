"""The training loop of both HANDI stages (paper Eq. 3–7) on accelerate.

Stage 1 learns the motion-area mask video: its targets are the per-frame masks ``M_l``
(rendered as grey images and VAE-encoded), its mask channel is the prior mask, and its
loss is ``L_noise + α · L_mIoU`` on masks decoded from ``z'_0`` (Eq. 4–6). Stage 2
learns the video: its mask channel is the clip's post-processed ``M_video``, background
latents are frozen to the context (AnimateAnything's recipe), and its loss is
``L_noise + η · L_HR`` (Eq. 7) with the differentiable Hand Refinement Loss.

The VAE and text encoder are frozen (paper §4), so their outputs are computed once
before the loop; every pixel-space loss decodes ``z'_0`` through the VAE with gradients.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from handi.diffusion import (
    decode_latents,
    encode_frames,
    frames_to_unit,
    latent_motion_score,
    mask_to_latent,
    noise_target,
    predicted_original,
)
from handi.losses import mask_iou, soft_miou_loss
from handi.motion_area import postprocess_mask, scaled_kernel_size
from handi.training.config import TrainConfig
from handi.training.data import TrainingExample, collate, examples_from_samples

logger = logging.getLogger(__name__)
CHECKPOINTS = "checkpoints"
PIPELINE = "pipeline"
LOSS_LOG = "losses.jsonl"


@dataclass
class TrainResult:
    """What a training run did (also written as ``summary.json``)."""

    stage: str
    steps: int
    seconds: float
    pipeline_dir: str
    first_loss: float
    last_loss: float
    losses: dict[str, list[float]] = field(default_factory=dict)
    validation: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "losses"}


def load_pipeline(pretrained: str, seed: int = 0) -> Any:
    """The starting `HandiPipeline`: tiny random components, or a saved pipeline folder."""
    if pretrained == "tiny":
        from handi.models.tiny import build_tiny_pipeline

        return build_tiny_pipeline(seed)
    from handi.loading import load_handi_pipeline

    return load_handi_pipeline(pretrained)


def freeze_pretrained_parts(pipe: Any) -> None:
    """The VAE and the text encoder are frozen (paper §4): no gradients, eval mode."""
    for frozen in (pipe.vae, pipe.text_encoder):
        frozen.requires_grad_(False)
        frozen.eval()


def _mask_images(masks: torch.Tensor) -> torch.Tensor:
    """float ``[B, L, H, W]`` in {0, 1} → grey RGB frames ``[B, L, 3, H, W]`` in [-1, 1]."""
    return (masks * 2 - 1)[:, :, None].expand(-1, -1, 3, -1, -1)


def _select_trainable(model: torch.nn.Module, modules: Sequence[str]) -> list[torch.nn.Parameter]:
    params = []
    for name, p in model.named_parameters():
        p.requires_grad_(not modules or any(m in name for m in modules))
        if p.requires_grad:
            params.append(p)
    if not params:
        raise ValueError(f"no parameter name contains any of {list(modules)}: nothing to train")
    return params


class _Precomputed:
    """Frozen-encoder outputs for every training example (computed once)."""

    def __init__(self, pipe: Any, examples: list[TrainingExample], stage: str, device: torch.device, batch: int = 4):
        self.examples = examples
        video, masks, text = [], [], []
        with torch.no_grad():
            for i in range(0, len(examples), batch):
                b = collate(examples[i : i + batch])
                frames = b["frames"].to(device)
                video.append(encode_frames(pipe.vae, frames).float().cpu())
                if stage == "1":
                    masks.append(encode_frames(pipe.vae, _mask_images(b["frame_masks"]).to(device)).float().cpu())
                text.append(pipe.encode_prompt(b["prompt"]).float().cpu())
            self.uncond = pipe.encode_prompt([""]).float().cpu()
        self.video = torch.cat(video)  # [N, 4, L+1, h, w]
        self.masks = torch.cat(masks) if masks else None  # [N, 4, L, h, w]
        self.text = torch.cat(text)  # [N, T, d]


def _stage_unet(pipe: Any, stage: str) -> torch.nn.Module:
    if stage == "1":
        if pipe.mask_unet is None:
            raise ValueError("the starting pipeline has no mask_unet for stage 1; start from a HANDI pipeline or 'tiny'")
        return pipe.mask_unet
    return pipe.unet


def train(
    config: TrainConfig,
    train_samples: Sequence[Any],
    val_samples: Sequence[Any] = (),
    prior_mask: np.ndarray | None = None,
    resume: bool = False,
    progress: bool = True,
    hand_net_loader: Callable[[], torch.nn.Module] | None = None,
) -> TrainResult:
    """Train one stage and save the resulting pipeline under ``output_dir/pipeline``.

    Args:
        config: The run's settings.
        train_samples / val_samples: `hcvg.sample.Sample` objects with hand keypoints.
        prior_mask: float ``[H, W]`` in [0, 1] (``hcvg masks prior``); stored in the
            pipeline. Required for stage 1 unless the pipeline already carries one.
        resume: Continue from the latest checkpoint in ``output_dir/checkpoints``.
        progress: Show a progress bar.
        hand_net_loader: Builds the frozen hand-landmark network for ``L_HR``
            (default: the port of MediaPipe's model, from the hand-landmarker asset).

    Returns:
        `TrainResult`; the per-step losses are also in ``output_dir/losses.jsonl``.
    """
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration, set_seed
    from diffusers import DDPMScheduler
    from tqdm.auto import tqdm

    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    log_with = config.log_with
    accelerator = Accelerator(
        mixed_precision=config.mixed_precision if torch.cuda.is_available() else "no",
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        log_with=log_with,
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")),
    )
    set_seed(config.seed)
    start_time = time.perf_counter()
    pipe = load_pipeline(config.pretrained, config.seed)
    if prior_mask is not None:
        pipe.prior_mask = np.asarray(prior_mask, dtype=np.float32)
    if config.stage == "1" and pipe.prior_mask is None:
        raise ValueError("stage 1 needs a prior mask: compute it with `hcvg masks prior --split S` and pass --prior FILE")
    device = accelerator.device
    pipe.to(device)
    freeze_pretrained_parts(pipe)
    examples = examples_from_samples(train_samples, config.size)
    val_examples = examples_from_samples(list(val_samples)[: config.num_validation], config.size)
    if not examples:
        raise ValueError(f"the training split {config.train_split!r} has no samples")

    train_sched = DDPMScheduler.from_config(pipe.scheduler.config, rescale_betas_zero_snr=config.rescale_zero_terminal_snr)
    if config.stage == "vae":
        if accelerator.num_processes > 1:
            # encode/decode are not forward(): DDP would not sync their gradients.
            raise ValueError("stage vae (the tiny model's autoencoder) runs in one process; launch it without torchrun")
        model = pipe.vae
        model.requires_grad_(True)
        model.train()
        params = list(model.parameters())
        data = None
    else:
        data = _Precomputed(pipe, examples, config.stage, device)
        model = _stage_unet(pipe, config.stage)
        model.train()
        params = _select_trainable(model, config.trainable_modules)
        if config.gradient_checkpointing:
            model.enable_gradient_checkpointing()
    hand_net = None
    if config.stage == "2" and config.hrl:
        if hand_net_loader is None:
            from handi.landmark.network import load_hand_landmark_net

            hand_net_loader = load_hand_landmark_net
        hand_net = hand_net_loader().to(device).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.adam_weight_decay)
    model, optimizer = accelerator.prepare(model, optimizer)
    ema = None
    if config.ema:
        from diffusers.training_utils import EMAModel

        ema = EMAModel(accelerator.unwrap_model(model).parameters(), decay=config.ema_decay)

    per_process = max(1, config.batch_size // accelerator.num_processes)
    rank, world = accelerator.process_index, accelerator.num_processes
    steps_per_epoch = max(1, math.ceil(len(examples) / (per_process * world)))
    total = config.max_steps or config.epochs * steps_per_epoch
    step = 0
    if resume:
        step = _resume(accelerator, out)
    if log_with:
        accelerator.init_trackers(f"handi-stage{config.stage}", config={k: str(v) for k, v in config.to_dict().items()})
    losses: dict[str, list[float]] = {}
    log_file = (out / LOSS_LOG).open("a" if resume else "w")
    bar = tqdm(total=total, initial=step, desc=f"stage {config.stage}", disable=not (progress and accelerator.is_main_process))
    while step < total:
        epoch, within = divmod(step, steps_per_epoch)
        order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(config.seed * 100003 + epoch))
        batch_ids = order[(within * world + rank) * per_process :][:per_process].tolist()
        if len(batch_ids) < per_process:  # wrap the last, short batch
            batch_ids += order[: per_process - len(batch_ids)].tolist()
        with accelerator.accumulate(model):
            # The wrapped model runs the forward (DDP syncs gradients through it).
            parts = _loss(config, pipe, model, train_sched, data, examples, batch_ids, device, hand_net, step,
                          model_config=accelerator.unwrap_model(model).config if config.stage != "vae" else None)
            loss = parts["loss"]
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.step(accelerator.unwrap_model(model).parameters())
        step += 1
        values = {k: float(v.detach()) for k, v in parts.items()}
        for k, v in values.items():
            losses.setdefault(k, []).append(v)
        if not all(math.isfinite(v) for v in values.values()):
            raise FloatingPointError(f"stage {config.stage} step {step}: non-finite loss {values}")
        if accelerator.is_main_process:
            log_file.write(json.dumps({"step": step, **values}) + "\n")
            if log_with and step % config.log_every == 0:
                accelerator.log(values, step=step)
        bar.update(1)
        bar.set_postfix(loss=f"{values['loss']:.4f}")
        if step % config.checkpoint_every == 0 or step == total:
            accelerator.save_state(str(out / CHECKPOINTS / f"checkpoint-{step:07d}"))
        if val_examples and config.stage != "vae" and (step % config.validate_every == 0 or step == total):
            metrics = validate(config, pipe, val_examples, out / "validation" / f"step-{step:07d}")
            if log_with:
                accelerator.log(metrics, step=step)
    bar.close()
    log_file.close()
    accelerator.wait_for_everyone()
    validation: dict[str, float] = {}
    if accelerator.is_main_process:
        trained = accelerator.unwrap_model(model)
        if ema is not None:
            ema.copy_to(trained.parameters())
        pipeline_dir = out / PIPELINE
        pipe.save_pretrained(pipeline_dir)
        if val_examples and config.stage != "vae":
            validation = validate(config, pipe, val_examples, out / "validation" / "final")
    if log_with:
        accelerator.end_training()
    series = losses.get("loss", [float("nan")])
    window = max(1, min(20, len(series) // 5 or 1))
    result = TrainResult(
        stage=config.stage, steps=step, seconds=time.perf_counter() - start_time, pipeline_dir=str(out / PIPELINE),
        first_loss=float(np.mean(series[:window])), last_loss=float(np.mean(series[-window:])), losses=losses, validation=validation,
    )
    if accelerator.is_main_process:
        (out / "summary.json").write_text(json.dumps({**result.to_dict(), "config": config.to_dict()}, indent=2))
    return result


def _resume(accelerator: Any, out: Path) -> int:
    checkpoints = sorted((out / CHECKPOINTS).glob("checkpoint-*"))
    if not checkpoints:
        raise FileNotFoundError(f"--resume: no checkpoint under {out / CHECKPOINTS}")
    accelerator.load_state(str(checkpoints[-1]))
    return int(checkpoints[-1].name.split("-")[-1])


def _loss(config, pipe, model, sched, data, examples, ids, device, hand_net, step, model_config=None) -> dict[str, torch.Tensor]:
    """One batch's loss terms (``loss`` is what is optimized).

    ``model`` may be wrapped for distributed training; ``model_config`` is its
    unwrapped config (default: ``model.config``).
    """
    if model_config is None and config.stage != "vae":
        model_config = model.config
    g = torch.Generator().manual_seed(config.seed * 7919 + step)
    if config.stage == "vae":
        # One random frame per clip, and as often one of its motion-area masks (grey
        # images): stage 1 encodes and decodes mask videos with this same VAE.
        picks = []
        for i in ids:
            e = examples[i]
            if torch.rand((), generator=g) < 0.5:
                picks.append(e.frames[torch.randint(len(e.frames), (1,), generator=g).item()])
            else:
                m = e.frame_masks[torch.randint(len(e.frame_masks), (1,), generator=g).item()]
                picks.append((m * 2 - 1)[None].expand(3, -1, -1))
        frames = torch.stack(picks).to(device)
        vae = model.module if hasattr(model, "module") else model  # DDP wraps; encode/decode are methods
        posterior = vae.encode(frames).latent_dist
        recon = vae.decode(posterior.mode()).sample
        rec = F.mse_loss(recon.float(), frames.float())
        kl = posterior.kl().mean()
        return {"loss": rec + 1e-6 * kl, "reconstruction": rec}
    batch = collate([examples[i] for i in ids])
    video = data.video[ids].to(device)
    context = video[:, :, :1]
    b = len(ids)
    text = data.text[ids].to(device)
    drop = torch.rand(b, generator=g) < config.text_dropout
    text = torch.where(drop.to(device)[:, None, None], data.uncond.to(device).expand_as(text), text)
    timesteps = torch.randint(0, sched.config.num_train_timesteps, (b,), generator=g).to(device)
    h, w = video.shape[-2:]
    motion = None
    if config.stage == "1":
        latents = data.masks[ids].to(device)
        prior = torch.from_numpy(pipe.prior_mask).to(device)
        prior = F.interpolate(prior[None, None], size=config.size, mode="area")[0]
        mask = mask_to_latent(prior.expand(b, -1, -1), (h, w), threshold=None)
    else:
        mask = mask_to_latent(batch["video_mask"].to(device), (h, w))
        # AnimateAnything: outside the mask the target is the (still) context latent.
        latents = context * (1 - mask) + video[:, :, 1:] * mask
        if getattr(model_config, "motion_strength", False):
            motion = latent_motion_score(latents)
    if not getattr(model_config, "motion_mask", True):
        mask = None
    noise = torch.randn(latents.shape, generator=g).to(device)
    noisy = sched.add_noise(latents, noise, timesteps)
    pred = model(noisy, timesteps, encoder_hidden_states=text, condition_latent=context, mask=mask, motion=motion).sample
    l_noise = F.mse_loss(pred.float(), noise_target(sched, latents, noise, timesteps).float())
    terms = {"noise": l_noise}
    if config.stage == "1" and config.alpha > 0:
        frames = _frames(step, config.miou_frame_stride, latents.shape[2])
        x0 = predicted_original(sched, noisy, pred, timesteps)[:, :, frames]
        decoded = frames_to_unit(decode_latents(pipe.vae, x0).float().mean(dim=2))
        target = batch["frame_masks"][:, frames].to(device)
        terms["miou"] = soft_miou_loss(decoded, target)
        terms["loss"] = l_noise + config.alpha * terms["miou"]
    elif config.stage == "2" and config.hrl and config.eta > 0:
        from handi.hand_refinement_loss import hand_refinement_loss

        frames = _frames(step, config.hrl_frame_stride, latents.shape[2])
        x0 = predicted_original(sched, noisy, pred, timesteps)[:, :, frames]
        decoded = frames_to_unit(decode_latents(pipe.vae, x0).float())
        keypoints = batch["keypoints"][:, frames].to(device)
        terms["hrl"] = hand_refinement_loss(decoded, keypoints, hand_net)
        terms["loss"] = l_noise + config.eta * terms["hrl"]
    else:
        terms["loss"] = l_noise
    return terms


def _frames(step: int, stride: int, num_frames: int) -> slice:
    """Every ``stride``-th frame, starting one frame later each step (all frames are seen in turn)."""
    return slice(step % stride, num_frames, stride)


@torch.no_grad()
def validate(config: TrainConfig, pipe: Any, examples: list[TrainingExample], out: Path) -> dict[str, float]:
    """Sample the held-out examples; stage 1: mask IoU vs GT (and the prior's); stage 2: videos.

    Writes the generated clips (and masks) as videos under ``out``.
    """
    from hcvg.video_io import write_video_preview

    out.mkdir(parents=True, exist_ok=True)
    batch = collate(examples)
    context = ((batch["frames"][:, 0].permute(0, 2, 3, 1) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    generator = torch.Generator().manual_seed(config.seed)
    gt = batch["video_mask"] >= 0.5
    metrics: dict[str, float] = {}
    was_training = [m.training for m in (pipe.unet, pipe.mask_unet) if m is not None]
    for m in (pipe.unet, pipe.mask_unet):
        if m is not None:
            m.eval()
    if config.stage == "1":
        result = pipe(context, batch["prompt"], mask="stage1", num_inference_steps=config.validation_steps, size=config.size,
                      generator=generator, guidance_scale=config.guidance_scale,
                      mask_strength=config.mask_strength)
        metrics["val/stage1_iou"] = float(mask_iou(torch.from_numpy(result.mask), gt).mean())
        # The prior as stage 2 would use it: thresholded and post-processed like stage 1's.
        kernel = scaled_kernel_size(config.size[0])
        prior = torch.from_numpy(postprocess_mask(pipe.prior_at(config.size), kernel_size=kernel))
        metrics["val/prior_iou"] = float(mask_iou(prior.expand_as(gt), gt).mean())
        for sid, video in zip(batch["sample_id"], result.mask_video):
            write_video_preview(out / f"{sid}_mask.mp4", np.repeat((video[..., None] * 255).astype(np.uint8), 3, axis=-1))
    else:
        result = pipe(context, batch["prompt"], mask="gt", gt_mask=gt.numpy(), num_inference_steps=config.validation_steps,
                      size=config.size, generator=generator, guidance_scale=config.guidance_scale)
        for sid, video in zip(batch["sample_id"], result.frames):
            write_video_preview(out / f"{sid}.mp4", video)
    for m, flag in zip([m for m in (pipe.unet, pipe.mask_unet) if m is not None], was_training):
        m.train(flag)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics

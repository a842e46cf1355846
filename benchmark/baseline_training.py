"""Fine-tuning a baseline on a benchmark split: one loop, one registry of trainable models.

The paper fine-tunes every baseline on the benchmark (§4.1); ``hcvg train avdc|lfdm
--config FILE`` runs `train_baseline` with the model the registry names.

**The protocol** a model implements in ``adapters/<model>/training.py``::

    def build_trainable(config: dict, seed: int) -> Trainable

``config`` is the whole YAML file as a dict (the loop's keys below, the model's own under
``model:``); ``seed`` seeds the weights it initializes. A ``Trainable`` is a
``torch.nn.Module`` whose trainable parameters (``requires_grad``) are what the loop
optimizes, with:

- ``training_loss(batch: dict, generator: torch.Generator) -> torch.Tensor``: the
  scalar loss of one batch; every random draw (timesteps, noise, condition dropout)
  comes from ``generator`` (a CPU generator seeded per step), so a resumed run draws
  what the uninterrupted one would. ``forward(batch, generator)`` must return the same
  (the loop calls the module, so that DDP synchronizes gradients).
- ``make_batches(samples, config) -> list[dict]``: the split's clips prepared once, at
  the model's native size, one dict per example holding tensors with a leading batch
  dimension of 1 and lists of length 1 (prompts). The loop draws ``batch_size``
  examples per step and collates them by concatenating along that dimension.
- ``save_pretrained(folder)``: writes weights the model's adapter loads with
  ``weights=FOLDER``.

Loop keys of the config (defaults in `LOOP_DEFAULTS`): ``output_dir``, ``train_split``
(a split spec, e.g. ``demo:num_samples=8`` or ``ek100-train:cache=DIR``), ``epochs``,
``max_steps``, ``batch_size``, ``learning_rate``, ``adam_betas``, ``weight_decay``,
``max_grad_norm``, ``gradient_accumulation_steps``, ``mixed_precision``,
``checkpoint_every``, ``ema_decay`` (None: no EMA), ``seed``.

Outputs under ``output_dir``: ``checkpoints/checkpoint-NNNNNNN`` (accelerate's full
state: model, optimizer, EMA; ``resume=True`` continues from the latest),
``losses.jsonl`` (one line per step), ``weights/`` (``save_pretrained``, with the EMA
weights when EMA is on) and ``summary.json``.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from hcvg.registry import Registry

CHECKPOINTS = "checkpoints"
WEIGHTS = "weights"
LOSS_LOG = "losses.jsonl"

#: The one list of trainable baselines: name → its ``build_trainable`` (lazy).
TRAINERS: Registry[Callable[..., Any]] = Registry("trainable baseline")
TRAINERS.register("avdc", "adapters.avdc.training:build_trainable")
TRAINERS.register("lfdm", "adapters.lfdm.training:build_loop_trainable")

LOOP_DEFAULTS: dict[str, Any] = {
    "output_dir": "runs/train",
    "train_split": "demo:num_samples=8",
    "epochs": 50,
    "max_steps": None,
    "batch_size": 4,
    "learning_rate": 1e-4,
    "adam_betas": [0.9, 0.999],
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,
    "gradient_accumulation_steps": 1,
    "mixed_precision": "no",
    "checkpoint_every": 500,
    "ema_decay": None,
    "seed": 0,
}


@dataclass
class BaselineTrainResult:
    """What a run did (also written as ``summary.json``, without the loss series)."""

    model: str
    steps: int
    seconds: float
    weights_dir: str
    first_loss: float
    last_loss: float
    losses: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "losses"}


def load_config(path: str | Path, **overrides: Any) -> dict[str, Any]:
    """A training YAML with the loop's defaults filled in and ``overrides`` (not None) applied.

    Raises:
        ValueError: If the file is not a mapping, or names loop keys that do not exist.
    """
    import yaml

    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"training config {path}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - set(LOOP_DEFAULTS) - {"model"})
    if unknown:
        raise ValueError(f"training config {path}: unknown keys {unknown}; loop keys are {sorted(LOOP_DEFAULTS)}, model keys go under 'model:'")
    config = {**LOOP_DEFAULTS, **data}
    config["model"] = dict(data.get("model") or {})
    config.update({k: v for k, v in overrides.items() if v is not None})
    return config


def build_trainable(name: str, config: dict[str, Any], seed: int) -> Any:
    """The registered model's trainable for ``config`` (imports its module only now)."""
    return TRAINERS.get(name)(config, seed)


def collate(examples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Concatenate examples (leading dimension 1) into one batch: tensors along dim 0, lists joined."""
    import torch

    batch: dict[str, Any] = {}
    for key in examples[0]:
        values = [e[key] for e in examples]
        batch[key] = torch.cat(values) if isinstance(values[0], torch.Tensor) else [v for vs in values for v in vs]
    return batch


class _EMA:
    """An exponential moving average of the trainable parameters (checkpointed with the state)."""

    def __init__(self, params: list[Any], decay: float):
        self.decay = decay
        self.shadow = [p.detach().clone().float() for p in params]

    def update(self, params: list[Any]) -> None:
        import torch

        with torch.no_grad():
            for s, p in zip(self.shadow, params):
                s.lerp_(p.detach().float(), 1 - self.decay)

    def copy_to(self, params: list[Any]) -> None:
        import torch

        with torch.no_grad():
            for s, p in zip(self.shadow, params):
                p.copy_(s.to(p.dtype))

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "shadow": self.shadow}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay = state["decay"]
        self.shadow = [s.clone() for s in state["shadow"]]


def _latest_checkpoint(out: Path) -> tuple[Path, int]:
    checkpoints = sorted((out / CHECKPOINTS).glob("checkpoint-*"))
    if not checkpoints:
        raise FileNotFoundError(f"--resume: no checkpoint under {out / CHECKPOINTS}")
    return checkpoints[-1], int(checkpoints[-1].name.split("-")[-1])


def train_baseline(name: str, config: dict[str, Any], samples: Sequence[Any], resume: bool = False, progress: bool = True) -> BaselineTrainResult:
    """Fine-tune the baseline ``name`` on ``samples`` (AdamW on accelerate).

    Args:
        name: A `TRAINERS` name (``avdc``).
        config: `load_config`'s dict.
        samples: `hcvg.sample.Sample` objects of the training split.
        resume: Continue from the latest checkpoint in ``output_dir/checkpoints``.
        progress: Show a progress bar.

    Returns:
        `BaselineTrainResult`; per-step losses are also in ``output_dir/losses.jsonl``.

    Raises:
        ValueError: If there are no samples.
        FloatingPointError: On a non-finite loss (naming the step).
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration, set_seed
    from tqdm.auto import tqdm

    if not samples:
        raise ValueError(f"{name}: the training split {config['train_split']!r} has no samples")
    out = Path(config["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    accelerator = Accelerator(
        mixed_precision=config["mixed_precision"] if torch.cuda.is_available() else "no",
        gradient_accumulation_steps=config["gradient_accumulation_steps"],
        project_config=ProjectConfiguration(project_dir=str(out)),
    )
    seed = int(config["seed"])
    set_seed(seed)
    started = time.perf_counter()
    trainable = build_trainable(name, config, seed)
    examples = trainable.make_batches(samples, config)
    params = [p for p in trainable.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=float(config["learning_rate"]), betas=tuple(config["adam_betas"]),
                                  weight_decay=float(config["weight_decay"]))
    model, optimizer = accelerator.prepare(trainable, optimizer)
    ema = None
    if config["ema_decay"] is not None:
        ema = _EMA(params, float(config["ema_decay"]))
        accelerator.register_for_checkpointing(ema)

    world, rank = accelerator.num_processes, accelerator.process_index
    per_process = max(1, int(config["batch_size"]) // world)
    steps_per_epoch = max(1, math.ceil(len(examples) / (per_process * world)))
    total = int(config["max_steps"] or int(config["epochs"]) * steps_per_epoch)
    step = 0
    if resume:
        checkpoint, step = _latest_checkpoint(out)
        accelerator.load_state(str(checkpoint))
    losses: list[float] = []
    log = (out / LOSS_LOG).open("a" if resume else "w")
    bar = tqdm(total=total, initial=step, desc=f"train {name}", disable=not (progress and accelerator.is_main_process))
    model.train()
    while step < total:
        epoch, within = divmod(step, steps_per_epoch)
        order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(seed * 100003 + epoch)).tolist()
        ids = order[(within * world + rank) * per_process :][:per_process]
        ids += order[: per_process - len(ids)]  # wrap the short last batch
        batch = collate([examples[i] for i in ids])
        generator = torch.Generator().manual_seed(seed * 7919 + step * world + rank)
        with accelerator.accumulate(model), accelerator.autocast():
            loss = model(batch, generator)
            accelerator.backward(loss)
            if accelerator.sync_gradients and config["max_grad_norm"]:
                accelerator.clip_grad_norm_(params, float(config["max_grad_norm"]))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        step += 1
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"{name}: non-finite loss {value} at step {step}")
        if ema is not None:
            ema.update(params)
        losses.append(value)
        if accelerator.is_main_process:
            log.write(json.dumps({"step": step, "loss": value}) + "\n")
            log.flush()
        bar.update(1)
        bar.set_postfix(loss=f"{value:.4f}")
        if step % int(config["checkpoint_every"]) == 0 or step == total:
            accelerator.save_state(str(out / CHECKPOINTS / f"checkpoint-{step:07d}"))
    bar.close()
    log.close()
    accelerator.wait_for_everyone()
    weights = out / WEIGHTS
    if accelerator.is_main_process:
        trained = accelerator.unwrap_model(model)
        if ema is not None:
            # Save the averaged weights, then put the online ones back (the state stays resumable).
            online = [p.detach().clone() for p in params]
            ema.copy_to(params)
            trained.save_pretrained(weights)
            with torch.no_grad():
                for p, o in zip(params, online):
                    p.copy_(o)
        else:
            trained.save_pretrained(weights)
    window = max(1, min(10, len(losses) // 5 or 1))
    result = BaselineTrainResult(
        model=name, steps=step, seconds=time.perf_counter() - started, weights_dir=str(weights),
        first_loss=float(sum(losses[:window]) / window) if losses else float("nan"),
        last_loss=float(sum(losses[-window:]) / window) if losses else float("nan"), losses=losses,
    )
    if accelerator.is_main_process:
        summary = {**result.to_dict(), "config": copy.deepcopy(config)}
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return result


def registered_trainers() -> list[str]:
    """Names ``hcvg train`` accepts besides ``handi``."""
    return TRAINERS.names()


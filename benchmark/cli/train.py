"""`hcvg train handi`: train HANDI's stage 1 or stage 2 on accelerate."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmark.cli.base import Subcommand
from benchmark.run_config import ComponentSpec

PACKAGED_CONFIGS = "handi/training/configs"
#: Where each baseline's packaged configs live (`benchmark.baseline_training.TRAINERS` names them).
BASELINE_CONFIGS = "adapters/{model}/configs"


class TrainCommand(Subcommand):
    name = "train"
    help = "Train a model of the suite (HANDI's stage 1 or 2) or fine-tune a baseline (avdc, lfdm) on a split."
    description = """Trains one HANDI stage (paper §3.3) on any split whose samples carry hand keypoints
(`hcvg masks build` makes them for a dataset split; the demo split has them built in).

  stage 1: motion-area mask video from the context, the text and the prior mask;
           loss L_noise + alpha * L_mIoU (Eq. 5-6)
  stage 2: video conditioned on the post-processed motion area;
           loss L_noise + eta * L_HR (Eq. 7), the Hand Refinement Loss through a
           PyTorch port of MediaPipe's hand-landmark network (hrl: false turns it off)
  vae:     fits a tiny VAE as an autoencoder (tiny models only: the published model
           uses Stable Diffusion's frozen VAE)

Baselines (avdc, lfdm): the paper fine-tunes every baseline on the benchmark (§4.1);
`hcvg train avdc --config FILE` fine-tunes it on the config's train_split (a prepared
dataset cache or the demo split) with AdamW, writing OUTPUT_DIR/weights (load it with
the adapter option weights=OUTPUT_DIR/weights), OUTPUT_DIR/losses.jsonl and
checkpoints every checkpoint_every steps (--resume continues from the latest).

Runs on accelerate: launch with `accelerate launch -m benchmark.cli.main train ...` or
torchrun for several GPUs; bf16 and gradient checkpointing come from the config. Every
checkpoint_every steps the full training state is saved; --resume continues from the
latest one. The trained pipeline is written to OUTPUT_DIR/pipeline, per-step losses to
OUTPUT_DIR/losses.jsonl, TensorBoard logs to OUTPUT_DIR/logs, validation videos to
OUTPUT_DIR/validation."""
    epilog = f"""config files (YAML, fields of handi.training.config.TrainConfig):
  {PACKAGED_CONFIGS}/paper_stage1.yaml   the paper's recipe, stage 1
  {PACKAGED_CONFIGS}/paper_stage2.yaml   the paper's recipe, stage 2 with HRL
  {PACKAGED_CONFIGS}/tiny_*.yaml         the tiny model of the demo (examples/train_handi_tiny.sh)
  {BASELINE_CONFIGS.format(model="avdc")}/paper.yaml        AVDC fine-tuned on the benchmark, 50 epochs
  {BASELINE_CONFIGS.format(model="avdc")}/tiny.yaml         a tiny AVDC on the demo split (CPU, minutes)
  {BASELINE_CONFIGS.format(model="lfdm")}/train_paper.yaml  LFDM fine-tuned on the benchmark, 50 epochs (UNet only; LFAE frozen)
  {BASELINE_CONFIGS.format(model="lfdm")}/train_tiny.yaml   a tiny LFDM on the demo split (CPU, minutes)

examples:
  hcvg masks prior --split 'ek100-train:cache=data/ek100,hands=cache/hands/ek100-train'
  hcvg train handi --stage 1 --config {PACKAGED_CONFIGS}/paper_stage1.yaml --prior cache/hands/ek100-train/prior_mask.npy
  hcvg train handi --stage 2 --config {PACKAGED_CONFIGS}/paper_stage2.yaml --resume
  hcvg train avdc --config {BASELINE_CONFIGS.format(model="avdc")}/tiny.yaml --max-steps 20"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from benchmark.baseline_training import TRAINERS

        parser.add_argument("model", choices=["handi", *TRAINERS.names()], help="what to train")
        parser.add_argument("--stage", choices=["1", "2", "vae"], default=None, help="stage to train (default: the config's)")
        parser.add_argument("--config", type=Path, required=True, help="YAML training config")
        parser.add_argument("--output-dir", default=None, help="override the config's output_dir")
        parser.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps")
        parser.add_argument("--prior", type=Path, default=None, help="prior mask (.npy from `hcvg masks prior`); stage 1")
        parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in output_dir")
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def run(self, args: argparse.Namespace) -> int:
        from benchmark.splits import load_split
        from hcvg.errors import UserError

        if not args.config.is_file():
            where = PACKAGED_CONFIGS if args.model == "handi" else BASELINE_CONFIGS.format(model=args.model)
            raise UserError(f"training config {args.config} does not exist (packaged ones are under {where}/)")
        if args.model != "handi":
            return _train_baseline(args, load_split)
        from handi.training.config import TrainConfig
        from handi.training.trainer import train

        try:
            config = TrainConfig.from_yaml(args.config, stage=args.stage, output_dir=args.output_dir, max_steps=args.max_steps)
        except (ValueError, TypeError) as err:
            raise UserError(str(err)) from err
        prior = None
        if args.prior is not None:
            from handi.prior_mask import load_prior_mask

            prior = load_prior_mask(args.prior)
        train_split = _split(config.train_split, load_split)
        val = _split(config.val_split, load_split) if config.val_split else None
        train_samples = [train_split.get(i) for i in train_split.ids()]
        val_samples = [val.get(i) for i in val.ids()[: config.num_validation]] if val is not None else []
        result = train(config, train_samples, val_samples, prior_mask=prior, resume=args.resume, progress=not args.no_progress)
        print(f"stage {result.stage}: {result.steps} steps in {result.seconds:.0f} s; "
              f"loss {result.first_loss:.4f} -> {result.last_loss:.4f}")
        for key, value in result.validation.items():
            print(f"  {key}: {value:.4f}")
        print(f"pipeline: {result.pipeline_dir}")
        print(json.dumps({"summary": str(Path(config.output_dir) / "summary.json")}))
        return 0


def _train_baseline(args: argparse.Namespace, load_split) -> int:
    from benchmark.baseline_training import load_config, train_baseline
    from hcvg.errors import UserError

    if args.stage is not None or args.prior is not None:
        raise UserError(f"--stage and --prior are HANDI's; `hcvg train {args.model}` takes neither")
    try:
        config = load_config(args.config, output_dir=args.output_dir, max_steps=args.max_steps)
    except (ValueError, TypeError) as err:
        raise UserError(str(err)) from err
    split = _split(config["train_split"], load_split)
    samples = [split.get(i) for i in split.ids()]
    try:
        result = train_baseline(args.model, config, samples, resume=args.resume, progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as err:
        raise UserError(f"hcvg train {args.model}: {err}") from err
    print(f"{args.model}: {result.steps} steps in {result.seconds:.0f} s; loss {result.first_loss:.4f} -> {result.last_loss:.4f}")
    print(f"weights: {result.weights_dir} (adapter option weights={result.weights_dir})")
    print(json.dumps({"summary": str(Path(config["output_dir"]) / "summary.json")}))
    return 0


def _split(spec_text: str, load_split):
    spec = ComponentSpec.parse(spec_text)
    return load_split(spec.name, **spec.options)

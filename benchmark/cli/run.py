"""`hcvg run` and `hcvg demo`: run a benchmark matrix into a run directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.cli.base import Subcommand
from benchmark.run_config import ComponentSpec, RunConfig
from benchmark.runner import Runner, RunResult

DEFAULT_DEMO_ADAPTERS = ["static", "oracle"]
# Metrics that need no downloaded weights (the hand model is built from PyPI) and run in
# seconds on a CPU; the full-size backbones (FID, FVD, CLIP, BLIP, EgoVLP) join with --metrics.
DEFAULT_DEMO_METRICS = [
    "psnr", "ssim", "background-fidelity", "background-motion", "hs-err", "hand-recall", "hand-precision",
]


def _all_metrics() -> list[str]:
    from metrics.registry import METRICS

    return METRICS.names()


def _report(result: RunResult) -> int:
    print(result.leaderboard)
    failures = result.failures
    root = result.store.root
    print(f"Run directory: {root}")
    print(f"  summary:     {root / 'summary.parquet'} ({len(result.summary)} rows)")
    print(f"  scores:      {root / 'scores.parquet'} ({len(result.scores)} rows)")
    print(f"  leaderboard: {root / 'leaderboard.md'}")
    print(f"  clips generated now: {result.generated}")
    skipped = [f for f in failures if f.get("stage") == "metric-setup"]
    others = [f for f in failures if f.get("stage") != "metric-setup"]
    for failure in skipped:
        reason = str(failure.get("error", "")).splitlines()[0]
        print(f"  skipped metric {failure.get('metric')}: {reason}")
    if skipped:
        print("    (`hcvg assets list` says which weights are missing and how to get them)")
    if others:
        print(f"  failures:    {root / 'failures.jsonl'} ({len(others)} recorded; the rest was scored)")
        for failure in others[-5:]:
            where = " ".join(f"{k}={failure[k]}" for k in ("adapter", "split", "sample", "stage") if k in failure)
            print(f"    - {where}: {str(failure.get('error', '')).splitlines()[0]}")
    return 0


# Everything the demo may download (the README lists it; tests/test_readme.py checks both).
DEMO_ASSETS = ("hand-landmarker",)


def _ensure_demo_assets() -> None:
    """The demo scores HS-Err: get the hand model once (a download, or a local build)."""
    from benchmark.asset_fetch import fetch_asset
    from hcvg.assets import AssetNotFoundError, resolve_asset

    for name in DEMO_ASSETS:
        try:
            resolve_asset(name)
        except AssetNotFoundError:
            print(f"Fetching {name} once (needed by the demo's hand metrics)...", file=sys.stderr)
            try:
                print(f"  -> {fetch_asset(name)}", file=sys.stderr)
            except AssetNotFoundError as err:  # the run still goes on; the metrics that need it are skipped
                print(f"  could not get it; the metrics that need it will be skipped: {err}", file=sys.stderr)


class RunCommand(Subcommand):
    name = "run"
    help = "Run adapters × splits × seeds, score every clip, write summary and leaderboard."
    epilog = """examples:
  hcvg run --adapters static oracle --splits demo --out runs/demo
  hcvg run --adapters 'folder:root=outputs/my_model,label=my-model' --splits demo --out runs/mine
  hcvg run --adapters static --splits 'demo:num_samples=40' --metrics psnr ssim --seeds 0 1 2 --out runs/x
  hcvg run ... --out runs/x --resume      # continue a killed run; finished work is kept

Components take options as NAME:key=value,key=value; `label=` names the adapter in
tables (so one adapter, e.g. `folder`, can appear twice). Failures (an adapter that
errors, a corrupt video, a metric that raises) go to RUN/failures.jsonl; the run goes on."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--adapters", nargs="+", required=True, metavar="ADAPTER", help="adapters to run (see `hcvg adapters list`)")
        parser.add_argument("--splits", nargs="+", default=["demo"], metavar="SPLIT", help="splits to run on (default: demo)")
        parser.add_argument("--metrics", nargs="+", default=None, metavar="METRIC", help="metrics (default: every registered metric)")
        parser.add_argument("--scopes", nargs="+", default=["full", "ma"], choices=["full", "ma"], help="full frame and/or motion-area crop (default: both)")
        parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="one generation per seed (default: 0)")
        parser.add_argument("--out", type=Path, required=True, help="run directory")
        parser.add_argument("--resume", action="store_true", help="continue an existing run directory")
        parser.add_argument("--batch-size", type=int, default=8, help="largest batch passed to an adapter (default: 8)")
        parser.add_argument("--previews", action="store_true", help="also write MP4 previews of generated clips")
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def config_from(self, args: argparse.Namespace) -> RunConfig:
        return RunConfig(
            out=args.out,
            adapters=[ComponentSpec.parse(a) for a in args.adapters],
            splits=[ComponentSpec.parse(s) for s in args.splits],
            metrics=args.metrics or _all_metrics(),
            scopes=args.scopes,
            seeds=args.seeds,
            batch_size=args.batch_size,
            previews=args.previews,
        )

    def run(self, args: argparse.Namespace) -> int:
        config = self.config_from(args)
        labels = [a.label for a in config.adapters]
        if len(set(labels)) != len(labels):
            print(f"error: adapter labels must be unique, got {labels}; add label=NAME to tell them apart", file=sys.stderr)
            return 2
        result = Runner(config, resume=args.resume, progress=not args.no_progress).run()
        return _report(result)


class DemoCommand(Subcommand):
    name = "demo"
    help = "Run the built-in demo: static and oracle adapters on the generated demo split."
    description = """Generate the `demo` split (synthetic egocentric clips with drawn hands; nothing is
downloaded), run the `static` (lower bound) and `oracle` (upper bound) adapters on it,
score them at scopes full and ma (fidelity, background, hand metrics), and write summary.parquet and
leaderboard.md. The numbers exercise the pipeline; they are not comparable with the
paper's, which come from real EPIC-KITCHENS / Ego4D clips and trained models."""
    epilog = """examples:
  hcvg demo --out runs/demo
  hcvg demo --out runs/demo --num-samples 24 --resume
  hcvg demo --out runs/demo-full --metrics psnr hs-err fid fvd clip-gt clip-tx   # with weights on disk"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="run directory (default: runs/demo)")
        parser.add_argument("--num-samples", type=int, default=12, help="demo clips to generate (default: 12)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the demo generator (default: 0)")
        parser.add_argument("--adapters", nargs="+", default=DEFAULT_DEMO_ADAPTERS, help="adapters (default: static oracle)")
        parser.add_argument(
            "--metrics", nargs="+", default=DEFAULT_DEMO_METRICS,
            help="metrics (default: the ones needing no downloaded weights: " + " ".join(DEFAULT_DEMO_METRICS) + ")",
        )
        parser.add_argument("--resume", action="store_true", help="continue an existing demo run")
        parser.add_argument("--previews", action="store_true", help="also write MP4 previews")
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def run(self, args: argparse.Namespace) -> int:
        _ensure_demo_assets()
        config = RunConfig(
            out=args.out,
            adapters=[ComponentSpec.parse(a) for a in args.adapters],
            splits=[ComponentSpec("demo", {"num_samples": args.num_samples, "seed": args.seed})],
            metrics=args.metrics,
            previews=args.previews,
        )
        result = Runner(config, resume=args.resume, progress=not args.no_progress).run()
        return _report(result)

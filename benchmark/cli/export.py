"""`hcvg export inputs`: a split's inputs (ids, context frames, prompts) for an external model."""

from __future__ import annotations

import argparse
from pathlib import Path

import benchmark.export as export
from benchmark.cli.base import Subcommand
from benchmark.run_config import ComponentSpec
from hcvg import NUM_FRAMES


class ExportCommand(Subcommand):
    name = "export"
    help = "Export a split's inputs (manifest + context PNGs) for a model run outside the suite."
    # The file contract lives once, in the module that writes it.
    description = export.__doc__
    epilog = """examples:
  hcvg export inputs --split demo --out inputs/demo
  hcvg export inputs --split 'ek100-test:cache=cache/ek100-test' --out inputs/ek100-test
  # ... your model reads inputs/demo/manifest.jsonl and writes outputs/my_model/<id>.mkv ...
  hcvg run --adapters 'folder:root=outputs/my_model,label=my-model' --splits demo --out runs/mine"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action", choices=["inputs"], help="what to export")
        parser.add_argument("--split", required=True, help="split, with options as NAME:key=value,... (as given to `hcvg run --splits`)")
        parser.add_argument("--out", type=Path, required=True, help="export folder (manifest.jsonl, export.json, contexts/)")
        parser.add_argument("--num-frames", type=int, default=NUM_FRAMES, help=f"L, frames to generate after the context frame (default: {NUM_FRAMES}, the run's default)")
        parser.add_argument("--overwrite", action="store_true", help="replace an export already in --out")
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def run(self, args: argparse.Namespace) -> int:
        from benchmark.splits import coerce_split_options, load_split

        spec = ComponentSpec.parse(args.split)
        split = load_split(spec.name, **coerce_split_options(spec.name, spec.options))
        result = export.export_inputs(
            split, args.out, num_frames=args.num_frames, split_spec=args.split, overwrite=args.overwrite, progress=not args.no_progress
        )
        print(f"exported {len(result.records)} samples of {args.split} to {result.out}")
        print(f"  manifest: {result.manifest} (one JSON record per sample)")
        print(f"  contexts: {result.out / export.CONTEXTS}/<id>.png")
        print(f"  write {args.num_frames} frames per sample to OUTPUTS/<id>{export.OUTPUT_SUFFIX}, then score them with:")
        print(f"    hcvg run --adapters 'folder:root=OUTPUTS,label=MY-MODEL' --splits '{args.split}' --out runs/MY-MODEL")
        return 0

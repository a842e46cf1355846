"""`hcvg masks build`: ground-truth hand keypoints and motion-area masks for a split."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.cli.base import Subcommand
from benchmark.run_config import ComponentSpec


class MasksCommand(Subcommand):
    name = "masks"
    help = "Detect hands in every clip of a split and cache keypoints and motion-area masks."
    description = """Runs the real MediaPipe hand landmarker (VIDEO mode) over the 16 frames of every
clip, and caches per sample the keypoints [16, 2, 21, 2] and the motion area M_video
(union over frames of each hand's filled convex hull, paper §3.1), in parallel worker
processes; re-running skips finished samples. Pass the directory to any split as the
option hands=DIR so that metrics and adapters get these annotations."""
    epilog = """examples:
  hcvg masks build --split demo --out cache/hands/demo
  hcvg masks build --split 'ek100-test:cache=data/ek100' --workers 8 --out cache/hands/ek100-test
  hcvg run --adapters static --splits 'motion-intensive:base=demo,hands=cache/hands/demo' --out runs/mi"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action", choices=["build"], help="what to do")
        parser.add_argument("--split", required=True, help="split, with options as NAME:key=value,...")
        parser.add_argument("--out", type=Path, default=None, help="annotation directory (default: $HCVG_CACHE/hands/<split>)")
        parser.add_argument("--workers", type=int, default=2, help="worker processes (default: 2)")
        parser.add_argument("--min-detection-confidence", type=float, default=0.5, help="MediaPipe palm-detection threshold")
        parser.add_argument("--min-presence-confidence", type=float, default=0.5, help="MediaPipe hand-presence threshold")
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def run(self, args: argparse.Namespace) -> int:
        from benchmark.hand_annotations import build_annotations, default_annotation_dir

        spec = ComponentSpec.parse(args.split)
        out = args.out or default_annotation_dir(spec.name, spec.options)
        report = build_annotations(
            spec.name, spec.options, out, workers=args.workers, progress=not args.no_progress,
            detector_options={
                "min_hand_detection_confidence": args.min_detection_confidence,
                "min_hand_presence_confidence": args.min_presence_confidence,
            },
        )
        print(f"hand annotations: {out}")
        print(f"  annotated now: {report.done}, already there: {report.skipped}, failed: {len(report.failed)}")
        if report.frames:
            print(f"  throughput: {report.frames_per_second:.1f} frames/s ({report.frames} frames in {report.seconds:.1f} s)")
        for sample_id, error in list(report.failed.items())[:5]:
            print(f"  - {sample_id}: {error}")
        print(f"  use it with: --splits '{spec.name}:{','.join([*(f'{k}={v}' for k, v in spec.options.items()), f'hands={out}'])}'")
        return 0 if not report.failed else 1

"""`hcvg masks build | prior`: ground-truth hand keypoints and motion-area masks for a split, and their prior."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any, Iterator

from benchmark.cli.base import Subcommand
from benchmark.run_config import ComponentSpec
from hcvg.errors import InputNotFoundError, InvalidInputError


class MasksCommand(Subcommand):
    name = "masks"
    help = "Detect hands in every clip of a split and cache keypoints and motion-area masks; compute their prior."
    description = """Runs the real MediaPipe hand landmarker (VIDEO mode) over the 16 frames of every
clip, and caches per sample the keypoints [16, 2, 21, 2] and the motion area M_video
(union over frames of each hand's filled convex hull, paper §3.1), in parallel worker
processes; re-running skips finished samples. Pass the directory to any split as the
option hands=DIR so that metrics and adapters get these annotations.

`prior` computes HANDI's prior mask (paper §3.1) over a split's ground-truth motion
areas: each pixel's fraction of masks covering it, divided by the largest fraction, so
it spans [0, 1]. Use the training split. It is saved with the split's masks, as
prior_mask.npy (float32) and prior_mask.png (uint8), with prior_mask.json (statistics).
The masks are the split's annotations (--hands DIR, or hands=DIR among its options),
else the split's own (the demo's drawn ones)."""
    epilog = """examples:
  hcvg masks build --split demo --out cache/hands/demo
  hcvg masks build --split 'ek100-test:cache=data/ek100' --workers 8 --out cache/hands/ek100-test
  hcvg masks prior --split 'ek100-train:cache=data/ek100' --hands cache/hands/ek100-train
  hcvg masks prior --split demo:num_samples=32 --out cache/prior/demo.npy
  hcvg run --adapters static --splits 'motion-intensive:base=demo,hands=cache/hands/demo' --out runs/mi"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action", choices=["build", "prior"], help="build: annotate the clips; prior: the prior mask of their motion areas")
        parser.add_argument("--split", required=True, help="split, with options as NAME:key=value,...")
        parser.add_argument(
            "--out", type=Path, default=None,
            help="build: annotation directory (default: $HCVG_CACHE/hands/<split>); prior: a folder or a .npy file "
            "(default: prior_mask.npy in the annotation directory)",
        )
        parser.add_argument("--hands", type=Path, default=None, help="prior: annotation directory from `hcvg masks build` to read the masks from")
        parser.add_argument("--workers", type=int, default=2, help="worker processes (default: 2)")
        parser.add_argument("--min-detection-confidence", type=float, default=0.5, help="MediaPipe palm-detection threshold")
        parser.add_argument("--min-presence-confidence", type=float, default=0.5, help="MediaPipe hand-presence threshold")
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def run(self, args: argparse.Namespace) -> int:
        if args.action == "prior":
            return self._prior(args)
        if args.hands is not None:
            raise InvalidInputError("--hands is an option of `hcvg masks prior`; `build` writes the annotations to --out")
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

    def _prior(self, args: argparse.Namespace) -> int:
        from benchmark.hand_annotations import default_annotation_dir
        from benchmark.splits import load_split
        from handi.prior_mask import prior_mask_with_stats, save_prior_mask

        spec = ComponentSpec.parse(args.split)
        options = dict(spec.options)
        if args.hands is not None:
            if options.get("hands", str(args.hands)) != str(args.hands):
                raise InvalidInputError(f"--hands {args.hands} and the split option hands={options['hands']} disagree; give one")
            options["hands"] = str(args.hands)
        split = load_split(spec.name, **options)
        hands = options.get("hands")
        out = args.out or (Path(hands) if hands else default_annotation_dir(spec.name, options))
        source = f"hand annotations in {hands}" if hands else "the split's own masks"
        prior, stats = prior_mask_with_stats(_ground_truth_masks(split, spec.name, progress=not args.no_progress))
        meta = {"split": spec.name, "split_options": options, "masks": source, **dataclasses.asdict(stats)}
        npy_path, png_path = save_prior_mask(out, prior, meta=meta)
        print(f"prior mask: {npy_path}")
        print(f"  image: {png_path}")
        print(f"  from {stats.num_masks} ground-truth masks ({stats.num_empty} empty) of split {spec.name}: {source}")
        print(
            f"  coverage: {100 * stats.coverage:.1f}% of pixels; peak: {100 * stats.peak_fraction:.1f}% of masks; "
            f"mean: {stats.mean:.3f}; size: {prior.shape[1]}x{prior.shape[0]}"
        )
        return 0


def _ground_truth_masks(split: Any, split_name: str, progress: bool) -> Iterator[Any]:
    """Each sample's motion-area mask, bool [H, W]; from the annotation cache alone when the split has one."""
    from tqdm.auto import tqdm

    from benchmark.splits.annotated import AnnotatedSplit

    for sample_id in tqdm(split.ids(), desc=f"prior {split_name}", unit="mask", disable=not progress):
        if isinstance(split, AnnotatedSplit):  # the masks are cached: no clip needs decoding
            yield split.store.load(sample_id)["motion_area"]
            continue
        mask = split.get(sample_id).motion_area
        if mask is None:
            raise InputNotFoundError(
                f"sample {sample_id!r} of split {split_name!r} has no ground-truth motion-area mask; annotate the split "
                f"with `hcvg masks build --split {split_name} --out DIR`, then pass --hands DIR"
            )
        yield mask

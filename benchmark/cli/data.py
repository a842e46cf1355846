"""`hcvg data prepare`: cut a real dataset's clips once into a local clip cache."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.cli.base import Subcommand

def dataset_names() -> list[str]:
    """The choices of ``--dataset``: the dataset registry's names (no loader is imported)."""
    from benchmark.datasets.registry import DATASETS

    return DATASETS.names()


def load_dataset_segments(args: argparse.Namespace):
    """The `SegmentSelection` of ``--dataset`` / ``--split``, from the dataset registry.

    Only the options given on the command line are passed (each loader has its own
    defaults); one a dataset does not take is an error naming the ones it does.
    """
    from benchmark.datasets.registry import DATASETS

    given = {
        "root": args.root, "split": args.split, "annotations": args.annotations, "lego_split": args.lego_split,
        "test_fraction": args.test_fraction, "source": args.source, "split_method": args.split_method,
    }  # fmt: skip
    return DATASETS.create(args.dataset, **{k: v for k, v in given.items() if v is not None})


def keep_videos(segments: list, description: dict, videos: str | None) -> list:
    """Keep only the segments of the comma-separated video ids (a partial download)."""
    if not videos:
        return segments
    wanted = {v.strip() for v in videos.split(",") if v.strip()}
    description["videos"] = sorted(wanted)
    return [s for s in segments if s.video_id in wanted]


class DataCommand(Subcommand):
    name = "data"
    help = "Prepare real datasets (EPIC-KITCHENS-100, Ego4D) into a local clip cache."
    description = """Decode each action segment's 16 frames once (seeking, never decoding whole videos),
resize and center-crop them to 256², and store them losslessly with a parquet index.
Runs then read the cache through the registered splits, e.g. `--splits ek100-test:cache=CACHE`.
Preparation is resumable: run the same command again to continue or to retry skipped
samples. Bad samples (missing or corrupt video, segment past the video's end, segment
shorter than 16 frames) are skipped and listed in CACHE/report.jsonl with the reason."""
    epilog = """examples:
  hcvg data prepare --dataset ek100 --root /data/EPIC-KITCHENS --annotations epic-kitchens-100-annotations \\
      --split validation --out cache/ek100-test --workers 8
  hcvg data prepare --dataset ek100 --root R --split validation --out C --sampling end-8fps   # HANDI's released code
  hcvg data prepare --dataset ego4d --root /data/ego4d --annotations fho_main.json --split test --out cache/ego4d-test
  hcvg data prepare --dataset ego4d --root R --lego-split ego4d_val.json --split test --out C  # LEGO's split
  hcvg run --adapters static --splits ek100-test:cache=cache/ek100-test --out runs/ek"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(title="actions", dest="data_action", metavar="ACTION", required=True)
        prepare = actions.add_parser(
            "prepare", help="write a split's clips into a clip cache", description=self.description,
            epilog=self.epilog, formatter_class=argparse.RawDescriptionHelpFormatter,
        )  # fmt: skip
        prepare.add_argument("--dataset", required=True, choices=dataset_names(), help="which dataset")
        prepare.add_argument("--root", type=Path, required=True, help="dataset root in the official layout")
        prepare.add_argument("--annotations", type=Path, default=None, help="annotation folder (EK CSVs) or file (Ego4D FHO JSON)")
        prepare.add_argument("--split", default="validation", help="ek100: train | validation (= test); ego4d: train | test")
        prepare.add_argument("--out", type=Path, required=True, help="cache directory")
        prepare.add_argument("--sampling", default="even", choices=["even", "end-8fps"], help="even: paper §4 (default); end-8fps: HANDI's code")
        prepare.add_argument("--size", type=int, default=256, help="output side after resize + center crop (default: 256)")
        prepare.add_argument("--allow-repeats", action="store_true", help="keep segments under 16 frames by repeating frames")
        prepare.add_argument("--source", default=None, help="ek100: auto (default) | videos | rgb_frames: read videos or extracted frames")
        prepare.add_argument("--lego-split", type=Path, default=None, help="a LEGO split JSON selecting the samples")
        prepare.add_argument("--split-method", default=None, help="ek100 without LEGO file: official (default) CSVs, or hash split")
        prepare.add_argument("--test-fraction", type=float, default=None, help="hash split: share of videos on the test side (default: 0.1)")
        prepare.add_argument("--workers", type=int, default=None, help="worker processes (default: CPU count, at most 8)")
        prepare.add_argument("--videos", default=None, help="only these video / clip ids, comma-separated (a partial download)")
        prepare.add_argument("--limit", type=int, default=None, help="only the split's first N samples")
        prepare.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def run(self, args: argparse.Namespace) -> int:
        from benchmark.datasets.clip_cache import ClipSpec, prepare_cache

        selection = load_dataset_segments(args)
        description, side = selection.description, selection.side
        segments = keep_videos(selection.segments, description, args.videos)
        spec = ClipSpec(sampling=args.sampling, size=args.size, allow_repeats=args.allow_repeats)
        result = prepare_cache(
            segments, args.out, side, spec, description, workers=args.workers, limit=args.limit, progress=not args.no_progress
        )
        print(f"Clip cache: {result.root} ({args.dataset}, {side} side, sampling {spec.sampling})")
        print(f"  prepared now: {result.prepared} ({result.clips_per_second:.1f} clips/s); already there: {result.reused}")
        if result.skipped:
            reasons: dict[str, int] = {}
            for entry in result.skipped:
                reasons[entry["reason"]] = reasons.get(entry["reason"], 0) + 1
            print(f"  skipped: {len(result.skipped)} {reasons}; see {result.root / 'report.jsonl'}")
            for entry in result.skipped[:5]:
                print(f"    - {entry['sample_id']}: {entry['error']}")
        name = f"{args.dataset}-{side}"
        print(f"Use it with: hcvg run --splits {name}:cache={result.root} ...")
        return 0

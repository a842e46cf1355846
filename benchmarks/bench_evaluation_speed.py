"""Time the evaluation suite per clip: each backbone and the whole suite, reference vs fast paths.

Runs `benchmark.speed.evaluation.measure` and prints one line per row (seconds per clip,
clips per second, the speed-up over the reference path, FLOPs and the fraction of the
device's peak), then writes every row as JSON (``--json``). On CPU the ratios are what
to read; on a GPU (``--device cuda --size full``), the absolute times.

Usage::

    python benchmarks/bench_evaluation_speed.py [--size reduced] [--device cpu] [--repeats 1]
        [--only clip hands suite] [--hand-workers 2] [--json evaluation_speed.json]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch

from benchmark.speed.evaluation import BACKBONES, SIZES, measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=SIZES, default="reduced")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=1, help="timed calls per variant after a warm-up")
    parser.add_argument("--only", nargs="*", choices=BACKBONES, default=None)
    parser.add_argument("--hand-workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # each backbone's rows as they are measured

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, size {args.size}")
    rows = measure(args.size, args.device, args.repeats, only=args.only, hand_workers=args.hand_workers)
    for row in rows:
        flops = f"{row['flops_per_clip'] / 1e9:10.2f} GFLOP" if row["flops_per_clip"] else " " * 15
        peak = f"{row['peak_flops_fraction']:6.1%} of peak" if row["peak_flops_fraction"] is not None else ""
        memory = f"{row['peak_memory_bytes'] / 2**20:8.1f} MiB" if row["peak_memory_bytes"] is not None else " " * 12
        print(f"{row['name']:11s} {row['variant']:26s} {row['seconds_per_clip']:9.3f} s/clip {row['clips_per_second']:8.2f} clips/s "
              f"x{row['ratio_vs_reference']:5.2f}  {memory} {flops} {peak}", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
        print(f"wrote {len(rows)} rows to {args.json}")


if __name__ == "__main__":
    main()

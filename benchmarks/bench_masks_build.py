"""Throughput of `hcvg masks build` (frames per second) on this machine.

Usage: python benchmarks/bench_masks_build.py [--num-samples 24] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmark.hand_annotations import build_annotations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num-samples", type=int, default=24)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp:
            report = build_annotations("demo", {"num_samples": args.num_samples}, Path(tmp), workers=workers, progress=False)
        print(
            f"workers={workers}: {report.frames} frames in {report.seconds:.1f} s = {report.frames_per_second:.1f} frames/s "
            f"(includes worker start-up and demo clip generation)"
        )


if __name__ == "__main__":
    main()

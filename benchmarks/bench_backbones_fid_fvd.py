"""Time the FID and FVD extractors per 15-frame 256² clip.

Full-size architectures with random weights (no download): pytorch-fid's Inception-v3
(pool3, per frame) in clean-fid's ``legacy_pytorch`` and ``clean`` resize modes, and
I3D (Kinetics-400 logits, per clip). Random weights give the real compute. Also times
the Fréchet distance itself at FID's 2048 and FVD's 400 dimensions, since scipy's
``sqrtm`` of a 2048² matrix is not free.

Usage::

    python benchmarks/bench_backbones_fid_fvd.py [--device cpu] [--clips 2] [--repeats 2] [--no-distance]
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np
import torch

FRAMES, SIZE = 15, 256


def extractors(device: str, batch: int) -> dict[str, Callable[[list[np.ndarray]], object]]:
    from metrics.features.i3d import I3DLogitsExtractor
    from metrics.features.inception import InceptionPool3Extractor

    legacy = InceptionPool3Extractor.from_config(mode="legacy_pytorch", device=device, batch_size=batch * FRAMES)
    clean = InceptionPool3Extractor.from_config(mode="clean", device=device, batch_size=batch * FRAMES)
    i3d = I3DLogitsExtractor.from_config(device=device, batch_size=batch)
    return {
        "inception-pool3 legacy_pytorch (15 frames)": legacy.extract,
        "inception-pool3 clean (15 frames)": clean.extract,
        "i3d-logits (15-frame clip)": i3d.extract,
    }


def time_call(fn: Callable[[], object], repeats: int, device: str, warmup: bool = True) -> float:
    """Best of ``repeats`` wall-clock seconds, after one warm-up call."""
    if warmup:
        fn()
    best = float("inf")
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--clips", type=int, default=2, help="clips per extract() call")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-distance", action="store_true", help="skip timing the Fréchet distance")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (FRAMES, SIZE, SIZE, 3), dtype=np.uint8) for _ in range(args.clips)]
    print(f"device={args.device} torch={torch.__version__} threads={torch.get_num_threads()} "
          f"clips={args.clips}x{FRAMES}x{SIZE}x{SIZE}")
    with torch.inference_mode():
        for name, extract in extractors(args.device, args.clips).items():
            seconds = time_call(lambda: extract(clips), args.repeats, args.device)
            print(f"{name:45s} {seconds / args.clips:8.3f} s/clip  {args.clips / seconds:8.3f} clips/s")

    if not args.no_distance:
        from metrics.frechet import frechet_distance_from_features

        for dim, n in ((400, 512), (2048, 2 * 1024)):
            a, b = rng.normal(size=(n, dim)), rng.normal(size=(n, dim)) + 0.1
            seconds = time_call(lambda: frechet_distance_from_features(a, b), 1, "cpu", warmup=False)
            print(f"{f'frechet distance, D={dim}, N={n}':45s} {seconds:8.3f} s")


if __name__ == "__main__":
    main()

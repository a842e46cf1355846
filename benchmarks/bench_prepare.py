"""Measure `hcvg data prepare`: clips per second and cache size per 1,000 samples.

Builds EK-100-like source videos on the fly from real egocentric frames (the EPIC-
KITCHENS frames and HANDI images in ``../shared/data/hands``, panned and zoomed so that
consecutive frames differ as under a moving head camera), encoded as H.264 at the
chosen resolution and 59.94 fps, then prepares segments whose lengths are drawn from
the real ``EPIC_100_validation.csv``. Flat or synthetic-noise frames would compress
unrealistically well (flat) or badly (noise); real frames give a fair size.

    python benchmarks/bench_prepare.py                       # 1920x1080, 40 clips
    python benchmarks/bench_prepare.py --resolution 456x256 --clips 200 --workers 1 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.datasets.clip_cache import ClipSpec, prepare_cache  # noqa: E402
from benchmark.datasets.segments import Segment  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FPS = 60000 / 1001


def real_frames() -> list[np.ndarray]:
    """Real egocentric RGB frames: EPIC-KITCHENS P01_01 frames and HANDI context images."""
    paths = sorted((SHARED / "hands" / "videos" / "epic_P01_01_frames").glob("*.jpg"))
    paths += sorted((SHARED / "hands" / "images").glob("handi_*.png"))
    frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
    if not frames:
        raise SystemExit(f"no real frames found under {SHARED / 'hands'}; this benchmark needs ../shared/data")
    return frames


def camera_motion(photos: list[np.ndarray], num_frames: int, size: tuple[int, int], seed: int) -> Iterator[np.ndarray]:
    """Yields ``num_frames`` uint8 ``[H, W, 3]``: a slow pan / zoom over one photo, changing photo every 2 s."""
    rng = np.random.default_rng(seed)
    width, height = size
    # Sensor noise, as in real footage: a few fixed fields, cycled (drawing fresh noise
    # for every 1080p frame would dominate the set-up time).
    noises = [rng.normal(0, 2.0, (height, width, 3)).astype(np.float32) for _ in range(4)]
    for t in range(num_frames):
        photo = photos[(t // 120 + seed) % len(photos)]
        ph, pw = photo.shape[:2]
        phase = (t % 120) / 120
        zoom = 0.8 + 0.1 * np.sin(2 * np.pi * phase)
        ch, cw = int(ph * zoom), int(min(pw, ph * zoom * width / height))
        y = int((ph - ch) * (0.5 + 0.4 * np.sin(2 * np.pi * phase + seed)))
        x = int((pw - cw) * (0.5 + 0.4 * np.cos(2 * np.pi * phase)))
        frame = cv2.resize(photo[y : y + ch, x : x + cw], (width, height), interpolation=cv2.INTER_CUBIC)
        yield np.clip(frame + noises[t % len(noises)], 0, 255).astype(np.uint8)


def build_sources(root: Path, videos: int, seconds: float, size: tuple[int, int]) -> list[Path]:
    photos = real_frames()
    paths = []
    for v in range(videos):
        frames = camera_motion(photos, int(seconds * FPS), size, seed=v)
        path = root / "P90" / "videos" / f"P90_{v:02d}.MP4"
        _encode(path, frames, size)
        paths.append(path)
    return paths


def _encode(path: Path, frames: Iterator[np.ndarray], size: tuple[int, int]) -> None:
    import av
    from fractions import Fraction

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(60000, 1001), options={"crf": "20", "preset": "veryfast", "g": "30"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def segments_like_ek(sources: list[Path], num_frames: int, clips: int, seed: int = 0) -> list[Segment]:
    """Segments with lengths drawn from the real EK validation set, inside the sources."""
    lengths = pd.read_csv(SHARED / "epic-kitchens-100-annotations" / "EPIC_100_validation.csv", usecols=["start_frame", "stop_frame"])
    lengths = (lengths["stop_frame"] - lengths["start_frame"] + 1).to_numpy()
    lengths = lengths[lengths < num_frames - 2]
    rng = np.random.default_rng(seed)
    segments = []
    for i in range(clips):
        length = int(rng.choice(lengths))
        start = int(rng.integers(1, num_frames - length))
        source = sources[i % len(sources)]
        segments.append(
            Segment(f"bench_{i:05d}", "ek100", "take plate", source.stem, start, start + length - 1, str(source), "video", 1, FPS, "P90")
        )
    return segments


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", default="1920x1080", help="source video size (EK: 1920x1080)")
    parser.add_argument("--videos", type=int, default=2, help="source videos")
    parser.add_argument("--seconds", type=float, default=12.0, help="length of each source video")
    parser.add_argument("--clips", type=int, default=40, help="segments to prepare")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 0], help="worker counts to time (0 = CPU count)")
    parser.add_argument("--sampling", default="even", choices=["even", "end-8fps"])
    args = parser.parse_args()
    size = tuple(int(v) for v in args.resolution.split("x"))
    import os

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        sources = build_sources(tmp / "src", args.videos, args.seconds, size)
        print(f"sources: {args.videos} × {args.seconds:.0f} s at {args.resolution}, 59.94 fps, H.264 "
              f"({sum(p.stat().st_size for p in sources) / 1e6:.1f} MB, built in {time.perf_counter() - started:.0f} s)")
        segments = segments_like_ek(sources, int(args.seconds * FPS), args.clips)
        mean_len = np.mean([s.stop_frame - s.start_frame + 1 for s in segments])
        print(f"segments: {len(segments)}, mean length {mean_len:.0f} frames ({mean_len / FPS:.2f} s), sampling {args.sampling}")
        print(f"machine: {os.cpu_count()} CPUs")
        for workers in args.workers:
            workers = workers or (os.cpu_count() or 1)
            out = tmp / f"cache-{workers}"
            result = prepare_cache(segments, out, "test", ClipSpec(sampling=args.sampling), workers=workers, progress=False)
            clip_bytes = sum(p.stat().st_size for p in (out / "clips").glob("*.mkv"))
            total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
            n = max(1, result.prepared)
            print(f"workers={workers}: {result.prepared} clips in {result.seconds:.1f} s = {result.clips_per_second:.2f} clips/s "
                  f"({len(result.skipped)} skipped)")
            print(f"  cache size: {total / n * 1000 / 1e9:.2f} GB per 1,000 samples "
                  f"(clips {clip_bytes / n / 1e6:.2f} MB each, index {(out / 'index.parquet').stat().st_size / 1e3:.1f} kB total)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

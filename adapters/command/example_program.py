"""An external program that follows the `command` adapter's file contract, as an example.

Run as ``python example_program.py --manifest MANIFEST``: it reads the manifest (one
JSON object per line), and writes for each entry a video to ``entry["output"]``. It
uses only the standard library, numpy, Pillow and PyAV, as a baseline's own
environment would, and nothing of the suite. `CommandAdapter.for_tests()` runs it.

What it "generates" is deterministic given the entry: the context frame (or, for
text-to-video, a pattern drawn from the seed and prompt) sliding sideways by a step
that depends on the seed. ``--frames``, ``--height`` and ``--width`` make it write at
a native size and length of its own, as real models do (16 frames at 320x512, say);
the adapter fits them to the request.

Contract, in short (``docs/command-adapter.md`` has it all): every line's
``output`` should exist when the program exits 0; a video per sample id, at any size
and length the adapter's fitting accepts; write each file completely or not at all
(here: to a temporary name, then renamed), since a half-written file is a failure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import av
import numpy as np
from PIL import Image


def frames_for(entry: dict, frames: int | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
    """The video for one manifest entry.

    Args:
        entry: A manifest line, decoded.
        frames: Frames to write (default: the entry's ``num_frames``).
        size: (height, width) to write at (default: the entry's).

    Returns:
        uint8 ``[T, H, W, 3]`` RGB.
    """
    count = frames or entry["num_frames"]
    height, width = size or (entry["height"], entry["width"])
    if entry["context"] is not None:
        image = Image.open(entry["context"]).convert("RGB").resize((width, height), Image.BILINEAR)
        base = np.asarray(image)
    else:
        # Text-to-video: a pattern from the prompt and seed alone.
        digest = hashlib.sha256(f"{entry['seed']}:{entry['prompt']}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        base = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    step = 1 + entry["seed"] % 3
    return np.stack([np.roll(base, (t + 1) * step, axis=1) for t in range(count)])


def write_video(path: Path, frames: np.ndarray, fps: float = 8) -> None:
    """Write lossless FFV1 in Matroska, to a temporary name first, then rename into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    with av.open(str(tmp), mode="w", format="matroska") as container:
        stream = container.add_stream("ffv1", rate=int(round(fps)))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "bgr0"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, required=True, help="manifest.jsonl written by the command adapter")
    parser.add_argument("--frames", type=int, default=None, help="frames to write (default: each entry's num_frames)")
    parser.add_argument("--height", type=int, default=None, help="frame height to write (default: each entry's)")
    parser.add_argument("--width", type=int, default=None, help="frame width to write (default: each entry's)")
    args = parser.parse_args(argv)
    entries = [json.loads(line) for line in args.manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    size = (args.height, args.width) if args.height and args.width else None
    for entry in entries:
        write_video(Path(entry["output"]), frames_for(entry, args.frames, size), entry["fps"] or 8)
        print(f"wrote {entry['output']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Synthetic source videos for the dataset tests: every frame carries its frame number.

The number is written as a 4 × 3 grid of black / white blocks (12 bits, most
significant first) in the middle of the frame, which survives H.264, JPEG, the resize
and the center crop to 256², so a test can read back *which* source frames a clip holds.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

GRID_COLS, GRID_ROWS = 4, 3
BITS = GRID_COLS * GRID_ROWS


def _grid(width: int, height: int) -> tuple[int, int, int]:
    """(left, top, block side) of the stamp, inside the central square (kept by the crop)."""
    block = max(4, (min(width, height) * 4 // 5) // GRID_COLS)
    left = (width - GRID_COLS * block) // 2
    top = (height - GRID_ROWS * block) // 2
    return left, top, block


def stamp(frame: np.ndarray, number: int) -> np.ndarray:
    """Write ``number`` (< 4096) into uint8 ``[H, W, 3]`` ``frame`` in place."""
    height, width = frame.shape[:2]
    left, top, block = _grid(width, height)
    for bit in range(BITS):
        row, col = divmod(bit, GRID_COLS)
        on = (number >> (BITS - 1 - bit)) & 1
        y, x = top + row * block, left + col * block
        frame[y : y + block, x : x + block] = 235 if on else 20
    return frame


def read_stamp(frame: np.ndarray, source_size: tuple[int, int], out_size: int | None = None) -> int:
    """The number stamped on a source frame of ``source_size = (W, H)``.

    ``frame`` is the source frame itself, or (``out_size`` given) its resized and
    center-cropped version from `hcvg.frames.resize_center_crop`.
    """
    width, height = source_size
    left, top, block = _grid(width, height)
    scale, dx, dy = 1.0, 0.0, 0.0
    if out_size is not None:  # the geometry resize_center_crop applies
        scale = out_size / min(width, height)
        new_w, new_h = max(out_size, round(width * scale)), max(out_size, round(height * scale))
        dx, dy = (new_w - out_size) // 2, (new_h - out_size) // 2
    gray = frame.mean(axis=-1)
    number = 0
    for bit in range(BITS):
        row, col = divmod(bit, GRID_COLS)
        cx = (left + (col + 0.5) * block) * scale - dx
        cy = (top + (row + 0.5) * block) * scale - dy
        r = max(1, int(block * scale / 4))
        patch = gray[int(cy) - r : int(cy) + r, int(cx) - r : int(cx) + r]
        number = (number << 1) | int(patch.mean() > 128)
    return number


def background(width: int, height: int, number: int, texture: np.ndarray | None = None) -> np.ndarray:
    """A moving background: a slow pan over ``texture`` (a real photo) or a gradient."""
    if texture is None:
        x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
        y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
        frame = (0.5 * x + 0.3 * y + 3 * number) % 256 * np.ones((1, 1, 3), np.float32)
        return frame.astype(np.uint8)
    th, tw = texture.shape[:2]
    shift = (number * 2) % max(1, tw - width)
    crop = texture[:, shift : shift + int(tw * 0.8)]
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)


def write_numbered_video(
    path: Path,
    num_frames: int,
    size: tuple[int, int],
    fps: float,
    first_number: int = 1,
    keyframe_interval: int = 12,
    texture: np.ndarray | None = None,
    stamped: bool = True,
) -> Path:
    """Write an H.264 MP4 whose frame ``i`` (0-based) shows number ``first_number + i``.

    Args:
        path: Output file (e.g. ``ROOT/P01/videos/P01_11.MP4``).
        num_frames: Frames to write.
        size: ``(W, H)``, even.
        fps: Frame rate (59.94 is written as the exact 60000/1001).
        first_number: The dataset's number of the first frame (EK 1, Ego4D 0).
        keyframe_interval: Frames between keyframes (small, so reading seeks).
        texture: Optional uint8 ``[h, w, 3]`` RGB photo to pan over.
        stamped: Draw the frame-number grid.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    width, height = size
    with av.open(str(path), mode="w", format="mp4") as container:
        options = {
            "x264-params": f"keyint={keyframe_interval}:min-keyint={keyframe_interval}:scenecut=0",
            "crf": "18",
            "preset": "ultrafast" if texture is None else "medium",
        }
        stream = container.add_stream("libx264", rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(num_frames):
            frame = background(width, height, i, texture)
            if stamped:
                stamp(frame, first_number + i)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def write_numbered_frames(folder: Path, num_frames: int, size: tuple[int, int], first_number: int = 1) -> Path:
    """Write ``frame_{n:010d}.jpg`` for n = first_number .. first_number + num_frames - 1."""
    folder.mkdir(parents=True, exist_ok=True)
    width, height = size
    for i in range(num_frames):
        frame = stamp(background(width, height, i), first_number + i)
        cv2.imwrite(str(folder / f"frame_{first_number + i:010d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return folder


# Synthetic EK-100 sources for real validation-set segments with small frame numbers:
# video id -> (kind, frames). P01_11 covers P01_11_0 [1, 113] and P01_11_1 [93, 147];
# P04_24 covers P04_24_0 [22, 73] but ends inside P04_24_1 [42, 100]; P09_07 (29.97 fps)
# is extracted frames covering P09_07_0 [65, 116]; P28_21 is corrupt; P08_17 is absent.
EK_SOURCES = {"P01_11": ("video", 150), "P04_24": ("video", 95), "P09_07": ("frames", 130), "P28_21": ("corrupt", 0)}
EK_PREPARABLE = ("P01_11_0", "P01_11_1", "P04_24_0", "P09_07_0")
EK_SCALE = 10  # 1920x1080 -> 192x108


def ek_scaled_size(resolution: str) -> tuple[int, int]:
    """``"1920x1080"`` -> ``(192, 108)``: the synthetic videos are 10× smaller."""
    width, height = (int(v) for v in resolution.split("x"))
    return width // EK_SCALE // 2 * 2, height // EK_SCALE // 2 * 2


def build_ek_root(root: Path, video_info) -> Path:
    """Lay out `EK_SOURCES` as the official download does, at each video's real fps.

    Args:
        root: Dataset root to create.
        video_info: `benchmark.datasets.epic_kitchens.read_video_info` of the real CSV.
    """
    for video_id, (kind, frames) in EK_SOURCES.items():
        participant = video_id.split("_")[0]
        size = ek_scaled_size(video_info.at[video_id, "resolution"])
        if kind == "video":
            write_numbered_video(root / participant / "videos" / f"{video_id}.MP4", frames, size, float(video_info.at[video_id, "fps"]))
        elif kind == "frames":
            write_numbered_frames(root / participant / "rgb_frames" / video_id, frames, size)
        else:
            path = root / participant / "videos" / f"{video_id}.MP4"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)  # an MP4 header, then junk
    return root

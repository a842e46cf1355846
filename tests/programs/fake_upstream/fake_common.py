"""What the fake upstream scripts share: logging their argv, writing videos as upstream does."""

import json
import os
import sys

import av
import numpy as np
from PIL import Image


def log_argv():
    """Append this process's arguments to $FAKE_ARGV_LOG (JSON lines), for the test to compare."""
    with open(os.environ["FAKE_ARGV_LOG"], "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"cwd": os.getcwd(), "argv": sys.argv[1:]}) + "\n")


def image_frames(path, frames, size):
    """The image at ``path`` resized to (height, width), frame t rolled t pixels sideways: uint8 [T, H, W, 3].

    Frames differ, as Pillow's GIF writer merges identical ones; frame 0 is the image.
    """
    image = np.asarray(Image.open(path).convert("RGB").resize((size[1], size[0])))
    return np.stack([np.roll(image, t, axis=1) for t in range(frames)])


def text_frames(text, frames, size):
    """A flat colour drawn from the text."""
    colour = np.frombuffer(text.encode("utf-8").ljust(3, b"x")[:3], dtype=np.uint8)
    return np.broadcast_to(colour, (frames, *size, 3)).copy()


def write_mp4(path, frames, fps=8):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with av.open(path, mode="w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "10"})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def write_gif(path, frames):
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], loop=0)

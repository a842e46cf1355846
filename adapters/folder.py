"""`folder`: scores precomputed videos, one file per sample id, from any external model."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from hcvg.adapter import Adapter, Capabilities, GenerationRequest
from hcvg.frames import evenly_spaced_indices, resize_center_crop
from hcvg.video_io import VIDEO_SUFFIXES, read_video

FramePolicy = Literal["strict", "first", "last", "even"]


class FolderAdapter(Adapter):
    """Reads ``<root>/<sample_id>.<ext>`` (mkv, mp4, avi, webm, mov or gif).

    Args:
        root: Directory of videos named by sample id.
        frames: How to fit a video's frame count to L: "strict" (must be exactly L),
            "first" / "last" (the first / last L frames), "even" (L evenly spaced).
        resize: Resize + center-crop frames to the requested size. Off by default:
            the benchmark never guesses, so a wrong size is an error unless asked.
    """

    name: ClassVar[str] = "folder"
    capabilities: ClassVar[Capabilities] = Capabilities(max_batch_size=16)

    def __init__(self, root: Path, frames: FramePolicy = "strict", resize: bool = False):
        self.root = Path(root)
        if not self.root.is_dir():
            raise NotADirectoryError(f"folder adapter: root {self.root} is not a directory")
        if frames not in ("strict", "first", "last", "even"):
            raise ValueError(f"folder adapter: frames must be strict, first, last or even; got {frames!r}")
        self.frames = frames
        self.resize = resize

    def options(self) -> dict:
        return {"root": str(self.root.resolve()), "frames": self.frames, "resize": self.resize}

    def video_path(self, sample_id: str) -> Path:
        """The file holding ``sample_id``'s video.

        Raises:
            FileNotFoundError: If no file with a known video suffix exists.
        """
        for suffix in VIDEO_SUFFIXES:
            path = self.root / f"{sample_id}{suffix}"
            if path.is_file():
                return path
        raise FileNotFoundError(
            f"folder adapter: no video for sample {sample_id!r} in {self.root} "
            f"(looked for {sample_id}{{{','.join(VIDEO_SUFFIXES)}}})"
        )

    def generate(self, requests: list[GenerationRequest]) -> list[np.ndarray]:
        return [self._load(request) for request in requests]

    def _load(self, request: GenerationRequest) -> np.ndarray:
        path = self.video_path(request.sample_id)
        video = read_video(path)
        video = self._fit_frames(video, request.num_frames, path)
        if video.shape[1:3] != tuple(request.size):
            if not self.resize:
                raise ValueError(
                    f"{path}: frames are {video.shape[1]}x{video.shape[2]}, the benchmark needs "
                    f"{request.size[0]}x{request.size[1]}; resize them, or pass resize=true to this adapter"
                )
            if request.size[0] != request.size[1]:
                raise ValueError(f"{path}: resize=true supports square target sizes only, got {request.size}")
            video = resize_center_crop(video, request.size[0])
        return video

    def _fit_frames(self, video: np.ndarray, num_frames: int, path: Path) -> np.ndarray:
        count = video.shape[0]
        if count == num_frames:
            return video
        if self.frames == "strict" or count < num_frames:
            raise ValueError(
                f"{path}: has {count} frames, the benchmark needs {num_frames}"
                + ("; pass frames=first, last or even to this adapter to select them" if count > num_frames else "")
            )
        if self.frames == "first":
            return video[:num_frames]
        if self.frames == "last":
            return video[-num_frames:]
        return video[evenly_spaced_indices(0, count - 1, num_frames)]

"""`folder`: scores precomputed videos, one file per sample id, from any external model."""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from adapters.fitting import Fitting, FittingError, fit_video
from hcvg.adapter import Adapter, Capabilities, GenerationRequest
from hcvg.errors import InputNotFoundError, InvalidInputError, UserError
from hcvg.video_io import VIDEO_SUFFIXES, read_video, write_video_lossless

FramePolicy = Literal["strict", "first", "last", "even"]


class NotAFolderError(UserError, NotADirectoryError):
    """The adapter's ``root`` is missing or not a directory."""


class FolderAdapter(Adapter):
    """Reads ``<root>/<sample_id>.<ext>`` (mkv, mp4, avi, webm, mov or gif).

    Its options map onto the kit's fitting policies (`adapters.fitting.Fitting`):
    ``frames`` is the temporal policy, ``resize=true`` the spatial policy
    ``"center-crop"`` (``"strict"`` otherwise).

    Args:
        root: Directory of videos named by sample id.
        frames: How to fit a video's frame count to L: "strict" (must be exactly L),
            "first" / "last" (the first / last L frames), "even" (L evenly spaced).
        resize: Resize + center-crop frames to the requested size. Off by default:
            the benchmark never guesses, so a wrong size is an error unless asked.

    Raises:
        NotAFolderError: If ``root`` is not a directory.
        InvalidInputError: If ``frames`` is not one of the policies.
    """

    name: ClassVar[str] = "folder"
    capabilities: ClassVar[Capabilities] = Capabilities(max_batch_size=16)

    def __init__(self, root: Path, frames: FramePolicy = "strict", resize: bool = False):
        self.root = Path(root)
        if not self.root.is_dir():
            raise NotAFolderError(f"folder adapter: root {self.root} is not a directory; pass root=DIR holding one video per sample id")
        if frames not in ("strict", "first", "last", "even"):
            raise InvalidInputError(f"folder adapter: frames must be strict, first, last or even; got {frames!r}")
        self.frames = frames
        self.resize = resize
        # Stored clips are the model's output already: nothing to drop.
        self._fitting = Fitting(spatial="center-crop" if self.resize else "strict", temporal=frames)

    @classmethod
    def for_tests(cls) -> "FolderAdapter":
        """A folder over a temporary directory holding the conformance samples' targets.

        The samples are `adapters.testing.conformance_samples()`, the ones
        `check_adapter` uses by default; the directory is removed with the adapter.
        """
        from adapters.testing import conformance_samples

        root = Path(tempfile.mkdtemp(prefix="hcvg-folder-"))
        for sample in conformance_samples():
            write_video_lossless(root / f"{sample.id}.mkv", sample.target)
        adapter = cls(root)
        weakref.finalize(adapter, shutil.rmtree, root, ignore_errors=True)
        return adapter

    def options(self) -> dict:
        return {"root": str(self.root.resolve()), "frames": self.frames, "resize": self.resize}

    def fitting(self) -> dict:
        return self._fitting.describe()

    def video_path(self, sample_id: str) -> Path:
        """The file holding ``sample_id``'s video.

        Raises:
            InputNotFoundError: If no file with a known video suffix exists.
        """
        for suffix in VIDEO_SUFFIXES:
            path = self.root / f"{sample_id}{suffix}"
            if path.is_file():
                return path
        raise InputNotFoundError(
            f"folder adapter: no video for sample {sample_id!r} in {self.root} "
            f"(looked for {sample_id}{{{','.join(VIDEO_SUFFIXES)}}})"
        )

    def generate(self, requests: list[GenerationRequest]) -> list[np.ndarray]:
        return [self._load(request) for request in requests]

    def _load(self, request: GenerationRequest) -> np.ndarray:
        path = self.video_path(request.sample_id)
        video = read_video(path)
        try:
            return fit_video(video, request, self._fitting, source=str(path))
        except FittingError as err:
            raise FittingError(f"{err}{self._hint(err)}", err.axis, err.native, err.requested) from err

    def _hint(self, err: FittingError) -> str:
        """Which of this adapter's options would have fitted the video, if one would."""
        if err.axis == "frames" and err.native > err.requested:  # only "strict" refuses a longer clip
            return "; pass frames=first, last or even to this adapter to select them"
        if err.axis == "size" and not self.resize:
            return "; resize them, or pass resize=true to this adapter"
        return ""

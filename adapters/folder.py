"""`folder`: scores precomputed videos, one file per sample id, from any external model.

The inputs for such a model come from `hcvg export inputs` (`benchmark.export`): its
manifest names, per sample, the file this adapter reads (``<id>.mkv``). A file is
refused, with the reason in ``failures.jsonl``, when it is empty, corrupt, truncated,
grayscale (``color=require``, the default), transparent, or one of two files for the
same id.

Frames that are not 8-bit RGB are converted explicitly, and each conversion is a note
in the run config (``adapters.<label>.conversions``, per sample id): an opaque alpha
channel is dropped (exact); a deeper format (10, 12 or 16 bits: ``rgb48le``,
``gray16le``, ``yuv420p10le``) is decoded at 16 bits and rounded to 8 (``round(v · 255 /
65535)``; FFmpeg's own rgb24 would truncate). An alpha channel that is not opaque
everywhere is refused: what to composite it over is not for the benchmark to guess.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from adapters.fitting import Fitting, FittingError, fit_video
from hcvg.adapter import Adapter, Capabilities, GenerationRequest
from hcvg.errors import InputNotFoundError, InvalidInputError, UserError
from hcvg.video_io import VIDEO_SUFFIXES, probe_video, read_video, write_video_lossless

logger = logging.getLogger(__name__)

FramePolicy = Literal["strict", "first", "last", "even"]
ColorPolicy = Literal["require", "allow"]


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
        color: "require" (default) refuses a grayscale video — a single-channel stream
            (pix_fmt gray, gray16le, ya8, ...) or frames that are all grey (R = G = B) —
            for a sample whose context frame is in colour, since scoring it against
            colour ground truth measures the missing colour, not the model (PSNR 18
            instead of 37). "allow" scores it, its channel repeated as RGB.

    Raises:
        NotAFolderError: If ``root`` is not a directory.
        InvalidInputError: If ``frames`` or ``color`` is not one of the policies.
    """

    name: ClassVar[str] = "folder"
    capabilities: ClassVar[Capabilities] = Capabilities(max_batch_size=16)

    def __init__(self, root: Path, frames: FramePolicy = "strict", resize: bool = False, color: ColorPolicy = "require"):
        self.root = Path(root)
        if not self.root.is_dir():
            raise NotAFolderError(f"folder adapter: root {self.root} is not a directory; pass root=DIR holding one video per sample id")
        if frames not in ("strict", "first", "last", "even"):
            raise InvalidInputError(f"folder adapter: frames must be strict, first, last or even; got {frames!r}")
        if color not in ("require", "allow"):
            raise InvalidInputError(f"folder adapter: color must be require or allow; got {color!r}")
        self.frames = frames
        self.resize = resize
        self.color = color
        # Stored clips are the model's output already: nothing to drop.
        self._fitting = Fitting(spatial="center-crop" if self.resize else "strict", temporal=frames)
        self.conversions: dict[str, str] = {}  # sample id -> how its frames were made 8-bit RGB

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
        return {"root": str(self.root.resolve()), "frames": self.frames, "resize": self.resize, "color": self.color}

    def fitting(self) -> dict:
        return self._fitting.describe()

    def describe(self) -> dict:
        """The base description plus ``conversions``: the samples whose frames were converted, and how."""
        return {**super().describe(), "conversions": dict(sorted(self.conversions.items()))}

    def video_path(self, sample_id: str) -> Path:
        """The file holding ``sample_id``'s video.

        Raises:
            InputNotFoundError: If no file with a known video suffix exists.
            InvalidInputError: If more than one does: which one the model meant is not
                for the benchmark to guess.
        """
        found = [path for path in (self.root / f"{sample_id}{suffix}" for suffix in VIDEO_SUFFIXES) if path.is_file()]
        if len(found) > 1:
            raise InvalidInputError(
                f"folder adapter: sample {sample_id!r} has {len(found)} videos in {self.root}: "
                f"{', '.join(path.name for path in found)}; keep one"
            )
        if found:
            return found[0]
        raise InputNotFoundError(
            f"folder adapter: no video for sample {sample_id!r} in {self.root} "
            f"(looked for {sample_id}{{{','.join(VIDEO_SUFFIXES)}}})"
        )

    def generate(self, requests: list[GenerationRequest]) -> list[np.ndarray]:
        return [self._load(request) for request in requests]

    def _load(self, request: GenerationRequest) -> np.ndarray:
        path = self.video_path(request.sample_id)
        video = self._read_rgb(path, request.sample_id)
        if self.color == "require":
            self._check_color(path, video, request)
        try:
            return fit_video(video, request, self._fitting, source=str(path))
        except FittingError as err:
            raise FittingError(f"{err}{self._hint(err)}", err.axis, err.native, err.requested) from err

    def _read_rgb(self, path: Path, sample_id: str) -> np.ndarray:
        """Decode ``path`` to uint8 RGB ``[T, H, W, 3]``, converting alpha and deep formats explicitly.

        Raises:
            VideoReadError: If the file is missing, empty, corrupt or truncated.
            InvalidInputError: If its alpha channel is not opaque everywhere.
        """
        info = probe_video(path)
        notes = []
        if info.alpha:
            rgba = read_video(path, pixel_format="rgba")
            transparent = int((rgba[..., 3] != 255).sum())
            if transparent:
                raise InvalidInputError(
                    f"{path}: {transparent} pixels are not opaque (pix_fmt {info.pix_fmt}, alpha below 255); "
                    "the benchmark scores RGB frames and will not guess a background: composite the frames yourself, "
                    "or write them without alpha"
                )
            video = rgba[..., :3]
            notes.append(f"{info.pix_fmt}: opaque alpha channel dropped")
        elif info.bits > 8:
            video = _round_to_uint8(read_video(path, pixel_format="rgb48le"))
            notes.append(f"{info.pix_fmt}: {info.bits}-bit frames rounded to 8 bits (round(v * 255 / 65535))")
        else:
            video = read_video(path)
        if notes:
            self.conversions[sample_id] = "; ".join(notes)
            logger.info("folder adapter: %s: %s", path, self.conversions[sample_id])
        return np.ascontiguousarray(video)

    def _hint(self, err: FittingError) -> str:
        """Which of this adapter's options would have fitted the video, if one would."""
        if err.axis == "frames" and err.native > err.requested:  # only "strict" refuses a longer clip
            return "; pass frames=first, last or even to this adapter to select them"
        if err.axis == "size" and not self.resize:
            return "; resize them, or pass resize=true to this adapter"
        return ""

    def _check_color(self, path: Path, video: np.ndarray, request: GenerationRequest) -> None:
        """Refuse a grayscale video (``color=require``); the message says how it was told apart.

        Args:
            path: The file ``video`` was decoded from.
            video: uint8 ``[T, H, W, 3]`` as decoded.
            request: Its request; its context frame, when present, tells whether the
                sample is in colour at all (a grey dataset's clips are grey by right).
        """
        context = request.context
        if context is None or _all_grey(context):
            return  # a grey sample's clip is grey by right: nothing says colour is missing
        info = probe_video(path)
        if info.grayscale:
            raise InvalidInputError(
                f"{path}: the video stream is grayscale (pix_fmt {info.pix_fmt}, one channel) while the sample's "
                "context frame is in colour; write RGB frames, or pass color=allow to this adapter to score it anyway"
            )
        if _all_grey(video):
            raise InvalidInputError(
                f"{path}: every frame is grey (R = G = B, stored as {info.pix_fmt}) while the sample's context frame is in colour; "
                "write the model's colour frames, or pass color=allow to this adapter to score it anyway"
            )


def _round_to_uint8(frames: np.ndarray) -> np.ndarray:
    """uint16 frames (full range 0..65535) to uint8, rounded to nearest: ``round(v · 255 / 65535)``."""
    return ((frames.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _all_grey(frames: np.ndarray) -> bool:
    """True if every pixel of uint8 ``[..., 3]`` RGB ``frames`` has R = G = B."""
    return bool(np.array_equal(frames[..., 0], frames[..., 1]) and np.array_equal(frames[..., 1], frames[..., 2]))

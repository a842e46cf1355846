"""The adapter contract: what a model is given and what it must return."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True)
class Capabilities:
    """What an adapter needs and produces, declared as data (cf. timm's PretrainedCfg).

    Attributes:
        needs_image: The model conditions on the context frame.
        needs_mask: The model needs the ground-truth motion-area mask (an oracle-mask input).
        needs_ground_truth: The model reads the target clip (only the `oracle` bound may).
        native_size: (H, W) the model generates at before resizing; None = any.
        native_frames: Frames the model generates natively; None = any.
        max_batch_size: Largest batch `generate` accepts.
        deterministic: Same requests and seeds give the same videos.
    """

    needs_image: bool = True
    needs_mask: bool = False
    needs_ground_truth: bool = False
    native_size: tuple[int, int] | None = None
    native_frames: int | None = None
    max_batch_size: int = 8
    deterministic: bool = True


@dataclass(frozen=True, eq=False)
class GenerationRequest:
    """One video to generate.

    Attributes:
        sample_id: Id of the benchmark sample (for messages and file names).
        prompt: Action text.
        context: uint8 ``[H, W, 3]`` RGB context frame.
        num_frames: L, frames to return (not counting the context).
        size: (H, W) of the frames to return.
        seed: Random seed; generation must be deterministic given it.
        expanded_prompt: Enriched description, if the split has one.
        motion_area: bool ``[H, W]`` GT motion-area mask, only if `needs_mask`.
        target: uint8 ``[L, H, W, 3]`` GT clip, only if `needs_ground_truth`.
    """

    sample_id: str
    prompt: str
    context: np.ndarray
    num_frames: int
    size: tuple[int, int]
    seed: int = 0
    expanded_prompt: str | None = None
    motion_area: np.ndarray | None = None
    target: np.ndarray | None = None


class Adapter(abc.ABC):
    """A video-generation model as the benchmark sees it.

    Subclasses set `capabilities` and implement `generate`. Constructor keyword
    arguments are the adapter's options (given on the CLI as ``NAME:key=value``).
    """

    name: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities] = Capabilities()

    @abc.abstractmethod
    def generate(self, requests: list[GenerationRequest]) -> list[np.ndarray]:
        """Generate one video per request, in order.

        Args:
            requests: At most ``capabilities.max_batch_size`` requests.

        Returns:
            One uint8 ``[L, H, W, 3]`` RGB array per request, with ``L = num_frames`` and
            ``(H, W) = size`` of that request: the adapter resizes its native output;
            the benchmark never guesses.

        Raises:
            Exception: Any error fails the whole batch; the runner then retries the
                requests one by one so that one bad sample does not sink the others.
        """

    def describe(self) -> dict:
        """Options and capabilities, written into the run config."""
        return {"name": self.name, "class": f"{type(self).__module__}.{type(self).__qualname__}"}


class AdapterOutputError(ValueError):
    """An adapter returned something that is not a valid clip for the request."""


def validate_video(video: Any, request: GenerationRequest, adapter: str) -> np.ndarray:
    """Check an adapter's output against the request.

    Raises:
        AdapterOutputError: Naming the sample and adapter, on a wrong type, dtype,
            shape, or NaN values.
    """
    where = f"adapter {adapter!r}, sample {request.sample_id!r}"
    if not isinstance(video, np.ndarray):
        raise AdapterOutputError(f"{where}: returned {type(video).__name__}, expected a numpy uint8 array")
    if video.dtype != np.uint8:
        if np.issubdtype(video.dtype, np.floating) and np.isnan(video).any():
            raise AdapterOutputError(f"{where}: output contains NaN")
        raise AdapterOutputError(f"{where}: returned dtype {video.dtype}, expected uint8 in [0, 255]")
    expected = (request.num_frames, *request.size, 3)
    if video.shape != expected:
        raise AdapterOutputError(f"{where}: returned shape {video.shape}, expected [L,H,W,3] = {expected}")
    return video

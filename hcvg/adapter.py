"""The adapter contract: what a model is given, what it must return, and its lifecycle.

A third-party model needs only this module: subclass `Adapter`, declare `capabilities`
(what it reads) and `native` (how it generates before fitting to the benchmark), and
implement `generate`. The runner calls `load()` before an adapter's first batch and
`close()` after its last, so one model occupies the device at a time.
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from pathlib import Path

    from hcvg.sample import Sample


@dataclass(frozen=True)
class Capabilities:
    """What an adapter needs and produces, declared as data (cf. timm's PretrainedCfg).

    The runner reads every field: requests carry the context frame only if
    ``needs_image`` (text-to-video models get ``context=None``), the motion area only if
    ``needs_mask``, the ground truth only if ``needs_ground_truth``; batches are at most
    ``max_batch_size``.

    Attributes:
        needs_image: The model conditions on the context frame.
        needs_mask: The model needs the ground-truth motion-area mask (an oracle-mask input).
        needs_ground_truth: The model reads the target clip (only the `oracle` bound may).
        max_batch_size: Largest batch `generate` accepts.
        deterministic: Same requests and seeds give the same videos.
    """

    needs_image: bool = True
    needs_mask: bool = False
    needs_ground_truth: bool = False
    max_batch_size: int = 8
    deterministic: bool = True


@dataclass(frozen=True)
class NativeSettings:
    """How a model generates before its output is fitted to the benchmark (256², L = 15).

    Written into the run config with the mapping the adapter applies, so a table can
    say "CogVideoX ran at 720×480, 49 frames, resampled to 15".

    Attributes:
        size: (H, W) the model generates at; None = the requested size.
        frames: Frames it generates (counting any it returns for the context); None = L.
        fps: Frame rate it was trained for, if it conditions on one.
        steps: Default sampling steps.
        guidance: Default classifier-free guidance scale; None if it uses none.
    """

    size: tuple[int, int] | None = None
    frames: int | None = None
    fps: float | None = None
    steps: int | None = None
    guidance: float | None = None


@dataclass(frozen=True, eq=False)
class GenerationRequest:
    """One video to generate.

    Attributes:
        sample_id: Id of the benchmark sample (for messages and file names).
        prompt: Action text.
        context: uint8 ``[H, W, 3]`` RGB context frame; None for an adapter that does
            not declare `needs_image` (text-to-video).
        num_frames: L, frames to return (not counting the context).
        size: (H, W) of the frames to return.
        seed: Random seed; generation must be deterministic given it.
        expanded_prompt: Enriched description, if the split has one.
        motion_area: bool ``[H, W]`` GT motion-area mask, only if `needs_mask`.
        target: uint8 ``[L, H, W, 3]`` GT clip, only if `needs_ground_truth`.
    """

    sample_id: str
    prompt: str
    context: np.ndarray | None
    num_frames: int
    size: tuple[int, int]
    seed: int = 0
    expanded_prompt: str | None = None
    motion_area: np.ndarray | None = None
    target: np.ndarray | None = None


def make_request(sample: "Sample", capabilities: Capabilities, seed: int = 0, num_frames: int | None = None) -> GenerationRequest:
    """The one sample → request mapping: a request carries exactly what the adapter may read.

    Args:
        sample: The benchmark sample.
        capabilities: The adapter's declared capabilities.
        seed: Generation seed.
        num_frames: L to ask for (default: the sample's target length).
    """
    return GenerationRequest(
        sample_id=sample.id,
        prompt=sample.prompt,
        context=sample.context if capabilities.needs_image else None,
        num_frames=num_frames or sample.num_frames,
        size=sample.size,
        seed=seed,
        expanded_prompt=sample.expanded_prompt,
        motion_area=sample.motion_area if capabilities.needs_mask else None,
        target=sample.target if capabilities.needs_ground_truth else None,
    )


class Adapter(abc.ABC):
    """A video-generation model as the benchmark sees it.

    Subclasses set `capabilities` (and `native` for a generative model) and implement
    `generate`. Constructor keyword arguments are the adapter's options (given on the
    CLI as ``NAME:key=value`` or in a matrix file); they are coerced to the types the
    constructor's annotations declare before the adapter is built.

    Lifecycle: the runner calls `load` once before the adapter's first `generate` and
    `close` after its last, before the metric backbones take the device. Build cheap
    state in ``__init__`` and put weights on the device in `load`.
    """

    name: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities] = Capabilities()
    native: ClassVar[NativeSettings | None] = None

    def load(self) -> None:
        """Load weights onto the device (default: nothing to load)."""

    def close(self) -> None:
        """Release the device (default: nothing to release)."""

    @classmethod
    def for_tests(cls) -> "Adapter":
        """A small instance for the conformance tests, never downloading.

        The default builds the adapter with no options; adapters that need options
        (a folder, a tiny config) override this.
        """
        return cls()

    @classmethod
    def required_assets(cls) -> tuple[str, ...]:
        """Names of the assets (`hcvg.assets`) the adapter loads with its default options.

        `hcvg adapters list` reports whether each is present, resolving it locally, so
        a user sees which models can run before starting one. Default: none.
        """
        return ()

    @classmethod
    def locate_asset(cls, name: str) -> "Path":
        """Where one of `required_assets` is on this machine, found as `load()` would find it.

        Never downloads, never hashes. The default is `hcvg.assets.resolve_asset`; an
        adapter whose default weights may also come from elsewhere (a copy shipped in
        its own package) overrides it, so that `hcvg adapters list` says what a run
        would load.

        Args:
            name: One of ``required_assets()``.

        Returns:
            The existing file or folder.

        Raises:
            AssetNotFoundError: Saying where the asset was looked for and how to get it.
        """
        from hcvg.assets import resolve_asset

        return resolve_asset(name)

    def options(self) -> dict[str, Any]:
        """The options this instance was built with (for the run config); override to add."""
        return {}

    def fitting(self) -> dict[str, Any]:
        """How native output is mapped to the benchmark's size and frame count (for the run config)."""
        return {}

    @abc.abstractmethod
    def generate(self, requests: list[GenerationRequest]) -> list[np.ndarray]:
        """Generate one video per request, in order.

        Args:
            requests: At most ``capabilities.max_batch_size`` requests.

        Returns:
            One uint8 ``[L, H, W, 3]`` RGB array per request, with ``L = num_frames`` and
            ``(H, W) = size`` of that request: the adapter resizes its native output;
            the benchmark never guesses. In place of a video, a `SampleFailure` says
            that request alone failed (an external program wrote only some videos);
            the runner records it for that sample and keeps the others.

        Raises:
            Exception: Any error fails the whole batch; the runner then retries the
                requests one by one so that one bad sample does not sink the others.
        """

    def describe(self) -> dict:
        """Options, capabilities, native settings and the mapping applied (the run config's entry)."""
        return {
            "name": self.name,
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "options": self.options(),
            "capabilities": dataclasses.asdict(self.capabilities),
            "native": dataclasses.asdict(self.native) if self.native is not None else None,
            "fitting": self.fitting(),
        }


class SampleFailure(Exception):
    """Returned by `Adapter.generate` in place of one request's video: that request failed.

    Unlike an exception raised from ``generate`` (which fails the batch, then the runner
    retries each request alone), a returned failure is final for its request and is not
    retried: retrying a program that timed out would only time out again.
    """


class AdapterOutputError(ValueError):
    """An adapter returned something that is not a valid clip for the request."""


def validate_video(video: Any, request: GenerationRequest, adapter: str) -> np.ndarray:
    """Check an adapter's output against the request.

    Raises:
        AdapterOutputError: Naming the sample and adapter, on a wrong type, dtype,
            shape, or NaN / inf values.
    """
    where = f"adapter {adapter!r}, sample {request.sample_id!r}"
    if isinstance(video, SampleFailure):
        raise AdapterOutputError(f"{where}: failed: {video}")
    if not isinstance(video, np.ndarray):
        raise AdapterOutputError(f"{where}: returned {type(video).__name__}, expected a numpy uint8 array")
    if video.dtype != np.uint8:
        if np.issubdtype(video.dtype, np.floating) and not np.isfinite(video).all():
            nan, inf = int(np.isnan(video).sum()), int(np.isinf(video).sum())
            raise AdapterOutputError(f"{where}: output contains NaN ({nan} values) or inf ({inf} values), "
                                     f"dtype {video.dtype}; return uint8 frames in [0, 255]")
        raise AdapterOutputError(f"{where}: returned dtype {video.dtype}, expected uint8 in [0, 255]")
    expected = (request.num_frames, *request.size, 3)
    if video.shape != expected:
        raise AdapterOutputError(f"{where}: returned shape {video.shape}, expected [L,H,W,3] = {expected}")
    return video

"""The adapter kit: fit a model's native output to the benchmark's request.

Every model adapter uses this one module to turn what its pipeline returns into the
uint8 ``[L, H, W, 3]`` clip the request asks for, so that two adapters fitting the same
native output get the same clip, and the run config can say what was done
("CogVideoX ran at 480×720, 49 frames, resampled evenly to 15"):

1. `to_uint8_video`: a float tensor in [-1, 1] or [0, 1], in any of the usual layouts,
   to uint8 ``[T, H, W, 3]``, refusing NaN or infinite values.
2. `fit_video`: drop the context frame if the model returns it, resample the frames in
   time, fit them in space, under a declared `Fitting`.
3. `generator_for`, `generators_for`, `batch_noise`: one seeded generator per request,
   so a batch gives the same videos as single calls.
4. `TorchSettings`: the device / dtype / offload options every torch adapter takes.

Torch is imported inside the functions that need it: `hcvg adapters list` imports
adapter modules, and must not import torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Sequence

import cv2
import numpy as np

from hcvg.adapter import AdapterOutputError, GenerationRequest
from hcvg.frames import evenly_spaced_indices, resize_center_crop

if TYPE_CHECKING:
    import torch

SpatialPolicy = Literal["strict", "center-crop", "resize", "pad"]
TemporalPolicy = Literal["strict", "even", "first", "last"]
Layout = Literal["TCHW", "CTHW", "THWC"]
ValueRange = Literal["-1,1", "0,1"]

SPATIAL_POLICIES: tuple[str, ...] = ("strict", "center-crop", "resize", "pad")
TEMPORAL_POLICIES: tuple[str, ...] = ("strict", "even", "first", "last")
LAYOUTS: tuple[str, ...] = ("TCHW", "CTHW", "THWC")
VALUE_RANGES: tuple[str, ...] = ("-1,1", "0,1")
DTYPES: tuple[str, ...] = ("auto", "float32", "float16", "bfloat16")
OFFLOADS: tuple[str, ...] = ("none", "model", "sequential")


class FittingError(AdapterOutputError):
    """Native output cannot be fitted to the request under the declared policy.

    Attributes:
        axis: What did not fit: ``"frames"`` (count), ``"size"`` (H, W) or ``"values"``
            (dtype, layout, NaN), so an adapter can add a hint naming its own option.
        native: The native frame count or (H, W), where ``axis`` is frames or size.
        requested: The requested frame count or (H, W), where ``axis`` is frames or size.
    """

    def __init__(self, message: str, axis: Literal["frames", "size", "values"], native: Any = None, requested: Any = None):
        super().__init__(message)
        self.axis = axis
        self.native = native
        self.requested = requested


@dataclass(frozen=True)
class Fitting:
    """How an adapter maps its native frames onto the request (written into the run config).

    Attributes:
        spatial: Fitting of native (h, w) to the requested (H, W).
            ``"center-crop"``: resize the short side, crop the center, exactly as the
            benchmark's own clip sampling (`hcvg.frames.resize_center_crop`; square
            sizes only). ``"resize"``: plain resize to (H, W), changing the aspect
            ratio if the two differ. ``"pad"``: resize to fit inside (H, W), keeping the
            aspect ratio, and pad the rest with black. ``"strict"``: the frames must
            already be (H, W).
        temporal: Resampling of the native frame count N (after `drop_context`) to L.
            ``"even"``: L frames evenly spaced over the clip, first and last included.
            ``"first"`` / ``"last"``: the first / last L frames. ``"strict"``: N must be L.
            No policy invents frames: N < L is an error.
        drop_context: The model returns the context frame as its frame 0 (most
            image-to-video pipelines do); drop it before resampling.
    """

    spatial: SpatialPolicy = "center-crop"
    temporal: TemporalPolicy = "even"
    drop_context: bool = False

    def __post_init__(self) -> None:
        if self.spatial not in SPATIAL_POLICIES:
            raise ValueError(f"Fitting: spatial must be one of {', '.join(SPATIAL_POLICIES)}; got {self.spatial!r}")
        if self.temporal not in TEMPORAL_POLICIES:
            raise ValueError(f"Fitting: temporal must be one of {', '.join(TEMPORAL_POLICIES)}; got {self.temporal!r}")
        if not isinstance(self.drop_context, bool):
            raise ValueError(f"Fitting: drop_context must be a bool; got {self.drop_context!r}")

    def describe(self) -> dict[str, Any]:
        """The policies as plain data: what `Adapter.fitting()` returns."""
        return dataclasses.asdict(self)


# -- time ------------------------------------------------------------------------------
def frame_indices(native_frames: int, num_frames: int, fitting: Fitting, source: str = "the model output") -> np.ndarray:
    """Which native frames become the L returned frames.

    Example: 49 native frames, ``temporal="even"`` → ``[0, 3, 7, 10, 14, 17, 21, 24,
    27, 31, 34, 38, 41, 45, 48]``; 16 frames with ``drop_context=True`` → ``[1, ..., 15]``.

    Args:
        native_frames: N, frames the model returned (including the context frame, if it
            returns one).
        num_frames: L, frames requested.
        fitting: The policies; only ``temporal`` and ``drop_context`` are read.
        source: What is being fitted, for messages (a sample, a file).

    Returns:
        int64 ``[L]`` indices into the native clip, non-decreasing.

    Raises:
        FittingError: If there are fewer frames than L (after dropping the context), or
            not exactly L under ``temporal="strict"``.
    """
    offset = 1 if fitting.drop_context else 0
    count = native_frames - offset
    what = f"{source}: has {native_frames} frames" + (" (the first is the context frame)" if offset else "")
    if count < num_frames:
        raise FittingError(f"{what}, the benchmark needs {num_frames}", "frames", native_frames, num_frames)
    if count == num_frames:
        return np.arange(offset, native_frames, dtype=np.int64)
    if fitting.temporal == "strict":
        raise FittingError(f"{what}, the benchmark needs {num_frames}", "frames", native_frames, num_frames)
    if fitting.temporal == "first":
        return np.arange(offset, offset + num_frames, dtype=np.int64)
    if fitting.temporal == "last":
        return np.arange(native_frames - num_frames, native_frames, dtype=np.int64)
    return offset + evenly_spaced_indices(0, count - 1, num_frames)


# -- space -----------------------------------------------------------------------------
def _interpolation(shrinks: bool) -> int:
    # As in hcvg.frames.resize_center_crop: INTER_AREA avoids aliasing when shrinking.
    return cv2.INTER_AREA if shrinks else cv2.INTER_CUBIC


def _resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    height, width = size
    interp = _interpolation(height <= frames.shape[1] and width <= frames.shape[2])
    return np.stack([cv2.resize(frame, (width, height), interpolation=interp) for frame in frames])


def _pad_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    height, width = size
    scale = min(height / frames.shape[1], width / frames.shape[2])
    inner = (min(height, max(1, round(frames.shape[1] * scale))), min(width, max(1, round(frames.shape[2] * scale))))
    resized = _resize_frames(frames, inner)
    out = np.zeros((frames.shape[0], height, width, 3), dtype=np.uint8)
    top, left = (height - inner[0]) // 2, (width - inner[1]) // 2
    out[:, top : top + inner[0], left : left + inner[1]] = resized
    return out


def fit_size(frames: np.ndarray, size: tuple[int, int], fitting: Fitting, source: str = "the model output") -> np.ndarray:
    """Fit frames to (H, W) under ``fitting.spatial``.

    Args:
        frames: uint8 ``[T, h, w, 3]`` RGB.
        size: (H, W) requested.
        fitting: The policies; only ``spatial`` is read.
        source: What is being fitted, for messages.

    Returns:
        uint8 ``[T, H, W, 3]``; the input itself if it is already (H, W).

    Raises:
        FittingError: Under ``"strict"`` if (h, w) != (H, W); under ``"center-crop"``
            if (H, W) is not square.
    """
    size = (int(size[0]), int(size[1]))
    native = (int(frames.shape[1]), int(frames.shape[2]))
    if native == size:
        return frames
    if fitting.spatial == "strict":
        raise FittingError(
            f"{source}: frames are {native[0]}x{native[1]}, the benchmark needs {size[0]}x{size[1]}", "size", native, size
        )
    if fitting.spatial == "center-crop":
        if size[0] != size[1]:
            raise FittingError(
                f"{source}: spatial fitting 'center-crop' supports square sizes only (it is the benchmark's "
                f"own clip sampling, hcvg.frames.resize_center_crop); the request asks for {size[0]}x{size[1]}",
                "size", native, size,
            )
        return resize_center_crop(frames, size[0])
    if fitting.spatial == "resize":
        return _resize_frames(frames, size)
    return _pad_frames(frames, size)


def fit_video(frames: np.ndarray, request: GenerationRequest, fitting: Fitting, source: str | None = None) -> np.ndarray:
    """Fit native frames to the request: drop the context, resample in time, fit in space.

    Args:
        frames: uint8 ``[N, h, w, 3]`` RGB native frames (see `to_uint8_video`).
        request: The request; its ``num_frames`` (L) and ``size`` (H, W) are matched.
        fitting: The policies applied.
        source: What is being fitted, for messages (default: the request's sample).

    Returns:
        uint8 ``[L, H, W, 3]``, exactly the request's shape.

    Raises:
        FittingError: Naming ``source``, if the frames are not uint8 ``[N, h, w, 3]`` or
            cannot be fitted under the policies (see `frame_indices`, `fit_size`).
    """
    source = source or f"sample {request.sample_id!r}"
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        described = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise FittingError(f"{source}: fit_video needs uint8 [N,h,w,3] frames, got {described}; see to_uint8_video", "values")
    frames = frames[frame_indices(frames.shape[0], request.num_frames, fitting, source)]
    return np.ascontiguousarray(fit_size(frames, request.size, fitting, source))


# -- values ----------------------------------------------------------------------------
def fit_native_videos(
    videos: "Sequence[torch.Tensor | np.ndarray]", requests: Sequence[GenerationRequest], fitting: Fitting, *,
    layout: Layout, value_range: ValueRange, adapter: str,
) -> list[np.ndarray]:
    """A batch of a pipeline's float videos → the requests' uint8 clips (`to_uint8_video`, then `fit_video`).

    Args:
        videos: One float video per request, in ``layout`` and ``value_range``.
        requests: The batch, in the same order.
        fitting: The adapter's declared output fitting.
        adapter: The adapter's name, for error messages ("NAME, sample ID").
    """
    clips = []
    for video, request in zip(videos, requests):
        native = to_uint8_video(video, layout=layout, value_range=value_range, sample_id=request.sample_id)
        clips.append(fit_video(native, request, fitting, source=f"{adapter}, sample {request.sample_id!r}"))
    return clips


def release_device_memory() -> None:
    """After an adapter drops its modules in ``close()``: collect them and return CUDA's cached blocks."""
    import gc

    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def to_uint8_video(video: "torch.Tensor | np.ndarray", *, layout: Layout, value_range: ValueRange, sample_id: str) -> np.ndarray:
    """Convert one float video, as pipelines return it, to uint8 RGB frames.

    Values are clamped to the range, scaled to [0, 255] and rounded half to even, as
    diffusers' ``VaeImageProcessor`` does (``(x / 2 + 0.5).clamp(0, 1) * 255``, then
    ``round``), so clips match what the model's own pipeline would save.

    Args:
        video: Float tensor or array, RGB, one video: ``[T, C, H, W]``, ``[C, T, H, W]``
            or ``[T, H, W, C]`` with C = 3, any float dtype, on any device.
        layout: Which of the three layouts ``video`` is in (declared, never guessed:
            T = 3 would make it ambiguous).
        value_range: ``"-1,1"`` (VAE decoder output) or ``"0,1"``.
        sample_id: The request's sample, named in errors.

    Returns:
        uint8 ``[T, H, W, 3]`` on the CPU.

    Raises:
        FittingError: If the video holds NaN or infinite values (often float16
            overflow: try dtype=bfloat16 or float32), is not 4-D with 3 channels where
            ``layout`` says, or is not a float type.
        ValueError: If ``layout`` or ``value_range`` is not one of the choices.
    """
    import torch

    if layout not in LAYOUTS:
        raise ValueError(f"to_uint8_video: layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
    if value_range not in VALUE_RANGES:
        raise ValueError(f"to_uint8_video: value_range must be one of {', '.join(VALUE_RANGES)}; got {value_range!r}")
    where = f"sample {sample_id!r}"
    tensor = torch.as_tensor(video).detach()
    if not tensor.is_floating_point():
        raise FittingError(f"{where}: model output is {tensor.dtype}, expected a float video in [{value_range}]", "values")
    channel_axis = layout.index("C")
    if tensor.ndim != 4 or tensor.shape[channel_axis] != 3:
        raise FittingError(f"{where}: model output has shape {tuple(tensor.shape)}, expected {layout} with C = 3", "values")
    finite = torch.isfinite(tensor)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise FittingError(
            f"{where}: model output contains {bad} NaN or infinite values of {tensor.numel()} "
            "(float16 overflow is the usual cause: try dtype=bfloat16 or float32)",
            "values",
        )
    tensor = tensor.float()
    if value_range == "-1,1":
        tensor = tensor / 2 + 0.5
    frames = (tensor.clamp(0, 1) * 255).round().to(torch.uint8)
    order = {"TCHW": (0, 2, 3, 1), "CTHW": (1, 2, 3, 0), "THWC": (0, 1, 2, 3)}[layout]
    return np.ascontiguousarray(frames.permute(*order).cpu().numpy())


# -- randomness ------------------------------------------------------------------------
def generator_for(seed: int, device: "str | torch.device" = "cpu") -> "torch.Generator":
    """A torch generator seeded for one request.

    Args:
        seed: The request's seed.
        device: Where the generator draws. The default, the CPU, draws the same numbers
            on every machine (diffusers moves CPU-drawn latents to the model's device);
            a CUDA generator is faster but its stream differs from the CPU's.

    Returns:
        A ``torch.Generator`` in the state ``manual_seed(seed)`` leaves it.
    """
    import torch

    return torch.Generator(device=device).manual_seed(int(seed))


def generators_for(requests: Sequence[GenerationRequest], device: "str | torch.device" = "cpu") -> list["torch.Generator"]:
    """One generator per request, in order: pass it as a diffusers pipeline's ``generator=``.

    Each batch element then draws from its own request's seed, so a batch gives the same
    videos as single calls, in any order.
    """
    return [generator_for(request.seed, device) for request in requests]


def batch_noise(
    requests: Sequence[GenerationRequest],
    shape: Sequence[int],
    device: "str | torch.device" = "cpu",
    dtype: "torch.dtype | None" = None,
) -> "torch.Tensor":
    """Standard-normal noise for a batch, element i drawn from request i's seed alone.

    Args:
        requests: The batch.
        shape: Shape of one element's noise (without the batch dimension).
        device: Device of the returned tensor; noise is drawn on the CPU, so it is the
            same on every machine.
        dtype: Its dtype (default float32); drawn in float32, then cast.

    Returns:
        float ``[B, *shape]`` tensor, ``B = len(requests)``.
    """
    import torch

    noise = [torch.randn(tuple(shape), generator=generator_for(r.seed), dtype=torch.float32) for r in requests]
    return torch.stack(noise).to(device=device, dtype=dtype or torch.float32)


# -- device ----------------------------------------------------------------------------
@dataclass(frozen=True)
class TorchSettings:
    """Device, dtype and offload options, taken by every torch adapter as keyword options.

    Attributes:
        device: ``"auto"`` (CUDA if available, else CPU) or a torch device string
            (``"cuda"``, ``"cuda:1"``, ``"cpu"``). An explicit CUDA device without CUDA
            is an error, not a quiet run on the CPU.
        dtype: Weights' dtype; ``"auto"`` is bfloat16 on CUDA (float16 overflows in
            several video VAEs) and float32 on the CPU.
        offload: ``"none"`` (the whole model on the device), ``"model"`` (diffusers'
            ``enable_model_cpu_offload``: one component on the GPU at a time) or
            ``"sequential"`` (``enable_sequential_cpu_offload``: least memory, slowest).
    """

    device: str = "auto"
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    offload: Literal["none", "model", "sequential"] = "none"

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"TorchSettings: dtype must be one of {', '.join(DTYPES)}; got {self.dtype!r}")
        if self.offload not in OFFLOADS:
            raise ValueError(f"TorchSettings: offload must be one of {', '.join(OFFLOADS)}; got {self.offload!r}")

    def resolve_device(self) -> "torch.device":
        """The device to run on.

        Raises:
            ValueError: If ``device`` is not a torch device string, or names CUDA on a
                machine without it, or offload is asked for off CUDA.
        """
        import torch

        if self.device == "auto":
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            try:
                device = torch.device(self.device)
            except RuntimeError as err:
                raise ValueError(f"TorchSettings: device {self.device!r} is not a torch device ({err}); use auto, cpu or cuda[:N]") from err
            if device.type == "cuda" and not torch.cuda.is_available():
                raise ValueError(
                    f"TorchSettings: device {self.device!r} asked for, but CUDA is not available "
                    f"(torch {torch.__version__}); pass device=cpu or device=auto"
                )
        if self.offload != "none" and device.type != "cuda":
            raise ValueError(f"TorchSettings: offload={self.offload!r} moves weights to a CUDA device, but the device is {device}; pass offload=none")
        return device

    def resolve_dtype(self) -> "torch.dtype":
        """The weights' dtype (``"auto"``: bfloat16 on CUDA, float32 elsewhere)."""
        import torch

        if self.dtype == "auto":
            return torch.bfloat16 if self.resolve_device().type == "cuda" else torch.float32
        return getattr(torch, self.dtype)

    def place(self, model: Any) -> Any:
        """Put a diffusers pipeline or torch module on the device, or enable its offload.

        Args:
            model: A ``torch.nn.Module`` or a diffusers ``DiffusionPipeline``.

        Returns:
            ``model``, placed.

        Raises:
            TypeError: If offload is asked for and ``model`` has no diffusers offload method.
        """
        device = self.resolve_device()
        if self.offload == "none":
            return model.to(device)
        method = {"model": "enable_model_cpu_offload", "sequential": "enable_sequential_cpu_offload"}[self.offload]
        if not hasattr(model, method):
            raise TypeError(f"TorchSettings: offload={self.offload!r} needs a diffusers pipeline; {type(model).__name__} has no {method}()")
        getattr(model, method)(device=device)
        return model

    def describe(self) -> dict[str, str]:
        """The options as given and as resolved on this machine (for the run config)."""
        return {**dataclasses.asdict(self), "resolved_device": str(self.resolve_device()), "resolved_dtype": str(self.resolve_dtype()).removeprefix("torch.")}

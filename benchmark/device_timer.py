"""Timing a generation call: wall seconds and, on a CUDA device, synchronized seconds and peak memory.

The runner wraps every `Adapter.generate` call in `DeviceTimer`, so each adapter's
time per clip lands in the run's ``timings`` table the same way (the paper's
"Computational Efficiency" paragraph is regenerated from it). Wall time alone can
under-count on a GPU: work queued on the device may still be running when
``generate`` returns a tensor; the synchronized time waits for it. Torch is read only
if the adapter already imported it, so a numpy-only adapter never loads torch.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any


def _cuda() -> Any:
    """``torch.cuda`` if torch is loaded and a CUDA device is initialized, else None."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return torch.cuda


@dataclass
class DeviceTimer:
    """Context manager; after exit: ``wall_s``, ``synchronized_s`` and ``peak_device_bytes``.

    Example::

        with DeviceTimer() as timer:
            videos = adapter.generate(requests)
        row = timer.per_clip(len(requests))  # seconds, seconds_synchronized, peak_device_bytes


    ``synchronized_s`` and ``peak_device_bytes`` are None off CUDA (nothing runs
    asynchronously there); peak memory is the most the current device held during
    the call (``torch.cuda.max_memory_allocated`` after resetting the peak).
    """

    wall_s: float = 0.0
    synchronized_s: float | None = None
    peak_device_bytes: int | None = None
    _start: float = field(default=0.0, repr=False)
    _cuda_at_start: Any = field(default=None, repr=False)

    def __enter__(self) -> "DeviceTimer":
        cuda = _cuda()
        if cuda is not None:
            cuda.synchronize()  # earlier work must not be charged to this call
            cuda.reset_peak_memory_stats()
        self._cuda_at_start = cuda
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self._start
        # The first call may initialize CUDA (the model loads lazily), so look again.
        cuda = self._cuda_at_start or _cuda()
        if cuda is not None:
            cuda.synchronize()
            self.synchronized_s = time.perf_counter() - self._start
            self.peak_device_bytes = int(cuda.max_memory_allocated())

    def per_clip(self, clips: int) -> dict[str, Any]:
        """The timing columns of one clip's row when ``clips`` were generated together."""
        clips = max(1, clips)
        # NaN, not None, off CUDA: the parquet column keeps one float type across parts.
        return {
            "seconds": self.wall_s / clips,
            "seconds_synchronized": float("nan") if self.synchronized_s is None else self.synchronized_s / clips,
            "peak_device_bytes": float("nan") if self.peak_device_bytes is None else float(self.peak_device_bytes),
        }

"""Quieting the log lines native libraries write straight to stderr.

MediaPipe's C++ core (LiteRT / TFLite, absl logging) prints a handful of ``INFO:``
lines each time a landmarker is created or closed, and absl ``W0000 ...`` warnings
about its own internals; a demo run printed about 720 of them. They bypass Python's
``logging`` and ``sys.stderr``: the C++ code writes to file descriptor 2, and neither
``GLOG_minloglevel``, ``TF_CPP_MIN_LOG_LEVEL`` nor ``ABSL_MIN_LOG_LEVEL`` moves them
(checked with mediapipe 1.2.3). So :func:`quiet_native_logs` points fd 2 at a
temporary file around the native calls, then writes back every line that is not
known noise: native errors, Python warnings and tracebacks written meanwhile still
reach the console, only later.

Quiet by default; ``HCVG_NATIVE_LOGS=1`` in the environment (what ``hcvg -v`` sets)
leaves stderr alone.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from contextlib import contextmanager
from typing import Iterator

#: Environment variable: "1" shows native log lines (``hcvg -v`` sets it).
ENV_VAR = "HCVG_NATIVE_LOGS"

#: Lines dropped: LiteRT / TFLite info (``INFO: [environment.cc:36] ...``,
#: ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.``), absl info and warning
#: lines (``I0000 00:00:...``, ``W0000 00:00:... file.cc:81] ...``) and absl's notice
#: that it logs before InitGoogle. Errors (``E0000``, ``F0000``) and anything else pass.
NOISE = re.compile(rb"^(INFO: |[IW]\d{4} [\d:.]+ +\d+ [^\]]+\] |WARNING: Logging before InitGoogle\(\))")

_lock = threading.Lock()
_depth = 0  # nesting: only the outermost block redirects fd 2


def native_logs_shown() -> bool:
    """Whether native log lines are let through (``HCVG_NATIVE_LOGS=1``)."""
    return os.environ.get(ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on")


def show_native_logs(show: bool) -> None:
    """Let native log lines through (True) or quiet them (False), for this process and its children."""
    os.environ[ENV_VAR] = "1" if show else "0"


@contextmanager
def native_logs_shown_within(show: bool = True) -> Iterator[None]:
    """`show_native_logs` for the block only (its subprocesses included); the setting is restored after."""
    previous = os.environ.get(ENV_VAR)
    show_native_logs(show)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = previous


def filter_noise(data: bytes) -> bytes:
    """``data`` without its native noise lines (see `NOISE`); other lines kept, in order."""
    return b"".join(line for line in data.splitlines(keepends=True) if not NOISE.match(line))


@contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Hold back native noise written to stderr (fd 2) inside the block.

    Whatever is written to fd 2 meanwhile, by C++ or Python, goes to a temporary file;
    on exit fd 2 is restored and the lines that are not noise are written to it. The
    redirection is process-wide: a line another thread writes meanwhile is delayed,
    never lost. Nested blocks redirect once. With `native_logs_shown` True it does
    nothing.
    """
    global _depth
    if native_logs_shown():
        yield
        return
    with _lock:
        outermost = _depth == 0
        _depth += 1
    if not outermost:
        try:
            yield
        finally:
            with _lock:
                _depth -= 1
        return
    sys.stderr.flush()
    saved = os.dup(2)
    held = tempfile.TemporaryFile()
    os.dup2(held.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        with _lock:
            _depth -= 1
        held.seek(0)
        kept = filter_noise(held.read())
        held.close()
        while kept:  # os.write may write only part of a large buffer
            kept = kept[os.write(2, kept):]


__all__ = [
    "ENV_VAR", "NOISE", "filter_noise", "native_logs_shown", "native_logs_shown_within", "quiet_native_logs",
    "show_native_logs",
]

"""Run one external program with a deadline, in its own process group, its output in files.

The program's stdout and stderr go to files, not pipes: a program that writes more
than a pipe buffer holds, while nobody reads, would otherwise block forever. On the
deadline the whole process group is killed, so a launcher's children (``torchrun``'s
workers) die with it. There is no shell: ``argv`` is a list, so no argument
is ever parsed by ``/bin/sh``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

# After SIGTERM on the deadline, how long the group gets to exit before SIGKILL.
_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class ProgramResult:
    """How a program run ended.

    Attributes:
        returncode: Exit status (negative: killed by that signal); None if it timed out
            or could not be started.
        timed_out: The deadline passed and the process group was killed.
        seconds: Wall time of the run.
        stderr_tail: The last characters of its stderr (decoded as UTF-8, errors replaced).
    """

    returncode: int | None
    timed_out: bool
    seconds: float
    stderr_tail: str

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.returncode == 0

    def status(self, timeout: float) -> str:
        """The end of the run in words, for failure messages."""
        if self.timed_out:
            return f"timed out after {timeout:g} s (its process group was killed)"
        if self.returncode is None:
            return "could not be started"
        if self.returncode is not None and self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"was killed by {name}"
        return f"exited with status {self.returncode}"


def run_program(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    stdout: Path,
    stderr: Path,
    tail_chars: int = 2000,
) -> ProgramResult:
    """Run ``argv`` to completion or until ``timeout`` seconds have passed.

    Args:
        argv: The command, one item per argument (never parsed by a shell).
        cwd: Working directory.
        env: The complete environment of the program.
        timeout: Seconds before the process group is killed.
        stdout: File receiving the program's stdout.
        stderr: File receiving the program's stderr (its tail is returned).
        tail_chars: How much of stderr's end to return.

    Returns:
        How the program ended.

    Raises:
        OSError: If the program cannot be started (no such file, not executable).
    """
    if isinstance(argv, (str, bytes)):
        raise TypeError(f"run_program takes an argv list, not a command string ({argv!r}); no shell parses it")
    start = time.monotonic()
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            shell=False, start_new_session=True,  # its own process group, to kill as one on the deadline
        )
        timed_out = False
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process)
    return ProgramResult(
        returncode=None if timed_out else process.returncode,
        timed_out=timed_out,
        seconds=time.monotonic() - start,
        stderr_tail=_tail(stderr, tail_chars),
    )


def _kill_group(process: subprocess.Popen) -> None:
    """SIGTERM the group, then SIGKILL whatever is left after a grace period."""
    for sig, wait in ((signal.SIGTERM, _GRACE_SECONDS), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break  # the group is gone already
        try:
            process.wait(timeout=wait)
            if sig == signal.SIGTERM:
                # The leader exited; children that ignore SIGTERM may remain in the group.
                os.killpg(process.pid, signal.SIGKILL)
            break
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            break


def _tail(path: Path, chars: int) -> str:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        # UTF-8 takes at most 4 bytes a character.
        handle.seek(max(0, size - 4 * chars))
        text = handle.read().decode("utf-8", errors="replace")
    return text[-chars:]

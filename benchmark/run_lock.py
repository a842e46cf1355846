"""The run lock: one process at a time writes a run directory.

Two runs writing one directory would interleave their parts and clear each other's
temporary files. So `Runner.run` and `Runner.finalize` hold ``RUN/.lock``, a small JSON
record of the holder (pid, host, start time, the process's start time in the kernel,
the boot it ran in, and a random token), created with ``O_CREAT | O_EXCL``: of two
processes that try at once, exactly one creates it.

A lock left by a process that was killed (SIGKILL, a node reboot, a SLURM timeout) is
*stale*, and the next run takes it over on its own when it can prove so: the holder
ran on this host and its pid is no longer alive, is a zombie, belongs to another boot,
or now belongs to a different process (the kernel's start time of that pid differs from
the recorded one: pids are reused). A lock held on another host is never taken over
automatically (this host cannot see that process); ``hcvg run --break-lock`` forces it.

Take-over is an atomic replace of the lock file, after checking that it still holds
the stale holder's token, then a re-read that must show our own token: of two processes
taking over one stale lock at once, the one that reads another token backs off.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hcvg.atomic import fsync_directory, temporary_path
from hcvg.errors import UserError

logger = logging.getLogger(__name__)

LOCK_FILE = ".lock"
# A lock file that is still empty or cut short this long after it was created comes from
# a process killed between creating and filling it (a live one fills it at once).
UNREADABLE_GRACE_S = 5.0
# Pause between a take-over's replace and its re-read, so that a rival's replace lands first.
SETTLE_S = 0.05


class RunLockedError(UserError, RuntimeError):
    """Another process holds the run directory's lock; the message names it and what to do."""


@dataclass(frozen=True)
class LockRecord:
    """What ``RUN/.lock`` holds.

    Attributes:
        pid: The holder's process id.
        hostname: The host it runs on (`socket.gethostname`).
        started: When it took the lock, UTC, ISO 8601.
        token: Random hex string naming this acquisition (pids and hosts repeat).
        process_start: The holder's start time in clock ticks since boot (``/proc/PID/stat``
            field 22), or None where ``/proc`` is not available.
        boot_id: The kernel's boot id (``/proc/sys/kernel/random/boot_id``), or None.
    """

    pid: int
    hostname: str
    started: str
    token: str
    process_start: int | None = None
    boot_id: str | None = None

    @classmethod
    def for_this_process(cls) -> "LockRecord":
        return cls(
            pid=os.getpid(), hostname=socket.gethostname(),
            started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), token=secrets.token_hex(16),
            process_start=process_start_time(os.getpid()), boot_id=boot_id(),
        )

    @classmethod
    def from_json(cls, text: str) -> "LockRecord":
        """Parse a lock file's text.

        Raises:
            ValueError: The text is not a whole lock record.
        """
        data: Any = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return cls(
            pid=int(data["pid"]), hostname=str(data["hostname"]), started=str(data["started"]), token=str(data["token"]),
            process_start=None if data.get("process_start") is None else int(data["process_start"]),
            boot_id=data.get("boot_id"),
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.hostname}, since {self.started}"


def process_start_time(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot, or None (no ``/proc``, no such process)."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields else None


def boot_id() -> str | None:
    """This boot's id (Linux), or None."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/PID/stat`` from the state on (field 3 is index 0), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces and ')'.
    return text[text.rindex(")") + 2 :].split()


def stale_reason(record: LockRecord) -> str | None:
    """Why the lock's holder is certainly gone, or None if it may still be running.

    Only a holder on this host can be judged; one on another host is never stale here.
    """
    if record.hostname != socket.gethostname():
        return None
    if record.boot_id and boot_id() and record.boot_id != boot_id():
        return "the host has rebooted since"
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return f"process {record.pid} is not running"
    except PermissionError:
        pass  # alive, owned by another user
    fields = _proc_stat(record.pid)
    if fields and fields[0] in ("Z", "X"):
        return f"process {record.pid} has exited (a zombie)"
    if fields and record.process_start is not None and int(fields[19]) != record.process_start:
        return f"pid {record.pid} now belongs to another process (started at another time)"
    return None


class RunLock:
    """The lock on one run directory, held by this process; release it with `release` or ``with``.

    Use `RunLock.acquire`; the constructor does not lock anything.
    """

    def __init__(self, path: Path, record: LockRecord):
        self.path = path
        self.record = record
        self.held = True

    @classmethod
    def acquire(cls, root: str | os.PathLike[str], break_lock: bool = False) -> "RunLock":
        """Take ``root/.lock``, taking over a stale one.

        Args:
            root: The run directory (created if missing).
            break_lock: Also take over a lock whose holder cannot be proved gone (one
                held on another host); never one held by a live process on this host.

        Raises:
            RunLockedError: Another process holds the lock; the message names the holder
                (pid, host, since when) and how to proceed.
        """
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        path = root / LOCK_FILE
        record = LockRecord.for_this_process()
        # Retried: a holder may release between our create and our read, a rival may take
        # a stale lock over first, and a lock being created is empty for a moment.
        deadline = time.monotonic() + UNREADABLE_GRACE_S + 1.0
        holder: LockRecord | float | None = None
        while time.monotonic() < deadline:
            if _create_exclusively(path, record.to_json()):
                return cls(path, record)
            held = _read(path)
            if held is None:
                continue  # released meanwhile
            holder, text = held
            if not isinstance(holder, LockRecord) and holder <= UNREADABLE_GRACE_S:
                time.sleep(0.1)  # being written this moment, or left so by a kill: look again
                continue
            reason = _takeover_reason(holder, break_lock)
            if reason is None:
                raise RunLockedError(_locked_message(root, path, holder))
            if _take_over(path, text, record):
                logger.warning("took over the lock on %s from %s: %s", root, _who(holder), reason)
                return cls(path, record)
        raise RunLockedError(_locked_message(root, path, holder))

    def release(self) -> None:
        """Remove the lock file if it is still ours (it may have been broken and retaken)."""
        if not self.held:
            return
        self.held = False
        held = _read(self.path)
        if held is None or not isinstance(held[0], LockRecord) or held[0].token != self.record.token:
            logger.warning("the lock %s is no longer ours (it was broken with --break-lock?); left as it is", self.path)
            return
        self.path.unlink(missing_ok=True)
        try:
            fsync_directory(self.path.parent)
        except OSError as err:
            # Release runs on the way out of an error too (a full disk): that error must
            # reach the user, not this one. An unsynced removal can only bring the lock
            # back after a power cut, where its dead pid makes it stale and taken over.
            logger.warning("removed the lock %s, but could not sync its folder (%s)", self.path, err)

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


def _create_exclusively(path: Path, text: str) -> bool:
    """Create ``path`` holding ``text`` unless it exists; True if this call created it."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_directory(path.parent)
    return True


def _read(path: Path) -> tuple[LockRecord | float, str] | None:
    """The lock's record and raw text; for an unreadable lock, its age in seconds instead; None if gone."""
    try:
        text = path.read_text(errors="replace")
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None
    try:
        return LockRecord.from_json(text), text
    except (ValueError, KeyError, TypeError):
        return age, text


def _takeover_reason(holder: LockRecord | float, break_lock: bool) -> str | None:
    """Why the lock may be taken over now, or None if it is held.

    Args:
        holder: The lock's record, or the age in seconds of an unreadable lock file
            (older than `UNREADABLE_GRACE_S`).
        break_lock: ``--break-lock`` was given.
    """
    if not isinstance(holder, LockRecord):
        return f"the lock file was left unreadable {holder:.0f} s ago by a process killed while creating it"
    reason = stale_reason(holder)
    if reason is not None or not break_lock:
        return reason
    if holder.hostname == socket.gethostname():
        return None  # a live process here: --break-lock does not override it (_locked_message says why)
    return f"--break-lock was given (the holder ran on host {holder.hostname})"


def _take_over(path: Path, stale_text: str, record: LockRecord) -> bool:
    """Replace the stale lock with ours; True if it is ours afterwards.

    Our record is on disk under a temporary name first, so that the check that the lock
    still holds the stale record and the replace follow each other at once: a rival
    that judged the same stale lock and replaces it later than `SETTLE_S` after us
    is what this cannot rule out.
    """
    tmp = temporary_path(path)
    try:
        _create_exclusively(tmp, record.to_json())
        try:
            if path.read_text(errors="replace") != stale_text:
                return False  # someone else replaced or released it since we judged it
        except FileNotFoundError:
            return _create_exclusively(path, record.to_json())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_directory(path.parent)
    time.sleep(SETTLE_S)
    held = _read(path)
    return held is not None and isinstance(held[0], LockRecord) and held[0].token == record.token


def _who(holder: LockRecord | float | None) -> str:
    if isinstance(holder, LockRecord):
        return holder.describe()
    return "an unknown process (the lock file is unreadable)"


def _locked_message(root: Path, path: Path, holder: LockRecord | float | None) -> str:
    here = socket.gethostname()
    head = f"{root} is in use by another hcvg process: {_who(holder)} (lock file {path})."
    if isinstance(holder, LockRecord) and holder.hostname == here:
        return (
            f"{head} Two processes writing one run directory would corrupt it: wait for that run to end, or stop it "
            f"(kill {holder.pid}) and run again with --resume; a lock left by a killed process is taken over on its own "
            "(--break-lock never overrides a process that is alive on this host)."
        )
    return (
        f"{head} This host ({here}) cannot tell whether that process still runs. If it does not (its job was killed "
        f"or its node went down), run again with --break-lock to take the lock over; if it does, wait for it."
    )

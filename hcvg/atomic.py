"""Atomic writes: a reader, or a resumed run, sees a whole file or none of it.

Every writer goes through a hidden temporary name in the destination's folder, is
flushed to disk, then renamed into place (``os.replace`` is atomic on POSIX and
Windows), so a process killed mid-write leaves at worst a ``.*.tmp`` file that
`remove_temporaries` clears. After the rename the folder itself is fsynced (POSIX), so
that the new name, not only the data, survives a power cut or a kernel crash; so is the
parent of every folder the write had to create.

`append_line` is the one non-atomic writer: a log that only grows (``failures.jsonl``),
where a kill can cut at most the line being written; readers skip such a line.
"""

from __future__ import annotations

import errno
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from hcvg.errors import UserError

if TYPE_CHECKING:  # pandas is imported only by the parquet writer
    import pandas as pd


# errno values that mean "no room left": the device is full, or the user's quota is.
_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class DiskFullError(UserError, OSError):
    """A write ran out of space; nothing was half-written, and the run resumes once space is freed.

    Attributes:
        path: The file that was being written.
    """

    def __init__(self, path: str | os.PathLike[str], cause: BaseException | None = None):
        self.path = Path(path)
        detail = f" ({cause})" if cause is not None else ""
        super().__init__(
            errno.ENOSPC,
            f"disk full while writing {self.path}{detail}; nothing was half-written: free space and run the same "
            "command with --resume",
        )

    def __str__(self) -> str:
        return self.strerror or super().__str__()


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` says the disk (or quota) is full.

    Writers name it differently: Python's ``OSError`` carries ``errno.ENOSPC``; PyAV's
    and pyarrow's errors may carry only FFmpeg's or the OS's text.
    """
    if isinstance(err, DiskFullError):
        return True
    if isinstance(err, OSError) and err.errno in _NO_SPACE:
        return True
    return isinstance(err, (OSError, RuntimeError)) and ("No space left on device" in str(err) or "Disk quota exceeded" in str(err))


def temporary_path(path: Path) -> Path:
    """A hidden, unique temporary name beside ``path`` (same folder, so the rename is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def fsync_directory(folder: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (names created, renamed or removed in it) to disk.

    A no-op where folders cannot be opened (Windows), since there ``os.replace`` is
    already durable once it returns.
    """
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_folders(folder: str | os.PathLike[str]) -> Path:
    """``mkdir -p folder``, fsyncing the parent of every folder it creates (so they survive a crash)."""
    folder = Path(folder)
    missing = []
    current = folder
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    folder.mkdir(parents=True, exist_ok=True)
    for created in reversed(missing):
        fsync_directory(created.parent)
    return folder


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` to fill a temporary file, fsync it, rename it to ``path``, fsync the folder.

    Args:
        path: Destination; its folder is created if missing.
        write: Writes the whole content to the path it is given.

    Returns:
        ``path``.

    Raises:
        DiskFullError: If the disk (or quota) filled up; the temporary file is removed
            and ``path`` is untouched, so the caller can stop cleanly and resume later.
    """
    path = Path(path)
    tmp = temporary_path(path)
    try:
        make_folders(path.parent)  # inside the try: a full disk can refuse the folder too
        write(tmp)
        with open(tmp, "rb") as handle:  # the data must be on disk before the name is
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except Exception as err:
        if is_disk_full(err) and not isinstance(err, DiskFullError):
            raise DiskFullError(path, err) from err
        raise
    finally:
        tmp.unlink(missing_ok=True)
    fsync_directory(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_parquet(path: str | os.PathLike[str], frame: "pd.DataFrame") -> Path:
    """Write a DataFrame as parquet (no index), atomically."""
    return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


def append_line(path: str | os.PathLike[str], line: str) -> None:
    """Append one line of text to ``path`` and flush it to disk before returning.

    Args:
        path: The log; created (with its folder) if missing.
        line: One line, without its newline (it must not hold one).

    Raises:
        ValueError: ``line`` holds a newline (it would read back as two records).

    A kill mid-append leaves a last line cut short. The next append starts on a fresh
    line, so a cut line never swallows a later record; readers skip the cut line. Appends
    from several processes never interleave within a line (each is one ``write`` in
    append mode); one that sees another's line mid-write starts on a fresh line, which
    leaves a blank line, so readers skip blank lines too.
    """
    if "\n" in line or "\r" in line:
        raise ValueError(f"append_line writes one line; this one holds a line break: {line[:80]!r}")
    path = Path(path)
    make_folders(path.parent)
    created = not path.exists()
    data = line.encode("utf-8") + b"\n"
    with open(path, "a+b") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":  # the last append was cut short by a kill
                data = b"\n" + data
        handle.write(data)  # one write in append mode: nothing else interleaves inside it
        handle.flush()
        os.fsync(handle.fileno())
    if created:
        fsync_directory(path.parent)


def remove_temporaries(root: str | os.PathLike[str]) -> int:
    """Delete the temporary files a killed writer left under ``root``; returns how many."""
    stale = [p for p in Path(root).rglob(".*.tmp") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)

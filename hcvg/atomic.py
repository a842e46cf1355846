"""Atomic writes: a reader, or a resumed run, sees a whole file or none of it.

Every writer goes through a hidden temporary name in the destination's folder, is
flushed to disk, then renamed into place (``os.replace`` is atomic on POSIX and
Windows), so a process killed mid-write leaves at worst a ``.*.tmp`` file that
`remove_temporaries` clears.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # pandas is imported only by the parquet writer
    import pandas as pd


def temporary_path(path: Path) -> Path:
    """A hidden, unique temporary name beside ``path`` (same folder, so the rename is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` to fill a temporary file, fsync it, then rename it to ``path``.

    Args:
        path: Destination; its folder is created if missing.
        write: Writes the whole content to the path it is given.

    Returns:
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:  # the data must be on disk before the name is
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_parquet(path: str | os.PathLike[str], frame: "pd.DataFrame") -> Path:
    """Write a DataFrame as parquet (no index), atomically."""
    return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


def remove_temporaries(root: str | os.PathLike[str]) -> int:
    """Delete the temporary files a killed writer left under ``root``; returns how many."""
    stale = [p for p in Path(root).rglob(".*.tmp") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)

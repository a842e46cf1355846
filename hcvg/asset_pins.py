"""Pinned weights: each official file's sha256, checked once on first use and recorded.

Two labs comparing numbers must know they ran the same weights. Every asset that
declares ``sha256`` (the full hex digest, or a prefix of at least 8 hex digits where the
authors publish only that, as torch hub's ``name-<prefix>.pth`` file names do) is
checked the first time `hcvg.assets.resolve_asset` returns it. The digest is computed
once per file: it is kept in ``<asset cache>/digests.json`` under the file's real path,
size and modification time, so a later process re-reads 20 bytes, not 10 GB.

A file whose digest differs from its pin is refused with `WeightMismatchError`, naming
the file, both digests and how to proceed. ``HCVG_ALLOW_WEIGHT_MISMATCH`` (a comma list
of asset names, or ``all``; ``hcvg run --allow-weight-mismatch NAME`` sets it) accepts it
anyway: the run then goes on and records the mismatch, so the results say so.

Every asset resolved in this process is recorded (`used_assets`): name, path, digest,
pin and status. The runner writes that record into ``run_config.json`` (``weights``).
Unpinned files are hashed too, so a run still records exactly which bytes it used.
Folders (diffusers pipelines) are not hashed file by file; when one sits in the hub
cache its snapshot commit is recorded instead, which names the exact revision.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hcvg.atomic import atomic_write_text
from hcvg.errors import UserError

logger = logging.getLogger(__name__)

ALLOW_MISMATCH_ENV = "HCVG_ALLOW_WEIGHT_MISMATCH"
DIGESTS_FILE = "digests.json"
MIN_PREFIX = 8
_HEX = re.compile(r"^[0-9a-f]+$")
_SNAPSHOT = re.compile(r"/snapshots/([0-9a-f]{40})(/|$)")

_LOCK = threading.Lock()
_USED: dict[str, "AssetUse"] = {}


class WeightMismatchError(UserError, ValueError):
    """A weight file's sha256 differs from the pin in its asset declaration."""


@dataclass(frozen=True)
class AssetUse:
    """What one resolved asset was, for the run config.

    Attributes:
        name: The asset's registered name.
        path: Where it was found.
        sha256: The file's digest; None for a folder.
        pinned: The declared pin (full digest or prefix); None if unpinned.
        status: ``verified`` (matches its pin), ``unpinned`` (no pin; digest recorded),
            ``mismatch-allowed`` (differs from its pin, accepted through
            ``HCVG_ALLOW_WEIGHT_MISMATCH``) or ``folder`` (not hashed).
        revision: The hub snapshot commit of a folder in the hub cache, else None.
    """

    name: str
    path: str
    sha256: str | None
    pinned: str | None
    status: str
    revision: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_pin_format(name: str, pin: str | None) -> None:
    """Raise ValueError unless ``pin`` is None or ≥ 8 lower-case hex digits (≤ 64)."""
    if pin is None:
        return
    if not (_HEX.match(pin) and MIN_PREFIX <= len(pin) <= 64):
        raise ValueError(f"asset {name}: sha256 pin {pin!r} must be {MIN_PREFIX}-64 lower-case hex digits")


def pin_matches(pin: str, digest: str) -> bool:
    """Whether a full digest matches a pin that is the digest or a prefix of it."""
    return digest.startswith(pin.lower())


def mismatch_allowed(name: str) -> bool:
    """Whether ``HCVG_ALLOW_WEIGHT_MISMATCH`` accepts a mismatching ``name``."""
    allowed = {part.strip() for part in os.environ.get(ALLOW_MISMATCH_ENV, "").split(",") if part.strip()}
    return "all" in allowed or name in allowed


def file_digest(path: str | os.PathLike[str], cache_dir: Path) -> str:
    """The sha256 of a file, computed once per (real path, size, mtime) and cached.

    Args:
        path: The file.
        cache_dir: Folder holding ``digests.json`` (the asset cache). A cache that
            cannot be written only costs a recomputation next time.
    """
    from hcvg.assets import sha256_of

    real = Path(path).resolve()
    stat = real.stat()
    stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    cache_file = cache_dir / DIGESTS_FILE
    with _LOCK:
        cache = _read_cache(cache_file)
        entry = cache.get(str(real))
        if entry and {k: entry.get(k) for k in stamp} == stamp and isinstance(entry.get("sha256"), str):
            return entry["sha256"]
    digest = sha256_of(real)
    with _LOCK:
        cache = _read_cache(cache_file)  # another process may have added entries meanwhile
        cache[str(real)] = {**stamp, "sha256": digest}
        try:
            atomic_write_text(cache_file, json.dumps(cache, indent=1, sort_keys=True) + "\n")
        except OSError as err:
            logger.warning("could not save the digest of %s in %s (%s); it will be computed again next time", real, cache_file, err)
    return digest


def _read_cache(cache_file: Path) -> dict[str, Any]:
    try:
        data = json.loads(cache_file.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        logger.warning("ignoring unreadable digest cache %s (%s); digests are computed again", cache_file, err)
        return {}
    return data if isinstance(data, dict) else {}


def verify_and_record(name: str, pin: str | None, path: Path, directory: bool, cache_dir: Path) -> AssetUse:
    """Check a resolved asset against its pin (once per process and path) and record it.

    Raises:
        WeightMismatchError: The file's digest differs from ``pin`` and
            ``HCVG_ALLOW_WEIGHT_MISMATCH`` does not name the asset.
    """
    key = f"{name}\0{path}"
    with _LOCK:
        known = _USED.get(key)
    if known is not None and (known.status != "mismatch-allowed" or mismatch_allowed(name)):
        with _LOCK:  # the most recent resolution is the one `used_assets` reports
            _USED.pop(key, None)
            _USED[key] = known
        return known
    if directory:
        match = _SNAPSHOT.search(Path(path).resolve().as_posix())
        use = AssetUse(name, str(path), None, pin, "folder", match.group(1) if match else None)
    else:
        digest = file_digest(path, cache_dir)
        if pin is None:
            status = "unpinned"
        elif pin_matches(pin, digest):
            status = "verified"
        elif mismatch_allowed(name):
            status = "mismatch-allowed"
            logger.warning("%s: %s has sha256 %s, not the pinned %s; accepted (%s), and recorded in the run config",
                           name, path, digest, pin, ALLOW_MISMATCH_ENV)
        else:
            raise WeightMismatchError(
                f"{name}: {path} has sha256 {digest}, but the asset pins {pin}. The file is corrupt, truncated or "
                f"another version, and numbers made with it are not comparable with published ones. Delete it and run "
                f"`hcvg assets fetch {name}`, or, to use it anyway (a fine-tuned or converted copy), pass "
                f"`--allow-weight-mismatch {name}` to `hcvg run` or set {ALLOW_MISMATCH_ENV}={name}; the run config "
                "then records the mismatch."
            )
        use = AssetUse(name, str(path), digest, pin, status)
    with _LOCK:
        _USED[key] = use
    return use


def used_assets() -> dict[str, dict[str, Any]]:
    """Every asset resolved in this process, by name (the last path if several)."""
    with _LOCK:
        return {use.name: use.to_dict() for use in _USED.values()}


def forget_used_assets() -> None:
    """Clear the record (tests; a long-lived process starting a new run)."""
    with _LOCK:
        _USED.clear()

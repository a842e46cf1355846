"""Pretrained assets: where each weight file comes from and where it is found.

Every pretrained component of the project (the hand landmarker now; Inception, I3D,
CLIP, BLIP, EgoVLP and the SD VAE later) declares one :class:`Asset` and registers
it in :data:`ASSETS`. Code that needs the file calls :func:`resolve_asset`, which
never touches the network; getting the file is a separate, explicit step
(:func:`fetch_asset`, behind ``hcvg assets fetch NAME``), so a run or a test never
downloads anything by surprise.

Resolution order (first hit wins):

1. an explicit ``path`` argument,
2. the asset's environment variable (e.g. ``HCVG_HAND_LANDMARKER``),
3. the project's asset cache, ``$HCVG_ASSET_DIR`` or ``~/.cache/hcvg/assets``,
4. the Hugging Face hub cache (``huggingface_hub.try_to_load_from_cache``), read only.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from handi.registry import Registry

logger = logging.getLogger(__name__)

#: Seconds to wait for the official server before falling back to the builder.
#: Short on purpose: on a closed network a long wait buys nothing.
DOWNLOAD_TIMEOUT_S = 20.0

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Asset:
    """Declaration of one pretrained file (weights, a model bundle, statistics).

    Attributes:
        name: Registered kebab-case name, e.g. ``"hand-landmarker"``.
        filename: File name inside the asset cache, e.g. ``"hand_landmarker.task"``.
        description: One line saying what the file is and who uses it.
        official_url: Where the authors publish it, or None if there is no direct URL.
        env_var: Environment variable that may point at a local copy.
        how_to_get: Human instructions for getting the file by hand.
        sha256: Expected hex digest, checked after a download; None if not pinned
            (e.g. a "latest" URL whose content changes).
        size_bytes: Expected size, for display only.
        hf_repo: Hugging Face repo id to look for in the local hub cache.
        hf_filename: File name inside ``hf_repo`` (defaults to ``filename``).
        builder: ``builder(dest)`` writes the file to ``dest`` from other sources when
            the official download is impossible (e.g. a closed network that still
            reaches a package registry). None if the file cannot be built.
    """

    name: str
    filename: str
    description: str
    official_url: str | None = None
    env_var: str | None = None
    how_to_get: str = ""
    sha256: str | None = None
    size_bytes: int | None = None
    hf_repo: str | None = None
    hf_filename: str | None = None
    builder: Callable[[Path], None] | None = None


class AssetNotFoundError(FileNotFoundError):
    """Raised when an asset is in none of the places :func:`resolve_asset` looks."""


class AssetChecksumError(ValueError):
    """Raised when a downloaded or given file does not have the pinned sha256."""


#: All known assets, by name. Modules that own a model register its asset here.
ASSETS: Registry[Asset] = Registry("asset", base=Asset)


def asset_cache_dir() -> Path:
    """The project's asset cache: ``$HCVG_ASSET_DIR`` or ``~/.cache/hcvg/assets``."""
    env = os.environ.get("HCVG_ASSET_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hcvg" / "assets"


def get_asset(asset_or_name: Asset | str) -> Asset:
    """Return the :class:`Asset` for a name (or the asset itself).

    Raises:
        handi.registry.UnknownNameError: If the name is not registered.
    """
    if isinstance(asset_or_name, Asset):
        return asset_or_name
    _register_builtin_assets()
    return ASSETS.get(asset_or_name)


def list_assets(pattern: str = "*") -> list[str]:
    """Names of the registered assets (built-ins included) matching ``pattern``."""
    _register_builtin_assets()
    return ASSETS.names(pattern)


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _candidates(asset: Asset, path: str | os.PathLike[str] | None) -> list[tuple[str, Path | None]]:
    """Every place looked, in order, as (description, path or None if not set)."""
    places: list[tuple[str, Path | None]] = []
    places.append(("explicit path", Path(path).expanduser() if path is not None else None))
    if asset.env_var:
        value = os.environ.get(asset.env_var)
        places.append((f"${asset.env_var}", Path(value).expanduser() if value else None))
    places.append(("asset cache", asset_cache_dir() / asset.filename))
    return places


def _hub_cache_path(asset: Asset) -> tuple[str, Path | None] | None:
    """Look in the local Hugging Face hub cache without any network access."""
    if not asset.hf_repo:
        return None
    filename = asset.hf_filename or asset.filename
    where = f"hub cache ({asset.hf_repo}/{filename})"
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return (where + ", huggingface_hub not installed", None)
    # try_to_load_from_cache reads HF_HUB_CACHE at import time of huggingface_hub's
    # constants; passing cache_dir explicitly honours a value set later (tests do).
    cache_dir = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    found: Any = try_to_load_from_cache(asset.hf_repo, filename, cache_dir=cache_dir)
    return (where, Path(found) if isinstance(found, str) else None)


def _how_to_get(asset: Asset) -> str:
    lines = [f"  - run `hcvg assets fetch {asset.name}`"]
    if asset.official_url:
        lines.append(f"  - or download {asset.official_url} to {asset_cache_dir() / asset.filename}")
    if asset.env_var:
        lines.append(f"  - or set {asset.env_var}=/path/to/{asset.filename}")
    if asset.how_to_get:
        lines.append(f"  - {asset.how_to_get}")
    return "\n".join(lines)


def resolve_asset(asset_or_name: Asset | str, path: str | os.PathLike[str] | None = None) -> Path:
    """Find an asset's file locally; never downloads.

    Args:
        asset_or_name: The asset or its registered name.
        path: An explicit file path; if given it must exist (a wrong explicit path
            is an error, not a reason to fall back silently).

    Returns:
        The path of an existing file.

    Raises:
        AssetNotFoundError: If an explicit path does not exist, or the asset is in
            none of the places looked; the message lists them and how to get it.
    """
    asset = get_asset(asset_or_name)
    places = _candidates(asset, path)
    if path is not None:
        explicit = places[0][1]
        assert explicit is not None
        if explicit.is_file():
            return explicit
        raise AssetNotFoundError(
            f"{asset.name}: the explicit path {explicit} does not exist or is not a file. "
            f"Pass the path of an existing {asset.filename}, or pass no path to use the "
            f"usual places.\n{_how_to_get(asset)}"
        )
    for where, candidate in places[1:]:
        if candidate is not None and candidate.is_file():
            logger.debug("%s: found via %s at %s", asset.name, where, candidate)
            return candidate
        if candidate is not None and where.startswith("$"):
            # An env var that points nowhere is almost always a typo; say so.
            logger.warning("%s: %s=%s is not a file; ignoring it", asset.name, where[1:], candidate)
    hub = _hub_cache_path(asset)
    if hub is not None:
        places.append(hub)
        if hub[1] is not None and hub[1].is_file():
            return hub[1]
    looked = "\n".join(
        f"  - {where}: {candidate if candidate is not None else '(not set)'}" for where, candidate in places
    )
    raise AssetNotFoundError(
        f"{asset.name}: could not find {asset.filename} ({asset.description}).\n"
        f"Looked in:\n{looked}\nTo get it:\n{_how_to_get(asset)}"
    )


def _download(url: str, dest: Path, timeout: float) -> None:
    """Download ``url`` to ``dest`` through a temp file in the same directory."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out, _CHUNK)
        os.replace(tmp, dest)  # atomic: readers never see a half-written file
    finally:
        tmp.unlink(missing_ok=True)


def _build(asset: Asset, dest: Path) -> None:
    """Run the asset's builder into a temp file, then move it into place."""
    assert asset.builder is not None
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{asset.name}.", dir=dest.parent) as tmp_dir:
        tmp = Path(tmp_dir) / asset.filename
        asset.builder(tmp)
        if not tmp.is_file():
            raise RuntimeError(f"{asset.name}: the builder finished but wrote no file to {tmp}")
        os.replace(tmp, dest)


def _check_sha256(asset: Asset, path: Path) -> None:
    if asset.sha256 is None:
        return
    actual = sha256_of(path)
    if actual != asset.sha256.lower():
        raise AssetChecksumError(
            f"{asset.name}: {path} has sha256 {actual}, expected {asset.sha256}. "
            f"The file is corrupt or a different version; delete it and run "
            f"`hcvg assets fetch {asset.name}` again."
        )


def fetch_asset(asset_or_name: Asset | str, force: bool = False, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Make an asset available in the asset cache and return its path.

    If the asset already resolves (and ``force`` is False) nothing is done. Otherwise
    the official URL is tried first; if that fails (e.g. a closed network) and the
    asset has a builder, the builder makes the file locally.

    Args:
        asset_or_name: The asset or its registered name.
        force: Re-fetch into the cache even if a copy is found.
        timeout: Seconds to wait for the official server.

    Returns:
        The path of the file.

    Raises:
        AssetChecksumError: If the downloaded file does not match the pinned sha256.
        AssetNotFoundError: If neither the download nor a builder produced the file.
    """
    asset = get_asset(asset_or_name)
    if not force:
        try:
            found = resolve_asset(asset)
        except AssetNotFoundError:
            pass
        else:
            logger.info("%s: already present at %s", asset.name, found)
            return found
    dest = asset_cache_dir() / asset.filename
    errors: list[str] = []
    if asset.official_url:
        logger.info("%s: downloading %s", asset.name, asset.official_url)
        try:
            _download(asset.official_url, dest, timeout)
        # URLError, HTTPError, timeouts and refused connections are OSErrors; a
        # connection cut mid-body raises http.client's IncompleteRead instead.
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"download from {asset.official_url} failed: {exc}")
            logger.warning("%s: download failed (%s)", asset.name, exc)
        else:
            try:
                _check_sha256(asset, dest)
            except AssetChecksumError:
                dest.unlink(missing_ok=True)
                raise
            logger.info("%s: downloaded to %s (%d bytes)", asset.name, dest, dest.stat().st_size)
            return dest
    if asset.builder is not None:
        logger.info("%s: building locally (official download unavailable)", asset.name)
        try:
            _build(asset, dest)
        except Exception as exc:  # report every way tried, not just the last one
            errors.append(f"local build failed: {exc}")
            logger.warning("%s: build failed (%s)", asset.name, exc)
        else:
            logger.info("%s: built at %s (%d bytes)", asset.name, dest, dest.stat().st_size)
            return dest
    tried = "\n".join(f"  - {e}" for e in errors) or "  - (no official URL and no builder)"
    raise AssetNotFoundError(
        f"{asset.name}: could not fetch {asset.filename}.\nTried:\n{tried}\n"
        f"Get it by hand and put it at {dest}, or:\n{_how_to_get(asset)}"
    )


def asset_status(asset_or_name: Asset | str) -> dict[str, Any]:
    """One row for an ``hcvg assets list`` table.

    Returns:
        A dict with ``name``, ``filename``, ``description``, ``official_source``,
        ``env_var``, ``expected_location`` (the asset-cache path), ``size_bytes``
        (of the found file, else the declared size), ``present``, ``path`` (where it
        was found, else None) and ``sha256`` (of the found file, else None).
    """
    asset = get_asset(asset_or_name)
    try:
        path: Path | None = resolve_asset(asset)
    except AssetNotFoundError:
        path = None
    return {
        "name": asset.name,
        "filename": asset.filename,
        "description": asset.description,
        "official_source": asset.official_url or asset.how_to_get or None,
        "env_var": asset.env_var,
        "expected_location": str(asset_cache_dir() / asset.filename),
        "size_bytes": path.stat().st_size if path is not None else asset.size_bytes,
        "present": path is not None,
        "path": str(path) if path is not None else None,
        "sha256": sha256_of(path) if path is not None else None,
    }


# Modules that declare the built-in assets. Importing them registers their Asset;
# they are imported on first lookup so that `import handi.assets` stays cheap and
# never pulls in a model library.
_BUILTIN_ASSET_MODULES = (
    "handi.hands.landmarker_asset",
    "metrics.features.backbone_assets",
    "metrics.features.inception_weights",
    "metrics.features.i3d_weights",
)
_builtins_registered = False


def _register_builtin_assets() -> None:
    global _builtins_registered
    if _builtins_registered:
        return
    _builtins_registered = True
    import importlib

    for module in _BUILTIN_ASSET_MODULES:
        importlib.import_module(module)

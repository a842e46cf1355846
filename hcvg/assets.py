"""Pretrained assets: where each weight file comes from and where it is found.

Every pretrained component (the hand landmarker, Inception, I3D, CLIP, BLIP, EgoVLP,
and each model's weights) declares one :class:`Asset` in the module that owns it, and
registers it through the ``hcvg.assets`` entry-point group, the same way for built-in
and third-party packages (``[project.entry-points."hcvg.assets"]`` in pyproject.toml),
so ``hcvg assets list`` shows them all without importing any model code. Code that
needs the file calls :func:`resolve_asset`, which never touches the network; getting
the file is a separate, explicit step in the CLI layer (``hcvg assets fetch NAME``,
`benchmark.asset_fetch`), so a run or a test never downloads anything by surprise.

Resolution order (first hit wins):

1. an explicit ``path`` argument,
2. the asset's environment variable (e.g. ``HCVG_HAND_LANDMARKER``),
3. the project's asset cache, ``$HCVG_ASSET_DIR`` or ``~/.cache/hcvg/assets``,
4. the Hugging Face hub cache (``huggingface_hub.try_to_load_from_cache``), read only.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hcvg.asset_pins import check_pin_format, file_digest, pin_matches, verify_and_record
from hcvg.errors import UserError
from hcvg.registry import Registry

logger = logging.getLogger(__name__)

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
        sha256: Expected hex digest (or a prefix of at least 8 hex digits, where the
            authors publish only that), checked after a download and on first use
            (`hcvg.asset_pins`); None if not pinned (e.g. a "latest" URL whose
            content changes, or a file whose digest is not published).
        size_bytes: Expected size, for display only.
        hf_repo: Hugging Face repo id to look for in the local hub cache.
        hf_filename: File name inside ``hf_repo`` (defaults to ``filename``).
        directory: The asset is a folder (a diffusers-style weights folder, e.g. an
            extracted release tarball), not a single file. With an ``hf_repo`` and
            ``hf_filename="model_index.json"`` it is a diffusers pipeline on the hub:
            the folder is the cached snapshot holding that file.
        hf_ignore: Glob patterns of the hub repo's files not to fetch (e.g. the
            ``*.fp16.safetensors`` copies beside the full-precision weights).
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
    directory: bool = False
    hf_ignore: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_pin_format(self.name, self.sha256)


class AssetNotFoundError(UserError, FileNotFoundError):
    """Raised when an asset is in none of the places :func:`resolve_asset` looks."""


class AssetChecksumError(UserError, ValueError):
    """Raised when a downloaded or given file does not have the pinned sha256."""


#: All known assets, by name: filled from the ``hcvg.assets`` entry points (lazy
#: ``"module:ATTR"`` references to `Asset` objects), built-ins included.
ASSETS: Registry[Asset] = Registry("asset", base=Asset, entry_point_group="hcvg.assets")


def asset_cache_dir() -> Path:
    """The project's asset cache: ``$HCVG_ASSET_DIR`` or ``~/.cache/hcvg/assets``."""
    env = os.environ.get("HCVG_ASSET_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hcvg" / "assets"


def get_asset(asset_or_name: Asset | str) -> Asset:
    """Return the :class:`Asset` for a name (or the asset itself).

    Raises:
        hcvg.registry.UnknownNameError: If the name is not registered.
    """
    if isinstance(asset_or_name, Asset):
        return asset_or_name
    return ASSETS.get(asset_or_name)


def list_assets(pattern: str = "*") -> list[str]:
    """Names of the registered assets (built-ins included) matching ``pattern``."""
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


def how_to_get(asset: Asset) -> str:
    """The ways to get an asset's file, one indented line each (for error messages)."""
    lines = [f"  - run `hcvg assets fetch {asset.name}`"]
    if asset.official_url:
        if asset.directory:
            lines.append(f"  - or download {asset.official_url} and extract it so that {asset_cache_dir() / asset.filename}/ is the folder")
        else:
            lines.append(f"  - or download {asset.official_url} to {asset_cache_dir() / asset.filename}")
    if asset.env_var:
        lines.append(f"  - or set {asset.env_var}=/path/to/{asset.filename}")
    if asset.how_to_get:
        lines.append(f"  - {asset.how_to_get}")
    return "\n".join(lines)


def _present(asset: Asset, path: Path) -> bool:
    return path.is_dir() if asset.directory else path.is_file()


def resolve_asset(asset_or_name: Asset | str, path: str | os.PathLike[str] | None = None) -> Path:
    """Find an asset's file locally, check its pinned sha256 once, record it; never downloads.

    Args:
        asset_or_name: The asset or its registered name.
        path: An explicit file path; if given it must exist (a wrong explicit path
            is an error, not a reason to fall back silently).

    Returns:
        The path of an existing file.

    Raises:
        AssetNotFoundError: If an explicit path does not exist, or the asset is in
            none of the places looked; the message lists them and how to get it.
        hcvg.asset_pins.WeightMismatchError: The file's sha256 differs from the
            asset's pin (see `hcvg.asset_pins` for the explicit override).
    """
    asset = get_asset(asset_or_name)
    found = find_asset_path(asset, path)
    verify_and_record(asset.name, asset.sha256, found, asset.directory, asset_cache_dir())
    return found


def find_asset_path(asset_or_name: Asset | str, path: str | os.PathLike[str] | None = None) -> Path:
    """Where `resolve_asset` finds the asset, without checking or recording it (for listings).

    Raises:
        AssetNotFoundError: As `resolve_asset`.
    """
    asset = get_asset(asset_or_name)
    places = _candidates(asset, path)
    if path is not None:
        explicit = places[0][1]
        assert explicit is not None
        if _present(asset, explicit):
            return explicit
        raise AssetNotFoundError(
            f"{asset.name}: the explicit path {explicit} does not exist or is not a {'folder' if asset.directory else 'file'}. "
            f"Pass the path of an existing {asset.filename}, or pass no path to use the "
            f"usual places.\n{how_to_get(asset)}"
        )
    for where, candidate in places[1:]:
        if candidate is not None and _present(asset, candidate):
            logger.debug("%s: found via %s at %s", asset.name, where, candidate)
            return candidate
        if candidate is not None and where.startswith("$"):
            # An env var that points nowhere is almost always a typo; say so.
            logger.warning("%s: %s=%s is not a %s; ignoring it", asset.name, where[1:], candidate, "folder" if asset.directory else "file")
    hub = _hub_cache_path(asset)
    if hub is not None:
        places.append(hub)
        if hub[1] is not None and hub[1].is_file():
            # A folder asset is found by one file in it (a pipeline's model_index.json).
            return hub[1].parent if asset.directory else hub[1]
    looked = "\n".join(
        f"  - {where}: {candidate if candidate is not None else '(not set)'}" for where, candidate in places
    )
    raise AssetNotFoundError(
        f"{asset.name}: could not find {asset.filename} ({asset.description}).\n"
        f"Looked in:\n{looked}\nTo get it:\n{how_to_get(asset)}"
    )


def check_sha256(asset: Asset, path: Path) -> None:
    """Raise `AssetChecksumError` if ``path`` lacks the asset's pinned sha256 (no pin: no check)."""
    if asset.sha256 is None:
        return
    actual = sha256_of(path)
    if not pin_matches(asset.sha256, actual):
        raise AssetChecksumError(
            f"{asset.name}: {path} has sha256 {actual}, expected {asset.sha256}. "
            f"The file is corrupt or a different version; delete it and run "
            f"`hcvg assets fetch {asset.name}` again."
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
        path: Path | None = find_asset_path(asset)
    except AssetNotFoundError:
        path = None
    return {
        "name": asset.name,
        "filename": asset.filename,
        "description": asset.description,
        "official_source": asset.official_url or (f"https://huggingface.co/{asset.hf_repo}" if asset.hf_repo else None) or asset.how_to_get or None,
        "env_var": asset.env_var,
        "expected_location": str(asset_cache_dir() / asset.filename),
        "size_bytes": path.stat().st_size if path is not None else asset.size_bytes,
        "present": path is not None,
        "path": str(path) if path is not None else None,
        "sha256": file_digest(path, asset_cache_dir()) if path is not None and path.is_file() else None,
        "pinned": asset.sha256,
    }

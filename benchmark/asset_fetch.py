"""Getting pretrained files: download from the official source, else build locally.

This is the only network code of the project, and it lives in the CLI layer: the
kernel (`hcvg.assets`) declares and finds files, never fetches them, so no run or test
downloads by surprise. `hcvg assets fetch NAME` calls :func:`fetch_asset`.

Some files can be made from other sources when the official host is out of reach (the
hand-landmarker bundle is assembled from a PyPI wheel); such recipes are registered in
:data:`BUILDERS` by asset name (third parties: entry-point group ``hcvg.asset_builders``).
"""

from __future__ import annotations

import http.client
import logging
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import Callable

from hcvg.assets import (
    Asset, AssetChecksumError, AssetNotFoundError, asset_cache_dir, check_sha256, get_asset, how_to_get, resolve_asset,
)
from hcvg.registry import Registry

logger = logging.getLogger(__name__)

#: Seconds to wait for the official server before falling back to the builder.
#: Short on purpose: on a closed network a long wait buys nothing.
DOWNLOAD_TIMEOUT_S = 20.0

_CHUNK = 1 << 20

#: Asset name -> ``builder(dest)``, which writes the file from other sources.
BUILDERS: Registry[Callable[[Path], None]] = Registry("asset builder", entry_point_group="hcvg.asset_builders")
BUILDERS.register("hand-landmarker", "benchmark.hand_landmarker_bundle:build_hand_landmarker_bundle")


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


def _build(asset: Asset, builder: Callable[[Path], None], dest: Path) -> None:
    """Run ``builder`` into a temp file, then move it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{asset.name}.", dir=dest.parent) as tmp_dir:
        tmp = Path(tmp_dir) / asset.filename
        builder(tmp)
        if not tmp.is_file():
            raise RuntimeError(f"{asset.name}: the builder finished but wrote no file to {tmp}")
        os.replace(tmp, dest)


def fetch_asset(
    asset_or_name: Asset | str,
    force: bool = False,
    timeout: float = DOWNLOAD_TIMEOUT_S,
    builder: Callable[[Path], None] | None = None,
) -> Path:
    """Make an asset available in the asset cache and return its path.

    If the asset already resolves (and ``force`` is False) nothing is done. Otherwise
    the official URL is tried first; if that fails (e.g. a closed network) and the
    asset has a builder, the builder makes the file locally.

    Args:
        asset_or_name: The asset or its registered name.
        force: Re-fetch into the cache even if a copy is found.
        timeout: Seconds to wait for the official server.
        builder: Recipe to use when the download fails; default: the asset's entry in
            `BUILDERS`, if any.

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
                check_sha256(asset, dest)
            except AssetChecksumError:
                dest.unlink(missing_ok=True)
                raise
            logger.info("%s: downloaded to %s (%d bytes)", asset.name, dest, dest.stat().st_size)
            return dest
    if builder is None and asset.name in BUILDERS:
        builder = BUILDERS.get(asset.name)
    if builder is not None:
        logger.info("%s: building locally (official download unavailable)", asset.name)
        try:
            _build(asset, builder, dest)
        except Exception as exc:  # report every way tried, not just the last one
            errors.append(f"local build failed: {exc}")
            logger.warning("%s: build failed (%s)", asset.name, exc)
        else:
            logger.info("%s: built at %s (%d bytes)", asset.name, dest, dest.stat().st_size)
            return dest
    tried = "\n".join(f"  - {e}" for e in errors) or "  - (no official URL and no builder)"
    raise AssetNotFoundError(
        f"{asset.name}: could not fetch {asset.filename}.\nTried:\n{tried}\n"
        f"Get it by hand and put it at {dest}, or:\n{how_to_get(asset)}"
    )

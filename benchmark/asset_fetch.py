"""Getting pretrained files: download from the official source, else build locally.

This is the only network code of the project, and it lives in the CLI layer: the
kernel (`hcvg.assets`) declares and finds files, never fetches them, so no run or test
downloads by surprise. `hcvg assets fetch NAME` calls :func:`fetch_asset`.

Three ways, tried in this order:

1. an asset with an ``hf_repo`` (CLIP, the hub's BLIP captioners, DistilBERT's
   vocabulary) is fetched into the Hugging Face hub cache with
   ``huggingface_hub.snapshot_download``, where :func:`hcvg.assets.resolve_asset`
   finds it; a model folder (an asset named by its ``config.json``) brings its
   configs, tokenizer files and safetensors weights;
2. an asset with an ``official_url`` is downloaded into the asset cache;
3. some files can be made from other sources when the official host is out of reach
   (the hand-landmarker bundle is assembled from a PyPI wheel); such recipes are
   registered in :data:`BUILDERS` by asset name (third parties: entry-point group
   ``hcvg.asset_builders``).

Both downloads show a progress bar. When every way fails, the error says what to do
by hand; it never advises running the fetch that just failed.
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

from tqdm.auto import tqdm

from hcvg.assets import (
    Asset, AssetChecksumError, AssetNotFoundError, asset_cache_dir, check_sha256, get_asset, resolve_asset,
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


#: Files of a transformers model folder that `from_pretrained` needs: configs,
#: tokenizer and processor files, safetensors weights. The TF / Flax / ONNX copies and
#: the pickled ``pytorch_model.bin`` beside the safetensors are left out (each as big
#: as the weights themselves).
MODEL_FOLDER_PATTERNS = ("*.json", "*.txt", "*.model", "*.safetensors")
#: Asked for only when a repo has no safetensors weights.
PICKLED_WEIGHT_PATTERNS = ("pytorch_model*.bin",)


def _download(url: str, dest: Path, timeout: float) -> None:
    """Download ``url`` to ``dest`` through a temp file in the same directory, with a progress bar."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            with tqdm(total=int(length) if length else None, unit="B", unit_scale=True, desc=dest.name) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
        os.replace(tmp, dest)  # atomic: readers never see a half-written file
    finally:
        tmp.unlink(missing_ok=True)


def _hub_settings() -> dict[str, str | None]:
    """Hub cache and endpoint as the environment says now.

    huggingface_hub reads ``HF_HUB_CACHE`` and ``HF_ENDPOINT`` once, when it is
    imported; passing them explicitly honours values set later (tests do), and uses
    the same cache that `hcvg.assets.resolve_asset` reads.
    """
    return {
        "cache_dir": os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or None,
        "endpoint": os.environ.get("HF_ENDPOINT") or None,
    }


def _fetch_from_hub(asset: Asset, force: bool, timeout: float) -> Path:
    """Fetch an asset's hub repo (or its one file) into the hub cache; return the asset's file.

    A model folder (``hf_filename`` ``config.json``) brings `MODEL_FOLDER_PATTERNS`, and
    the pickled weights only when the repo has no safetensors; any other asset brings
    just its file. huggingface_hub draws a progress bar per file.

    Raises:
        ImportError: If huggingface_hub is not installed.
        OSError: If the hub cannot be reached or lacks the files (huggingface_hub's
            errors are OSErrors).
    """
    from huggingface_hub import snapshot_download

    assert asset.hf_repo is not None
    filename = asset.hf_filename or asset.filename
    # A transformers model (config.json) or a diffusers pipeline (model_index.json,
    # its components in subfolders: the patterns match at any depth).
    folder_asset = filename in ("config.json", "model_index.json")
    patterns = list(MODEL_FOLDER_PATTERNS) if folder_asset else [filename]
    settings = _hub_settings()
    ignore = list(asset.hf_ignore) or None
    # snapshot_download, even for one file: it asks for the repo's file list once and
    # fails at once on a closed network, where hf_hub_download retries for ~25 s.
    folder = Path(snapshot_download(
        asset.hf_repo, allow_patterns=patterns, ignore_patterns=ignore, etag_timeout=timeout, force_download=force, **settings
    ))
    if folder_asset and not any(folder.rglob("*.safetensors")):
        logger.info("%s: %s has no safetensors weights; fetching the pickled ones", asset.name, asset.hf_repo)
        folder = Path(snapshot_download(
            asset.hf_repo, allow_patterns=[f"*{p}" for p in PICKLED_WEIGHT_PATTERNS] + ["*diffusion_pytorch_model*.bin"],
            ignore_patterns=ignore, etag_timeout=timeout, force_download=force, **settings,
        ))
    path = folder / filename
    if not path.is_file():
        raise FileNotFoundError(f"the hub repo {asset.hf_repo} has no file {filename}")
    return folder if asset.directory else path


def _hub_failure(asset: Asset, exc: BaseException) -> str:
    """One line: why the hub fetch failed, with the cause huggingface_hub wraps."""
    reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in reason:
        reason += f" ({type(cause).__name__}: {str(cause).splitlines()[0]})"
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    return f"fetching {asset.hf_repo} from the Hugging Face hub ({endpoint}) failed: {reason}"


def _default_hub_cache() -> str:
    try:
        from huggingface_hub.constants import HF_HUB_CACHE
    except ImportError:
        return "~/.cache/huggingface/hub"
    return str(HF_HUB_CACHE)


def _what_to_do(asset: Asset, dest: Path) -> str:
    """What the user can do by hand, one indented line each; never the fetch that just failed."""
    lines = []
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on") and asset.hf_repo:
        lines.append("  - HF_HUB_OFFLINE is set, which forbids the hub: unset it where the network allows")
    if asset.hf_repo:
        hub = _hub_settings()["cache_dir"] or _default_hub_cache()
        repo_dir = "models--" + asset.hf_repo.replace("/", "--")
        lines.append(
            f"  - on a machine that reaches huggingface.co, run `hf download {asset.hf_repo}` "
            f"(`huggingface-cli download` before huggingface_hub 0.34), then copy its {repo_dir} folder "
            f"(from that machine's ~/.cache/huggingface/hub) into {hub} here"
        )
    if asset.official_url:
        lines.append(f"  - on a machine that reaches it, download {asset.official_url}, then put it at {dest} here")
    # An asset's own instructions may name this very command (e.g. the hand landmarker's
    # "offline: `hcvg assets fetch` builds it"), which just failed, or repeat the hub
    # advice above; either is left out.
    own = asset.how_to_get
    if own and f"hcvg assets fetch {asset.name}" not in own and not (asset.hf_repo and asset.hf_repo in own):
        lines.append(f"  - {own}")
    if asset.env_var and (asset.hf_filename or asset.filename) == "config.json":
        lines.append(
            f"  - or save the model and its processor with save_pretrained into a folder and set "
            f"{asset.env_var}=/that/folder/config.json"
        )
    elif asset.env_var:
        where = "" if asset.official_url else f"put it at {dest}, or "
        lines.append(f"  - {where}put it anywhere and set {asset.env_var}=/path/to/{Path(asset.filename).name}")
    elif not asset.official_url:
        lines.append(f"  - put it at {dest}")
    return "\n".join(lines)


def _build(asset: Asset, builder: Callable[[Path], None], dest: Path) -> None:
    """Run ``builder`` into a temp file, then move it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{asset.name}.", dir=dest.parent) as tmp_dir:
        tmp = Path(tmp_dir) / asset.filename
        builder(tmp)
        if not tmp.is_file():
            raise RuntimeError(f"{asset.name}: the builder finished but wrote no file to {tmp}")
        os.replace(tmp, dest)


def extract_folder(archive: Path, dest: Path) -> Path:
    """Unpack a release tarball whose one top-level folder becomes ``dest`` (then delete the archive).

    Raises:
        AssetNotFoundError: If the archive does not hold exactly one top-level folder.
    """
    import shutil
    import tarfile
    import tempfile

    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.") as tmp:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")  # "data": no absolute paths, links out, devices
        tops = [p for p in Path(tmp).iterdir() if not p.name.startswith(".")]
        if len(tops) != 1 or not tops[0].is_dir():
            raise AssetNotFoundError(f"{archive}: expected one top-level folder, found {sorted(p.name for p in tops)}")
        shutil.rmtree(dest, ignore_errors=True)
        tops[0].rename(dest)
    archive.unlink(missing_ok=True)
    return dest


def fetch_asset(
    asset_or_name: Asset | str,
    force: bool = False,
    timeout: float = DOWNLOAD_TIMEOUT_S,
    builder: Callable[[Path], None] | None = None,
) -> Path:
    """Make an asset available (asset cache, or hub cache for a hub repo) and return its path.

    If the asset already resolves (and ``force`` is False) nothing is done. Otherwise
    its hub repo is fetched into the hub cache, else its official URL is downloaded
    into the asset cache; if that fails (e.g. a closed network) and the asset has a
    builder, the builder makes the file locally.

    Args:
        asset_or_name: The asset or its registered name.
        force: Re-fetch into the cache even if a copy is found.
        timeout: Seconds to wait for the official server (for the hub: per request).
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
    if asset.hf_repo:
        logger.info("%s: fetching %s from the Hugging Face hub", asset.name, asset.hf_repo)
        try:
            path = _fetch_from_hub(asset, force, timeout)
        except ImportError as exc:
            errors.append(f"huggingface_hub is not installed ({exc}); `pip install huggingface-hub` to fetch from the hub")
        except OSError as exc:  # huggingface_hub's HTTP, offline and not-found errors are OSErrors
            errors.append(_hub_failure(asset, exc))
            logger.info("%s: hub fetch failed (%s)", asset.name, exc)
        else:
            logger.info("%s: in the hub cache at %s", asset.name, path)
            return path
    if asset.official_url:
        logger.info("%s: downloading %s", asset.name, asset.official_url)
        archive = dest.with_name(dest.name + ".download") if asset.directory else dest
        try:
            _download(asset.official_url, archive, timeout)
        # URLError, HTTPError, timeouts and refused connections are OSErrors; a
        # connection cut mid-body raises http.client's IncompleteRead instead.
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"download from {asset.official_url} failed: {exc}")
            logger.info("%s: download failed (%s)", asset.name, exc)
        else:
            try:
                check_sha256(asset, archive)
            except AssetChecksumError:
                archive.unlink(missing_ok=True)
                raise
            if asset.directory:
                extract_folder(archive, dest)
                logger.info("%s: extracted to %s", asset.name, dest)
                return dest
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
            logger.info("%s: build failed (%s)", asset.name, exc)
        else:
            logger.info("%s: built at %s (%d bytes)", asset.name, dest, dest.stat().st_size)
            return dest
    tried = "\n".join(f"  - {e}" for e in errors) or "  - nothing: it has no hub repo, no official URL and no builder"
    raise AssetNotFoundError(
        f"{asset.name}: could not fetch {asset.filename}.\nTried:\n{tried}\n"
        f"To get it by hand:\n{_what_to_do(asset, dest)}"
    )

"""The file contract between the `command` adapter and an external program.

Per batch the adapter makes a fresh work folder::

    <work_dir>/
      manifest.jsonl      one JSON object per request, in request order
      context/<name>.png  the context frame of each request (image-to-video)
      mask/<name>.png     the motion area, white inside (only with needs_mask)
      out/                where the program writes one video per sample
      stdout.log, stderr.log

Each manifest line holds ``sample_id``, ``prompt``, ``expanded_prompt`` (or null),
``context`` (absolute PNG path, or null for text-to-video), ``motion_area`` (absolute
PNG path or null), ``num_frames`` (L, not counting the context), ``height``,
``width``, ``seed``, ``fps`` (or null) and ``output``: the path the program writes,
``out/<name>.mkv``. The program may write that file, or the same name with another
suffix the suite reads (``.mp4``, ``.gif``, ... : `hcvg.video_io.VIDEO_SUFFIXES`), so a
bridge can move an upstream MP4 or GIF without transcoding. ``<name>`` is the sample id
when it is a plain file name, else ``sample-<index>``: the manifest says which.

This module has no dependency on the program's side: `adapters/command/example_program.py`
reads the same files with the standard library, numpy and PyAV only.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from hcvg.adapter import GenerationRequest
from hcvg.atomic import atomic_write_bytes
from hcvg.video_io import VIDEO_SUFFIXES

MANIFEST_NAME = "manifest.jsonl"
OUTPUT_SUFFIX = ".mkv"
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


@dataclass(frozen=True)
class ManifestEntry:
    """One manifest line: one request as the program reads it.

    Attributes:
        sample_id: The benchmark sample's id.
        prompt: Action text.
        expanded_prompt: The split's enriched description, or None.
        context: Absolute path of the context PNG (RGB, ``height`` x ``width``), or None
            for a text-to-video adapter.
        motion_area: Absolute path of the motion-area PNG (L mode, 255 inside), or None.
        num_frames: L, frames the benchmark scores (not counting the context frame).
        height: Frame height the benchmark scores at.
        width: Frame width the benchmark scores at.
        seed: The request's seed.
        fps: Frame rate the adapter was configured to ask for, or None.
        output: Absolute path the program writes the video to.
    """

    sample_id: str
    prompt: str
    expanded_prompt: str | None
    context: str | None
    motion_area: str | None
    num_frames: int
    height: int
    width: int
    seed: int
    fps: float | None
    output: str


@dataclass(frozen=True)
class BatchFolder:
    """The paths of one batch's work folder (see the module docstring)."""

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST_NAME

    @property
    def out_dir(self) -> Path:
        return self.root / "out"

    @property
    def stdout(self) -> Path:
        return self.root / "stdout.log"

    @property
    def stderr(self) -> Path:
        return self.root / "stderr.log"


def file_stem(sample_id: str, index: int) -> str:
    """The name a request's files get: its sample id if that is a plain file name."""
    return sample_id if _PLAIN_NAME.fullmatch(sample_id) and sample_id not in (".", "..") else f"sample-{index:04d}"


def prepare_batch(root: Path, requests: list[GenerationRequest], fps: float | None = None) -> list[ManifestEntry]:
    """Write the manifest and input images of one batch into the empty folder ``root``.

    Args:
        root: The batch's work folder (exists, empty).
        requests: The batch, in order.
        fps: Frame rate written into each entry.

    Returns:
        The manifest entries, in request order.
    """
    folder = BatchFolder(root)
    folder.out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    names = set()
    for index, request in enumerate(requests):
        stem = file_stem(request.sample_id, index)
        if stem in names:  # two requests for one id in a batch would share an output file
            stem = f"sample-{index:04d}"
        names.add(stem)
        context = _write_png(root / "context" / f"{stem}.png", request.context) if request.context is not None else None
        mask = None
        if request.motion_area is not None:
            mask = _write_png(root / "mask" / f"{stem}.png", np.where(request.motion_area, 255, 0).astype(np.uint8))
        entries.append(
            ManifestEntry(
                sample_id=request.sample_id, prompt=request.prompt, expanded_prompt=request.expanded_prompt,
                context=context, motion_area=mask, num_frames=int(request.num_frames),
                height=int(request.size[0]), width=int(request.size[1]), seed=int(request.seed),
                fps=None if fps is None else float(fps), output=str((folder.out_dir / f"{stem}{OUTPUT_SUFFIX}").resolve()),
            )
        )
    write_manifest(folder.manifest, entries)
    return entries


def _write_png(path: Path, pixels: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(pixels)).save(path, format="PNG")
    return str(path.resolve())


def write_manifest(path: Path, entries: list[ManifestEntry]) -> None:
    """Write entries as JSON lines (UTF-8, one object per line, in order)."""
    text = "".join(json.dumps(asdict(entry), ensure_ascii=False) + "\n" for entry in entries)
    atomic_write_bytes(path, text.encode("utf-8"))


def read_manifest(path: Path) -> list[ManifestEntry]:
    """Read a manifest written by `write_manifest`.

    Raises:
        ValueError: Naming the line, if one is not a manifest entry.
    """
    entries = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(ManifestEntry(**json.loads(line)))
        except (TypeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}:{number}: not a manifest entry ({err})") from err
    return entries


def written_videos(entry: ManifestEntry) -> list[Path]:
    """The files the program wrote for ``entry``: its output path under any readable suffix."""
    output = Path(entry.output)
    return [path for path in (output.with_suffix(suffix) for suffix in VIDEO_SUFFIXES) if path.is_file()]

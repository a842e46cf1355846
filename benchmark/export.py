"""Export a split's inputs, so that a model outside this suite can generate its clips.

`hcvg export inputs --split S --out DIR` writes, in DIR:

manifest.jsonl
    One JSON object per line, one line per sample, in the split's order:

      id               the sample id (a file stem: no "/", never starts with ".")
      split            the split the sample belongs to
      prompt           the action text, e.g. "cut carrot"
      expanded_prompt  the enriched description where the split has one, else null
      context          the context frame (frame 0) as a path relative to DIR,
                       "contexts/<id>.png" (8-bit RGB PNG, height x width)
      motion_area      the ground-truth motion area where the split has one (for models
                       conditioned on it, as HANDI is), "masks/<id>.png" (8-bit
                       grey PNG, 255 inside), else null
      num_frames       L, the frames to generate after the context frame (default 15)
      height, width    the size of every generated frame in pixels (256 x 256)
      fps              8, the nominal frame rate clips are stored at
      output           the file name the model writes: "<id>.mkv"

contexts/<id>.png, masks/<id>.png
    The context frames, and the motion areas where the split has them (a split
    annotated by `hcvg masks build` with hands=DIR, or the demo).

export.json
    What was exported: the split as given and as the suite describes it, L, fps, the
    number of samples, and the `hcvg run` command that scores the outputs.

The model writes, for every record, num_frames RGB frames of height x width (not
counting the context frame) to OUTPUTS/<output>: one folder, one file per id, lossless
where it can be (FFV1 in Matroska, e.g. `hcvg.video_io.write_video_lossless`; a lossy
codec moves FID/FVD by itself). Then the `folder` adapter scores them:

    hcvg run --adapters 'folder:root=OUTPUTS,label=my-model' --splits S --out runs/mine

`folder` refuses a missing, empty (0 bytes), truncated or grayscale file and two files
for one id, with the reason in failures.jsonl; it fits no other frame count or size
unless told to (its options frames= and resize=).

The manifest is written last, so a DIR holding one holds a whole export.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from hcvg import NUM_FRAMES
from hcvg.atomic import atomic_write_bytes
from hcvg.errors import InputNotFoundError, InvalidInputError, UserError
from hcvg.sample import Sample
from hcvg.splits import Split

MANIFEST = "manifest.jsonl"
HEADER = "export.json"
CONTEXTS = "contexts"
MASKS = "masks"
# The frame rate the run store writes clips at (`write_video_lossless`'s default):
# metrics compare frames, so it is the model's to use only as a hint for its own sampling.
FPS = 8
OUTPUT_SUFFIX = ".mkv"  # what `folder` reads first; it accepts the other VIDEO_SUFFIXES too
FORMAT = {"name": "hcvg-inputs", "version": 1}


class ExportExistsError(UserError, FileExistsError):
    """The output folder already holds an export."""


@dataclass(frozen=True)
class InputRecord:
    """One line of ``manifest.jsonl``: what a model needs to generate one sample's clip.

    Attributes:
        id: Sample id; also the stem of ``output``.
        split: Name of the sample's split.
        prompt: The action text.
        expanded_prompt: The enriched description, or None where the split has none.
        context: Path of the context PNG, relative to the export folder.
        motion_area: Path of the motion-area PNG (255 inside), or None where the
            sample has no motion area.
        num_frames: L, frames to generate after the context frame.
        height: Frame height in pixels.
        width: Frame width in pixels.
        fps: Nominal frame rate of stored clips.
        output: File name the ``folder`` adapter reads for this sample.
    """

    id: str
    split: str
    prompt: str
    expanded_prompt: str | None
    context: str
    motion_area: str | None
    num_frames: int
    height: int
    width: int
    fps: int
    output: str

    @classmethod
    def of(cls, sample: Sample, num_frames: int) -> "InputRecord":
        _check_file_stem(sample.id)
        height, width = sample.size
        return cls(
            id=sample.id,
            split=sample.split,
            prompt=sample.prompt,
            expanded_prompt=sample.expanded_prompt,
            context=f"{CONTEXTS}/{sample.id}.png",
            motion_area=None if sample.motion_area is None else f"{MASKS}/{sample.id}.png",
            num_frames=num_frames,
            height=height,
            width=width,
            fps=FPS,
            output=f"{sample.id}{OUTPUT_SUFFIX}",
        )


@dataclass(frozen=True)
class ExportResult:
    """Where an export went and what it holds."""

    out: Path
    manifest: Path
    records: list[InputRecord]


def _check_file_stem(sample_id: str) -> None:
    """Sample ids name files here and in `folder`; one that is not a plain file stem is refused."""
    if not sample_id or "/" in sample_id or "\\" in sample_id or sample_id.startswith("."):
        raise InvalidInputError(f"sample id {sample_id!r} cannot name a file (it holds a path separator or starts with '.')")


def _png_bytes(image: np.ndarray) -> bytes:
    """uint8 ``[H, W, 3]`` RGB or ``[H, W]`` grey → PNG bytes (lossless)."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image)
    if not ok:
        raise OSError(f"OpenCV could not encode a {image.shape} image as PNG")
    return encoded.tobytes()


def export_inputs(
    split: Split,
    out: str | Path,
    num_frames: int = NUM_FRAMES,
    split_spec: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> ExportResult:
    """Write ``split``'s inputs to ``out``: the manifest, the context PNGs and ``export.json``.

    Args:
        split: The split to export (its samples are loaded one at a time).
        out: The export folder; created if missing.
        num_frames: L, the frames a model must generate (the run's ``num_frames``).
        split_spec: The split as the user wrote it (``NAME:key=value``), recorded in
            ``export.json`` and in its `hcvg run` command (default: the split's name).
        overwrite: Replace an export already in ``out``.
        progress: Show a progress bar.

    Returns:
        The folder, the manifest's path and its records.

    Raises:
        ExportExistsError: If ``out`` holds a manifest and ``overwrite`` is false.
        InvalidInputError: If a sample id cannot name a file, or ``num_frames`` < 1.
    """
    out = Path(out)
    manifest = out / MANIFEST
    if num_frames < 1:
        raise InvalidInputError(f"export: num_frames must be at least 1, got {num_frames}")
    if manifest.exists():
        if not overwrite:
            raise ExportExistsError(f"{out} already holds an export ({MANIFEST}); pass --overwrite to replace it, or choose another --out")
        manifest.unlink()  # first, so a half-done re-export never passes for a whole one
        shutil.rmtree(out / CONTEXTS, ignore_errors=True)
        shutil.rmtree(out / MASKS, ignore_errors=True)
    records = []
    for sample_id in tqdm(split.ids(), desc="hcvg export", unit="sample", disable=not progress, dynamic_ncols=True):
        sample = split.get(sample_id)
        record = InputRecord.of(sample, num_frames)
        atomic_write_bytes(out / record.context, _png_bytes(sample.context))
        if record.motion_area is not None:
            atomic_write_bytes(out / record.motion_area, _png_bytes(sample.motion_area.astype(np.uint8) * 255))
        records.append(record)
    spec = split_spec or split.name
    header = {
        "format": FORMAT,
        "split": spec,
        "split_description": _jsonable(split.describe()),
        "num_samples": len(records),
        "num_frames": num_frames,
        "fps": FPS,
        "manifest": MANIFEST,
        "outputs": f"one file per record, named by its 'output' ({OUTPUT_SUFFIX}), all in one folder OUTPUTS",
        "score_with": f"hcvg run --adapters 'folder:root=OUTPUTS,label=MY-MODEL' --splits '{spec}' --out runs/MY-MODEL",
    }
    atomic_write_bytes(out / HEADER, (json.dumps(header, indent=2) + "\n").encode())
    lines = "".join(json.dumps(asdict(record), ensure_ascii=False) + "\n" for record in records)
    atomic_write_bytes(manifest, lines.encode("utf-8"))
    return ExportResult(out=out, manifest=manifest, records=records)


def read_manifest(path: str | Path) -> list[InputRecord]:
    """Read ``manifest.jsonl`` (a file, or the export folder holding it).

    Raises:
        InputNotFoundError: If there is no manifest.
        InvalidInputError: If a line is not a record of this format.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    if not path.is_file():
        raise InputNotFoundError(f"{path}: no export manifest here; write one with `hcvg export inputs --split S --out DIR`")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            records.append(InputRecord(**json.loads(line)))
        except (json.JSONDecodeError, TypeError) as err:
            raise InvalidInputError(f"{path}, line {number}: not an input record ({err})") from err
    return records


def _jsonable(value: Any) -> Any:
    """Split descriptions may hold paths or numpy scalars; JSON gets their text or number."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))

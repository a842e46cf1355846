"""The speed report: one row schema for every section, the JSON writer, and device peaks.

`hcvg bench speed` collects rows from each section (`benchmark.speed.SPEED_SECTIONS`) and
writes them as one JSON document, beside a run as ``RUN_DIR/speed.json`` so the
leaderboard site can plot speed against quality. A section's ``measure`` returns plain
dicts; `SpeedRow` is the contract they follow (`check_row` validates one).

No torch here: the report is data.
"""

from __future__ import annotations

import json
import math
import platform
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from hcvg.atomic import atomic_write_text

#: Version of the JSON layout written by `write_speed_json`.
SCHEMA = "hcvg-speed/1"
#: The file `hcvg bench speed --run RUN_DIR` writes inside the run directory.
SPEED_FILE = "speed.json"


@dataclass(frozen=True)
class DevicePeak:
    """A device's dense (no structured sparsity) bfloat16 tensor-core peak.

    Attributes:
        match: Lower-case substring of ``torch.cuda.get_device_name()`` that names it.
        name: The product as its datasheet names it.
        bf16_dense_flops: Peak FLOP/s, dense bfloat16 (half the datasheet's "with
            sparsity" figure).
        source: Where the number comes from.
    """

    match: str
    name: str
    bf16_dense_flops: float
    source: str
    # float32 work (the Fréchet backbones) runs on TF32 tensor cores when PyTorch allows it.
    tf32_dense_flops: float | None = None
    fp32_flops: float | None = None


_H100_SOURCE = "NVIDIA H100 Tensor Core GPU datasheet, https://www.nvidia.com/en-us/data-center/h100/ (BF16 Tensor Core; the table's figures are with sparsity, dense is half)"
_H200_SOURCE = "NVIDIA H200 Tensor Core GPU datasheet, https://www.nvidia.com/en-us/data-center/h200/ (BF16 Tensor Core; the table's figures are with sparsity, dense is half)"
_A100_SOURCE = "NVIDIA A100 Tensor Core GPU datasheet, https://www.nvidia.com/en-us/data-center/a100/ (BF16 Tensor Core 312 TFLOPS dense, 624 with sparsity)"

#: Most specific first: the first entry whose ``match`` is in the device name wins.
DEVICE_PEAKS: tuple[DevicePeak, ...] = (
    DevicePeak("h100 pcie", "H100 PCIe", 756e12, _H100_SOURCE, 378e12, 51e12),
    DevicePeak("h100 nvl", "H100 NVL", 835e12, _H100_SOURCE),
    DevicePeak("h100", "H100 SXM", 989.4e12, _H100_SOURCE, 494.7e12, 67e12),
    DevicePeak("h200 nvl", "H200 NVL", 835e12, _H200_SOURCE),
    DevicePeak("h200", "H200 SXM", 989.4e12, _H200_SOURCE, 494.7e12, 67e12),
    DevicePeak("a100", "A100", 312e12, _A100_SOURCE, 156e12, 19.5e12),
)


def device_peak(device_name: str | None) -> DevicePeak | None:
    """The peak of the device called ``device_name`` (``torch.cuda.get_device_name()``), or None if unknown.

    CPUs have no entry: their peak depends on the core count, clocks and vector units
    of the machine, and a shared CPU's is not what a run gets.
    """
    if not device_name:
        return None
    lowered = device_name.lower()
    return next((peak for peak in DEVICE_PEAKS if peak.match in lowered), None)


@dataclass
class SpeedRow:
    """One measured configuration: a section's model or backbone under one variant.

    Attributes:
        section: ``generation`` or ``evaluation``.
        name: The model or backbone (``handi``, ``animate-anything``, ``clip-vit-l-14``...).
        variant: The path measured: ``reference`` (the unoptimized default) or an
            optimization (``batched-cfg``, ``bf16``, ``sdpa``, ``channels-last``, ``compile``,
            ``fast-preset``...).
        seconds_per_clip: Steady-state seconds per clip (synchronized on CUDA; compile
            and warm-up excluded), the fastest of the repeats.
        clips_per_second: ``1 / seconds_per_clip``.
        peak_memory_bytes: Peak device memory during the timed calls; None off CUDA.
        flops_per_clip: Model FLOPs per clip (`torch.utils.flop_counter.FlopCounterMode`:
            matrix products, convolutions and attention; element-wise work is not counted).
        peak_flops_fraction: ``flops_per_clip / seconds_per_clip`` over the device's dense
            bf16 peak (`DEVICE_PEAKS`); None where the peak is unknown (every CPU).
        ratio_vs_reference: Speed-up: the reference variant's ``seconds_per_clip`` divided
            by this row's, measured in the same run (> 1 is faster; 1 for the reference).
        compile_seconds: One-off time of the first call beyond a steady one (compilation,
            autotuning, CUDA-graph capture); None where nothing is compiled.
        settings: What was measured: sizes, steps, dtypes, device, options, tolerances.
    """

    section: str
    name: str
    variant: str
    seconds_per_clip: float
    clips_per_second: float
    peak_memory_bytes: int | None
    flops_per_clip: float | None
    peak_flops_fraction: float | None
    ratio_vs_reference: float | None
    compile_seconds: float | None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ROW_KEYS: tuple[str, ...] = tuple(f.name for f in fields(SpeedRow))


def make_row(
    section: str,
    name: str,
    variant: str,
    seconds_per_clip: float,
    *,
    peak_memory_bytes: int | None = None,
    flops_per_clip: float | None = None,
    reference_seconds: float | None = None,
    compile_seconds: float | None = None,
    device_name: str | None = None,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build a row dict from what a section measured, deriving the other columns.

    Args:
        section, name, variant: See `SpeedRow`.
        seconds_per_clip: Steady-state seconds per clip (> 0).
        peak_memory_bytes: Peak device memory, None off CUDA.
        flops_per_clip: Model FLOPs per clip, None if not counted.
        reference_seconds: The reference variant's seconds per clip in this run (for
            ``ratio_vs_reference``); None if no reference was measured.
        compile_seconds: One-off compile time, None if nothing was compiled.
        device_name: ``torch.cuda.get_device_name()`` on CUDA, None elsewhere; picks the peak.
        settings: Free-form description of the configuration.

    Returns:
        A dict with exactly `ROW_KEYS`.

    Raises:
        ValueError: If ``seconds_per_clip`` is not a positive finite number.
    """
    if not (isinstance(seconds_per_clip, (int, float)) and math.isfinite(seconds_per_clip) and seconds_per_clip > 0):
        raise ValueError(f"{section}/{name}/{variant}: seconds_per_clip must be a positive number; got {seconds_per_clip!r}")
    peak = device_peak(device_name)
    fraction = None
    if peak is not None and flops_per_clip is not None:
        fraction = flops_per_clip / seconds_per_clip / peak.bf16_dense_flops
    settings = dict(settings or {})
    if peak is not None:
        settings.setdefault("peak_basis", f"{peak.name} dense bf16, {peak.bf16_dense_flops / 1e12:g} TFLOP/s ({peak.source})")
    row = SpeedRow(
        section=section, name=name, variant=variant, seconds_per_clip=float(seconds_per_clip),
        clips_per_second=1.0 / seconds_per_clip, peak_memory_bytes=None if peak_memory_bytes is None else int(peak_memory_bytes),
        flops_per_clip=None if flops_per_clip is None else float(flops_per_clip), peak_flops_fraction=fraction,
        ratio_vs_reference=None if reference_seconds is None else float(reference_seconds) / seconds_per_clip,
        compile_seconds=None if compile_seconds is None else float(compile_seconds), settings=settings,
    )
    return row.to_dict()


def check_row(row: dict[str, Any]) -> None:
    """Raise ValueError naming what is wrong if ``row`` does not follow `SpeedRow`."""
    missing = [k for k in ROW_KEYS if k not in row]
    extra = [k for k in row if k not in ROW_KEYS]
    if missing or extra:
        raise ValueError(f"speed row {row.get('section')}/{row.get('name')}/{row.get('variant')}: "
                         f"missing keys {missing}, unexpected keys {extra} (the schema is benchmark.speed.report.SpeedRow)")
    for key in ("section", "name", "variant"):
        if not isinstance(row[key], str) or not row[key]:
            raise ValueError(f"speed row: {key!r} must be a non-empty string; got {row[key]!r}")
    for key in ("seconds_per_clip", "clips_per_second"):
        value = row[key]
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"speed row {row['section']}/{row['name']}/{row['variant']}: {key} must be a positive number; got {value!r}")
    for key in ("peak_memory_bytes", "flops_per_clip", "peak_flops_fraction", "ratio_vs_reference", "compile_seconds"):
        if row[key] is not None and not isinstance(row[key], (int, float)):
            raise ValueError(f"speed row {row['section']}/{row['name']}/{row['variant']}: {key} must be a number or None; got {row[key]!r}")
    if not isinstance(row["settings"], dict):
        raise ValueError(f"speed row {row['section']}/{row['name']}/{row['variant']}: settings must be a dict")


def speed_document(rows: Iterable[dict[str, Any]], *, size: str, device: str, device_name: str | None,
                   repeats: int, missing_sections: dict[str, str] | None = None,
                   environment: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document of one `hcvg bench speed` call.

    Args:
        rows: Rows of every section measured (each checked with `check_row`).
        size: ``tiny``, ``reduced`` or ``full``.
        device: ``cpu`` or ``cuda``.
        device_name: The accelerator's name, or the CPU's.
        repeats: Timed calls per configuration.
        missing_sections: Sections asked for but not measured, with the reason.
        environment: Library versions, thread counts and the like.
    """
    rows = list(rows)
    for row in rows:
        check_row(row)
    return {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "size": size,
        "device": device,
        "device_name": device_name,
        "repeats": repeats,
        "host": platform.node(),
        "environment": dict(environment or {}),
        "missing_sections": dict(missing_sections or {}),
        "rows": rows,
    }


def write_speed_json(path: str | Path, document: dict[str, Any]) -> Path:
    """Write ``document`` (from `speed_document`) atomically as indented JSON; returns the path."""
    text = json.dumps(document, indent=2, sort_keys=False, allow_nan=False)
    return atomic_write_text(Path(path), text + "\n")


def read_speed_json(path: str | Path) -> dict[str, Any]:
    """Read a speed report, checking its schema and rows.

    Raises:
        ValueError: If the file is not a speed report of this schema.
    """
    document = json.loads(Path(path).read_text())
    if document.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a speed report of schema {SCHEMA!r} (found {document.get('schema')!r})")
    for row in document["rows"]:
        check_row(row)
    return document


def format_rows(rows: Iterable[dict[str, Any]]) -> list[str]:
    """The rows as aligned console lines: section, name, variant, s/clip, clips/s, speed-up, FLOPs."""
    table = [("section", "name", "variant", "s/clip", "clips/s", "speed-up", "compile s", "GFLOP/clip", "peak frac", "peak MiB")]
    for row in rows:
        table.append((
            row["section"], row["name"], row["variant"], f"{row['seconds_per_clip']:.3f}", f"{row['clips_per_second']:.3f}",
            "-" if row["ratio_vs_reference"] is None else f"{row['ratio_vs_reference']:.2f}x",
            "-" if row["compile_seconds"] is None else f"{row['compile_seconds']:.1f}",
            "-" if row["flops_per_clip"] is None else f"{row['flops_per_clip'] / 1e9:.1f}",
            "-" if row["peak_flops_fraction"] is None else f"{row['peak_flops_fraction']:.1%}",
            "-" if row["peak_memory_bytes"] is None else f"{row['peak_memory_bytes'] / 2**20:.0f}",
        ))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]

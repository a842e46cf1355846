"""The gallery: one sample across every run and adapter side by side, with flow.

Clips arrive as arrays (`GallerySample`); reading them from run directories is the
run store's business (`benchmark.run_gallery`). A sample is one split label and sample
id, gathered over all the runs shown; every generated clip is keyed by the run and the
adapter that made it (`ClipSource`), so two runs that share labels and sample ids never
share a file or a caption. Each clip becomes an animated GIF with the GT motion-area
outline, each flow an animated GIF coloured by `flow_to_rgb`, and each sample a PNG
strip of a few frames per clip for print.

Files: ``gallery/<split>/<sample>/{context.png, ground_truth.gif, ground_truth-flow.gif,
strip.png}`` and ``gallery/<split>/<sample>/<run>/<adapter>{.gif,-flow.gif}``. Names are
made file-name safe; where two labels map to the same safe name, the later one gets a
``-2``, ``-3``... suffix, so no file is ever written twice.
"""

from __future__ import annotations

import html
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from hcvg.atomic import atomic_write
from leaderboards.site.flow_image import draw_outline, flow_to_rgb

GROUND_TRUTH = "ground truth"
STRIP_FRAMES = 5  # frames per row of the PNG strip
GALLERY_SIDE = 128  # pixels per side of gallery images: a page shows dozens of clips at once
# File stems of a sample's own folder, which a run's sub-folder must not take.
_SAMPLE_FILES = ("context", "ground_truth", "strip")


@dataclass(frozen=True, order=True)
class ClipSource:
    """Which run and adapter made a clip, and with which seed.

    Attributes:
        run: The run's name on the site (distinct per run directory).
        adapter: The adapter's label in that run.
        seed: Generation seed of the clip.
    """

    run: str
    adapter: str
    seed: int = 0

    def __str__(self) -> str:
        return f"{self.run} / {self.adapter}"


@dataclass
class GallerySample:
    """One sample's clips, over every run that generated it.

    Attributes:
        split: Split label in the runs.
        sample_id: Sample id.
        prompt: Action text ("" if unknown).
        context: uint8 ``[H, W, 3]`` context frame, or None when unavailable.
        ground_truth: uint8 ``[L, H, W, 3]`` target clip, or None.
        motion_area: bool ``[H, W]`` GT motion area, or None.
        videos: Run and adapter → uint8 ``[L, H, W, 3]`` generated clip.
        flows: Run and adapter → float ``[L-1, H, W, 2]`` flow of its clip.
        ground_truth_flow: float ``[L-1, H, W, 2]`` flow of the target, or None.
        ground_truth_source: Where the GT came from ("split", or "" when there is none).
        ground_truth_unavailable: Why there is no ground truth ("" when there is); the
            page shows it in place of the ground-truth clip.
        runs: Names of the runs whose clips this block shows.
        note: Shown under the title, e.g. that runs disagree on this sample's ground truth.
    """

    split: str
    sample_id: str
    prompt: str = ""
    context: np.ndarray | None = None
    ground_truth: np.ndarray | None = None
    motion_area: np.ndarray | None = None
    videos: dict[ClipSource, np.ndarray] = field(default_factory=dict)
    flows: dict[ClipSource, np.ndarray] = field(default_factory=dict)
    ground_truth_flow: np.ndarray | None = None
    ground_truth_source: str = ""
    ground_truth_unavailable: str = ""
    runs: list[str] = field(default_factory=list)
    note: str = ""


def safe_name(text: str) -> str:
    """A file-name-safe version of a label (adapter labels may hold [ ; = ...)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "_"


class UniqueNames:
    """File-name-safe names, one per key, never the same name for two keys.

    `safe_name` is lossy (``a b`` and ``a_b`` both become ``a_b``) and file systems may
    ignore case, so a name already handed out gets a ``-2``, ``-3``... suffix.
    """

    def __init__(self, reserved: tuple[str, ...] = ()) -> None:
        self._taken = {name.lower() for name in reserved}
        self._given: dict[object, str] = {}

    def __call__(self, key: object, text: str) -> str:
        if key not in self._given:
            base = name = safe_name(text)
            suffix = 2
            while name.lower() in self._taken:
                name, suffix = f"{base}-{suffix}", suffix + 1
            self._taken.add(name.lower())
            self._given[key] = name
        return self._given[key]


def shrink(array: np.ndarray, side: int = GALLERY_SIDE) -> np.ndarray:
    """Downscale ``[..., H, W, C]`` frames or flows to at most ``side`` pixels.

    Averages ``factor × factor`` blocks (integer factor); uint8 stays uint8, float
    stays float (a flow's mean displacement, in pixels of the original frame).
    """
    factor = max(1, array.shape[-3] // side)
    if factor == 1:
        return array
    height, width = array.shape[-3] // factor, array.shape[-2] // factor
    total = np.zeros((*array.shape[:-3], height, width, array.shape[-1]), np.float32)
    for dy in range(factor):
        for dx in range(factor):
            total += array[..., dy : height * factor : factor, dx : width * factor : factor, :]
    total /= factor * factor
    return total.round().astype(np.uint8) if array.dtype == np.uint8 else total


def shrink_mask(mask: np.ndarray | None, side: int = GALLERY_SIDE) -> np.ndarray | None:
    """Subsample a bool ``[H, W]`` mask the way `shrink` scales frames."""
    if mask is None:
        return None
    factor = max(1, mask.shape[0] // side)
    height, width = mask.shape[0] // factor, mask.shape[1] // factor
    return mask[: height * factor : factor, : width * factor : factor]


def write_gif(frames: np.ndarray, path: Path, fps: int = 8) -> Path:
    """Write uint8 ``[T, H, W, 3]`` frames as a looping GIF."""
    # Fast octree quantization: PIL's default median cut takes ~1 s per 256² frame.
    images = [Image.fromarray(frame).quantize(colors=256, method=Image.Quantize.FASTOCTREE) for frame in frames]
    return atomic_write(path, lambda tmp: images[0].save(
        tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0, optimize=False,
    ))


def write_strip(rows: list[np.ndarray], path: Path, gap: int = 4) -> Path:
    """Tile ``STRIP_FRAMES`` evenly spaced frames of each clip, one clip per row, as a PNG."""
    picked = []
    for clip in rows:
        index = np.linspace(0, len(clip) - 1, STRIP_FRAMES).round().astype(int)
        picked.append([clip[i] for i in index])
    height, width = picked[0][0].shape[:2]
    canvas = np.full((len(picked) * (height + gap) - gap, STRIP_FRAMES * (width + gap) - gap, 3), 255, np.uint8)
    for r, frames in enumerate(picked):
        for c, frame in enumerate(frames):
            canvas[r * (height + gap) : r * (height + gap) + height, c * (width + gap) : c * (width + gap) + width] = frame
    return atomic_write(path, lambda tmp: Image.fromarray(canvas).save(tmp, format="PNG"))


def _image(src: Path | None, alt: str, kind: str, missing: str) -> str:
    if src is None:
        return f'<div class="na {kind}">{html.escape(missing)}</div>'
    return f'<img class="{kind}" src="{html.escape(src.as_posix())}" alt="{html.escape(alt)}" loading="lazy">'


def _cell(kind: str, caption: str, clip: str, flow: str, source: ClipSource | None = None, show_seed: bool = False) -> str:
    """One column of a sample: the clip over its flow, captioned; generated clips carry their run and adapter."""
    attrs = f' data-kind="{kind}"'
    if source is not None:
        attrs += f' data-run="{html.escape(source.run)}" data-adapter="{html.escape(source.adapter)}" data-seed="{source.seed}"'
        seed = f" · seed {source.seed}" if show_seed else ""
        caption = f'<span class="adapter">{html.escape(source.adapter)}</span><span class="run">run {html.escape(source.run)}{seed}</span>'
    else:
        caption = f'<span class="adapter">{html.escape(caption)}</span>'
    return f'<figure class="cell"{attrs}>{clip}{flow}<figcaption>{caption}</figcaption></figure>'


def _missing_notes(samples: list[GallerySample]) -> str:
    """One line per split (and reason) whose ground truth is missing, above the samples."""
    notes = list(dict.fromkeys((s.split, s.ground_truth_unavailable) for s in samples if s.ground_truth_unavailable))
    items = "".join(f"<li>{html.escape(split)}: {html.escape(reason)}</li>" for split, reason in notes)
    return f'<div class="gt-missing"><p>Ground truth unavailable here:</p><ul>{items}</ul></div>' if items else ""


def render_gallery(samples: list[GallerySample], site: Path, folder: str = "gallery") -> str:
    """Write the gallery's images under ``site/folder`` and return its HTML.

    ``site/folder`` is emptied first: it belongs to the gallery, and a file left from an
    earlier build could sit under a caption that no longer describes it.

    Args:
        samples: The samples to show, one block each.
        site: The site's root directory.
        folder: Sub-folder for the images (links in the HTML are relative to ``site``).

    Returns:
        An HTML fragment: per sample, one column per clip (context, ground truth, then
        each run's each adapter), the clip above its flow, captioned with run and adapter.
    """
    if not samples:
        return '<p class="na">No clips to show: the run directories hold no videos.</p>'
    if (site / folder).exists():
        shutil.rmtree(site / folder)
    splits = UniqueNames()
    sample_dirs: dict[str, UniqueNames] = {}
    parts = [_render_sample(sample, index, site, Path(folder), splits, sample_dirs) for index, sample in enumerate(samples)]
    legend = (
        "<p>One sample per block, across every run and adapter shown: context, ground truth, then each run's each "
        "model, each clip above its optical flow. Yellow outline: the ground-truth motion area (MA). Flow: hue = "
        "direction, brightness = speed (Farnebäck, one scale per sample; black = still).</p>"
    )
    return legend + _missing_notes(samples) + "\n".join(parts)


def _render_sample(sample: GallerySample, index: int, site: Path, folder: Path, splits: UniqueNames, sample_dirs: dict[str, UniqueNames]) -> str:
    split_dir = splits(sample.split, sample.split)
    # Two blocks of one split and id (runs that disagree on its ground truth) get two folders.
    base = folder / split_dir / sample_dirs.setdefault(split_dir, UniqueNames())(index, sample.sample_id)
    run_dirs = UniqueNames(reserved=_SAMPLE_FILES)
    adapter_files: dict[str, UniqueNames] = {}
    sources = sorted(sample.videos)
    # Everything is drawn at gallery size: full-size GIFs are slow to encode and heavy to load.
    truth = shrink(sample.ground_truth) if sample.ground_truth is not None else None
    clips = {source: shrink(sample.videos[source]) for source in sources}
    flows = {source: shrink(flow) for source, flow in sample.flows.items() if flow is not None and flow.size}
    truth_flow = shrink(sample.ground_truth_flow) if sample.ground_truth_flow is not None and sample.ground_truth_flow.size else None
    mask = shrink_mask(sample.motion_area)
    # One brightness scale for every flow of the sample, so speeds compare by eye.
    every_flow = [*flows.values(), *([truth_flow] if truth_flow is not None else [])]
    scale = max((float(np.percentile(np.hypot(f[..., 0], f[..., 1]), 99)) for f in every_flow), default=0.0)

    def gif(frames: np.ndarray | None, path: Path) -> Path | None:
        if frames is None:
            return None
        write_gif(frames, site / path)
        return path

    def flow_gif(flow: np.ndarray | None, path: Path) -> Path | None:
        return gif(None if flow is None else draw_outline(flow_to_rgb(flow, scale), mask), path)

    no_flow = _image(None, "", "flow", "no flow")
    context = None
    if sample.context is not None:
        context = base / "context.png"
        image = Image.fromarray(draw_outline(shrink(sample.context[None])[0], mask))
        atomic_write(site / context, lambda tmp: image.save(tmp, format="PNG"))
    cells = [_cell("context", "context", _image(context, f"context of {sample.sample_id}", "clip", "not available"), no_flow)]
    truth_label = GROUND_TRUTH + (f" ({sample.ground_truth_source})" if sample.ground_truth_source else "")
    if truth is not None:
        clip = _image(gif(draw_outline(truth, mask), base / "ground_truth.gif"), f"{GROUND_TRUTH} clip of {sample.sample_id}", "clip", "")
        flow = _image(flow_gif(truth_flow, base / "ground_truth-flow.gif"), f"{GROUND_TRUTH} optical flow of {sample.sample_id}", "flow", "no flow")
        cells.append(_cell("ground-truth", truth_label, clip, flow))
    elif sample.ground_truth_unavailable:
        cells.append(_cell("ground-truth", GROUND_TRUTH, _image(None, "", "clip", "ground truth unavailable"), no_flow))
    show_seed = len({source.seed for source in sources}) > 1
    for source in sources:
        run_dir = run_dirs(source.run, source.run)
        stem = base / run_dir / adapter_files.setdefault(run_dir, UniqueNames())(source, source.adapter)
        described = f"{source.adapter} (run {source.run}) clip of {sample.sample_id}"
        clip = _image(gif(draw_outline(clips[source], mask), stem.with_name(stem.name + ".gif")), described, "clip", "")
        flow_path = stem.with_name(stem.name + "-flow.gif")
        flow = _image(flow_gif(flows.get(source), flow_path), f"{source.adapter} (run {source.run}) optical flow of {sample.sample_id}", "flow", "no flow")
        cells.append(_cell("generated", "", clip, flow, source, show_seed))
    strip = ""
    rows = ([(GROUND_TRUTH, truth)] if truth is not None else []) + [(str(source), clips[source]) for source in sources]
    if rows:
        strip_src = base / "strip.png"
        write_strip([draw_outline(clip, mask) for _, clip in rows], site / strip_src)
        listed = ", ".join(name for name, _ in rows)
        strip = f'<p class="strip"><a href="{strip_src.as_posix()}">PNG strip</a> (rows: {html.escape(listed)})</p>'
    title = f"{sample.split} / {sample.sample_id}" + (f" — “{sample.prompt}”" if sample.prompt else "")
    runs = f'<p class="runs">runs: {html.escape(", ".join(sample.runs))}</p>' if sample.runs else ""
    note = f'<p class="note">{html.escape(sample.note)}</p>' if sample.note else ""
    missing = ""
    if sample.ground_truth is None and sample.ground_truth_unavailable:
        missing = f'<p class="gt-missing">ground truth unavailable: {html.escape(sample.ground_truth_unavailable)}</p>'
    return (
        f'<div class="sample" data-split="{html.escape(sample.split)}" data-sample="{html.escape(sample.sample_id)}">'
        f"<h3>{html.escape(title)}</h3>{runs}{note}{missing}"
        f'<div class="cells">{"".join(cells)}</div>{strip}</div>'
    )

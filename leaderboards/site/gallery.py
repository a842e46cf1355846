"""The gallery: context, ground truth and every adapter's clip side by side, with flow.

Clips arrive as arrays (`GallerySample`); reading them from a run directory is the
run store's business (`benchmark.run_gallery`). Each clip becomes an animated GIF with
the GT motion-area outline, each flow an animated GIF coloured by `flow_to_rgb`, and
each sample a PNG strip of a few frames for print.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from leaderboards.site.flow_image import draw_outline, flow_to_rgb

GROUND_TRUTH = "ground truth"
STRIP_FRAMES = 5  # frames per row of the PNG strip
GALLERY_SIDE = 128  # pixels per side of gallery images: a page shows dozens of clips at once


@dataclass
class GallerySample:
    """One sample's clips.

    Attributes:
        split: Split label in the run.
        sample_id: Sample id.
        prompt: Action text ("" if unknown).
        context: uint8 ``[H, W, 3]`` context frame, or None when unavailable.
        ground_truth: uint8 ``[L, H, W, 3]`` target clip, or None.
        motion_area: bool ``[H, W]`` GT motion area, or None.
        videos: Adapter label → uint8 ``[L, H, W, 3]`` generated clip.
        flows: Clip name (adapter label or `GROUND_TRUTH`) → float ``[L-1, H, W, 2]`` flow.
        ground_truth_source: Where the GT came from ("split", or "" when there is none).
        ground_truth_unavailable: Why there is no ground truth ("" when there is); the
            page shows it in place of the ground-truth clip.
    """

    split: str
    sample_id: str
    prompt: str = ""
    context: np.ndarray | None = None
    ground_truth: np.ndarray | None = None
    motion_area: np.ndarray | None = None
    videos: dict[str, np.ndarray] = field(default_factory=dict)
    flows: dict[str, np.ndarray] = field(default_factory=dict)
    ground_truth_source: str = ""
    ground_truth_unavailable: str = ""


def safe_name(text: str) -> str:
    """A file-name-safe version of a label (adapter labels may hold [ ; = ...)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "_"


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
    path.parent.mkdir(parents=True, exist_ok=True)
    # Fast octree quantization: PIL's default median cut takes ~1 s per 256² frame.
    images = [Image.fromarray(frame).quantize(colors=256, method=Image.Quantize.FASTOCTREE) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0, optimize=False)
    return path


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
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(canvas).save(path)
    return path


def _figure(src: str | None, caption: str, alt: str, missing: str = "not available") -> str:
    body = f'<img src="{html.escape(src)}" alt="{html.escape(alt)}" loading="lazy">' if src else f'<div class="na">{html.escape(missing)}</div>'
    return f"<figure>{body}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _missing_notes(samples: list[GallerySample]) -> str:
    """One line per split (and reason) whose ground truth is missing, above the samples."""
    notes = list(dict.fromkeys((s.split, s.ground_truth_unavailable) for s in samples if s.ground_truth_unavailable))
    items = "".join(f"<li>{html.escape(split)}: {html.escape(reason)}</li>" for split, reason in notes)
    return f'<div class="gt-missing"><p>Ground truth unavailable here:</p><ul>{items}</ul></div>' if items else ""


def render_gallery(samples: list[GallerySample], site: Path, folder: str = "gallery") -> str:
    """Write the gallery's images under ``site/folder`` and return its HTML.

    Args:
        samples: The samples to show.
        site: The site's root directory.
        folder: Sub-folder for the images (links in the HTML are relative to ``site``).

    Returns:
        An HTML fragment: one block per sample with a row of clips and a row of flows.
    """
    if not samples:
        return '<p class="na">No clips to show: the run directories hold no videos.</p>'
    parts = []
    for sample in samples:
        base = Path(folder) / safe_name(sample.split) / safe_name(sample.sample_id)
        clips = ([(GROUND_TRUTH, sample.ground_truth)] if sample.ground_truth is not None else []) + list(sample.videos.items())
        # Everything is drawn at gallery size: full-size GIFs are slow to encode and heavy to load.
        clips = [(name, shrink(clip)) for name, clip in clips]
        flows = {name: shrink(flow) for name, flow in sample.flows.items() if flow is not None and flow.size}
        mask = shrink_mask(sample.motion_area)
        # One brightness scale for every flow of the sample, so speeds compare by eye.
        magnitudes = [np.hypot(f[..., 0], f[..., 1]) for f in flows.values()]
        scale = max((float(np.percentile(m, 99)) for m in magnitudes), default=0.0)
        video_cells, flow_cells = [], []
        if sample.context is not None:
            src = base / "context.png"
            (site / src).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(draw_outline(shrink(sample.context[None])[0], mask)).save(site / src)
            video_cells.append(_figure(src.as_posix(), "context", f"context of {sample.sample_id}"))
        else:
            video_cells.append(_figure(None, "context", "context"))
        flow_cells.append(_figure(None, "flow", "flow"))
        if sample.ground_truth is None and sample.ground_truth_unavailable:
            video_cells.append(_figure(None, GROUND_TRUTH, GROUND_TRUTH, missing="ground truth unavailable"))
            flow_cells.append(_figure(None, f"{GROUND_TRUTH} flow", "flow"))
        for name, clip in clips:
            src = base / f"{safe_name(name)}.gif"
            write_gif(draw_outline(clip, mask), site / src)
            label = name if name != GROUND_TRUTH or not sample.ground_truth_source else f"{name} ({sample.ground_truth_source})"
            video_cells.append(_figure(src.as_posix(), label, f"{name} clip of {sample.sample_id}"))
            flow = flows.get(name)
            if flow is None:
                flow_cells.append(_figure(None, f"{name} flow", "flow"))
                continue
            flow_src = base / f"{safe_name(name)}-flow.gif"
            write_gif(draw_outline(flow_to_rgb(flow, scale), mask), site / flow_src)
            flow_cells.append(_figure(flow_src.as_posix(), f"{name} flow", f"{name} optical flow of {sample.sample_id}"))
        strip = ""
        if clips:
            strip_src = base / "strip.png"
            write_strip([draw_outline(clip, mask) for _, clip in clips], site / strip_src)
            names = ", ".join(name for name, _ in clips)
            strip = f'<p class="strip"><a href="{strip_src.as_posix()}">PNG strip</a> (rows: {html.escape(names)})</p>'
        title = f"{sample.split} / {sample.sample_id}" + (f" — “{sample.prompt}”" if sample.prompt else "")
        missing = ""
        if sample.ground_truth is None and sample.ground_truth_unavailable:
            missing = f'<p class="gt-missing">ground truth unavailable: {html.escape(sample.ground_truth_unavailable)}</p>'
        parts.append(
            f'<div class="sample" data-sample="{html.escape(sample.sample_id)}"><h3>{html.escape(title)}</h3>{missing}'
            f'<div class="clips">{"".join(video_cells)}</div><div class="clips flows">{"".join(flow_cells)}</div>{strip}</div>'
        )
    legend = (
        "<p>Yellow outline: the ground-truth motion area (MA). Flow: hue = direction, brightness = speed "
        "(Farnebäck, one scale per sample; black = still).</p>"
    )
    return legend + _missing_notes(samples) + "\n".join(parts)

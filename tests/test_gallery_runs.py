"""A site built from several runs: every gallery cell shows its own run's clip.

Two `hcvg run`s over the same demo samples, both with an adapter labelled ``my-model``
(`static` in one, `oracle` in the other), under directories that are both named
``demo``: the gallery must keep them apart (files, captions, pixels) and show each
sample once, with both runs side by side. A third run over a differently seeded demo
split reuses the sample ids for other clips; the gallery must not pretend they match.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from PIL import Image, ImageSequence

from benchmark.cli.main import main
from benchmark.run_gallery import collect_gallery, distinct_run_names
from benchmark.splits import load_split
from hcvg.errors import UserError
from hcvg.video_io import read_video
from leaderboards.site.flow_image import draw_outline
from leaderboards.site.gallery import ClipSource, GallerySample, render_gallery, shrink, shrink_mask

RUNS = {"a/demo": "static", "b/demo": "oracle"}  # run name on the site → adapter labelled my-model
SAMPLE_IDS = ["demo-0000", "demo-0001"]
FRAME_MS = 125  # `write_gif` at its default 8 fps


def _hcvg_run(out: Path, adapter: str, split: str = "demo:num_samples=2") -> None:
    argv = ["run", "--adapters", f"{adapter}:label=my-model", "--splits", split, "--metrics", "psnr", "--scopes", "full"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    paths = {name: root / name for name in RUNS}
    for name, adapter in RUNS.items():
        _hcvg_run(paths[name], adapter)
    return paths


@pytest.fixture(scope="module")
def site(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    argv = ["leaderboard", "build", "--runs", *map(str, runs.values()), "--out", str(out), "--gallery-samples", "2"]
    assert main(argv) == 0
    return out


def _stored(runs: dict[str, Path], name: str, sample_id: str) -> np.ndarray:
    """The clip the run stored, as the gallery should draw it: at gallery size, motion area outlined."""
    clip = shrink(read_video(runs[name] / "videos" / "my-model" / "demo" / "seed-0" / f"{sample_id}.mkv"))
    return draw_outline(clip, shrink_mask(load_split("demo", num_samples=2).get(sample_id).motion_area))


def _gif(path: Path) -> np.ndarray:
    """The GIF's frames at the gallery's frame rate (PIL merges repeated frames into one longer frame)."""
    frames = []
    for frame in ImageSequence.Iterator(Image.open(path)):
        repeat = max(1, round(frame.info.get("duration", FRAME_MS) / FRAME_MS))
        frames += [np.asarray(frame.convert("RGB"))] * repeat
    return np.stack(frames)


def _error(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of 8×8-block means: blind to GIF palette dithering, not to content."""
    a, b = shrink(a, side=16).astype(np.float32), shrink(b, side=16).astype(np.float32)
    return float(np.abs(a - b).mean())


def test_run_names_are_distinct_and_a_run_given_twice_is_refused(tmp_path):
    assert distinct_run_names([tmp_path / "a" / "demo", tmp_path / "b" / "demo", tmp_path / "c"]) == ["a/demo", "b/demo", "c"]
    with pytest.raises(UserError, match="twice"):
        distinct_run_names([tmp_path / "a", tmp_path / "x" / ".." / "a"])


def test_gallery_shows_each_sample_once_across_runs(runs):
    gallery = collect_gallery(runs, max_samples=2)
    assert not gallery.missing
    assert [s.sample_id for s in gallery.samples] == SAMPLE_IDS
    for sample in gallery.samples:
        assert sample.runs == list(RUNS) and sample.note == "" and sample.ground_truth is not None
        assert sorted(sample.videos) == [ClipSource(name, "my-model", 0) for name in RUNS]
        # The oracle's clip is the ground truth; the static adapter's is not.
        assert np.array_equal(sample.videos[ClipSource("b/demo", "my-model")], sample.ground_truth)
        assert not np.array_equal(sample.videos[ClipSource("a/demo", "my-model")], sample.ground_truth)


def test_runs_that_disagree_on_a_sample_get_separate_blocks(runs, tmp_path):
    other = tmp_path / "c" / "demo"
    _hcvg_run(other, "static", "demo:num_samples=1,seed=1")  # same id demo-0000, other clip
    gallery = collect_gallery({"a/demo": runs["a/demo"], "c/demo": other}, max_samples=1)
    blocks = [s for s in gallery.samples if s.sample_id == "demo-0000"]
    assert [b.runs for b in blocks] == [["a/demo"], ["c/demo"]]
    assert all("does not hold the same ground truth" in b.note for b in blocks)
    assert not np.array_equal(blocks[0].ground_truth, blocks[1].ground_truth)
    html = render_gallery(blocks, tmp_path / "site")
    assert html.count('data-sample="demo-0000"') == 2
    written = sorted(p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").rglob("ground_truth.gif"))
    assert len(written) == 2  # one folder per block, nothing overwritten


def test_labels_that_look_alike_never_share_a_file(tmp_path):
    clip = np.zeros((3, 16, 16, 3), np.uint8)
    # "x y" and "x_y" are both "x_y" as file names; "Model" and "model" on a case-blind disk.
    sources = [ClipSource("x y", "Model"), ClipSource("x y", "model"), ClipSource("x_y", "Model")]
    sample = GallerySample("demo", "s", videos={s: clip + 40 * i for i, s in enumerate(sources)})
    html = render_gallery([sample], tmp_path)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "gallery").rglob("*.gif"))
    assert len(files) == 3 and len({f.lower() for f in files}) == 3
    for i, source in enumerate(sources):
        # Each cell's image is that source's clip (grey level 40 * i), under its own caption.
        cell = re.search(rf'data-run="{source.run}" data-adapter="{source.adapter}"[^>]*><img class="clip" src="([^"]+)"', html)
        assert cell, source
        assert int(_gif(tmp_path / cell.group(1))[0, 0, 0, 0]) == 40 * i, source


def test_site_gallery_cells_show_their_own_runs_clip_in_chromium(runs, site, tmp_path, chromium):
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium
    driver.get((site / "index.html").as_uri())
    driver.execute_script("document.getElementById('gallery').scrollIntoView();")
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(
        "return Array.from(document.querySelectorAll('#gallery img')).every(i => i.complete && i.naturalWidth > 0);"
    ))
    # What the browser shows: per sample block, each generated cell's run, adapter,
    # caption and the clip file it displays (resolved by the browser itself).
    cells = driver.execute_script("""
        return Array.from(document.querySelectorAll('#gallery .sample')).map(b => ({
          sample: b.dataset.sample,
          cells: Array.from(b.querySelectorAll('figure.cell[data-kind=generated]')).map(f => ({
            run: f.dataset.run, adapter: f.dataset.adapter,
            caption: f.querySelector('figcaption').innerText,
            clip: f.querySelector('img.clip').src, shown: f.querySelector('img.clip').naturalWidth}))}));""")
    assert driver.save_screenshot(str(tmp_path / "gallery.png"))
    assert [block["sample"] for block in cells] == SAMPLE_IDS  # one block per sample, both runs in it
    for block in cells:
        assert [(c["run"], c["adapter"]) for c in block["cells"]] == [(name, "my-model") for name in RUNS]
        files = [Path(unquote(urlparse(c["clip"]).path)) for c in block["cells"]]
        assert len(set(files)) == 2 and files[0].read_bytes() != files[1].read_bytes()
        for cell, path in zip(block["cells"], files):
            assert cell["shown"] > 0 and "my-model" in cell["caption"] and cell["run"] in cell["caption"]
            assert path.is_relative_to(site / "gallery")
            shown = _gif(path)
            own = _stored(runs, cell["run"], block["sample"])
            (other,) = [_stored(runs, name, block["sample"]) for name in RUNS if name != cell["run"]]
            assert shown.shape == own.shape
            # The GIF palette moves pixels a little; the other run's clip is far off (a
            # frozen context frame vs the moving ground truth).
            near, far = _error(shown, own), _error(shown, other)
            assert near < 2.0 and far > max(4 * near, 2.0), (cell, near, far)
    shutil.copyfile(tmp_path / "gallery.png", "/tmp/leaderboard_two_runs_gallery.png")


@pytest.mark.parametrize("seconds", [(0.000387, 0.00134, 0.00155, 0.0009), (5.7, 12.0, 108.0, 30.0), (1.02, 1.05, 1.08, 1.06)])
def test_speed_chart_x_labels_do_not_run_together(seconds):
    import pandas as pd

    from leaderboards.site.charts import speed_quality_figure

    rows = [
        {"entry": f"model-{i}", "metric": metric, "value": float(i), "seconds": s, "higher_is_better": True}
        for i, s in enumerate(seconds) for metric in ("psnr", "ssim", "clip-gt")
    ]
    fig, axes, used = speed_quality_figure(pd.DataFrame(rows))
    fig.tight_layout()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in list(axes.flat)[:used]:
        labels = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
        boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda box: box.x0)
        assert len(boxes) >= 2, [t.get_text() for t in labels]
        gaps = [right.x0 - left.x1 for left, right in zip(boxes, boxes[1:])]
        assert min(gaps) > 2, ([t.get_text() for t in labels], gaps)  # pixels of clear space

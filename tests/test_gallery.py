"""The leaderboard gallery rebuilds each split from the run's recorded matrix, or says why not.

A run over a motion-intensive split and a cached, annotated EK-100 split (a clip cache
prepared from synthetic source videos by `hcvg data prepare`, with ``hands=DIR``):
`hcvg leaderboard build` must show both splits' ground truth and motion-area outlines;
on a machine without the cache it must say so and keep the oracle as the oracle.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.cli.main import main
from benchmark.datasets import epic_kitchens
from benchmark.run_gallery import collect_gallery
from benchmark.splits.annotated import HandAnnotationStore
from hcvg.video_io import read_video
from leaderboards.site.gallery import render_gallery, safe_name
from tests.synthetic_videos import ek_scaled_size, write_numbered_video

OUTLINE = (255, 221, 0)  # `draw_outline`'s default colour
MOTION_INTENSIVE = "motion-intensive:base=demo,num_samples=4"  # top 10 % of 4 samples: 1


@pytest.fixture(scope="module")
def cache(shared_data: Path, tmp_path_factory) -> Path:
    """``hcvg data prepare`` of two real EK-100 validation segments from a synthetic P01_11."""
    annotations = shared_data / "epic-kitchens-100-annotations"
    info = epic_kitchens.read_video_info(annotations)
    root = tmp_path_factory.mktemp("ek100")
    size = ek_scaled_size(info.at["P01_11", "resolution"])
    write_numbered_video(root / "P01" / "videos" / "P01_11.MP4", 150, size, float(info.at["P01_11", "fps"]))
    out = tmp_path_factory.mktemp("cache") / "ek100-test"
    argv = ["data", "prepare", "--dataset", "ek100", "--root", str(root), "--annotations", str(annotations), "--split", "validation"]
    assert main([*argv, "--out", str(out), "--videos", "P01_11", "--limit", "2", "--workers", "1", "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def hands(cache: Path, tmp_path_factory) -> Path:
    """Hand annotations in the `hcvg masks build` format, with a known motion area.

    The synthetic sources hold no hands, so the detector would find none and leave
    empty motion areas; the store is written directly instead, with a rectangle.
    """
    store = HandAnnotationStore(tmp_path_factory.mktemp("hands") / "ek100-test")
    ids = [p.stem for p in (cache / "clips").glob("*.mkv")]
    for sample_id in ids:
        mask = np.zeros((256, 256), bool)
        mask[60:180, 40:200] = True
        store.save(sample_id, {"keypoints": np.full((16, 2, 21, 2), np.nan, np.float32), "scores": np.zeros((16, 2), np.float32), "motion_area": mask})
    store.write_index(ids)
    return store.root


@pytest.fixture(scope="module")
def run(cache: Path, hands: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "run"
    cached = f"ek100-test:cache={cache},hands={hands}"
    argv = ["run", "--adapters", "static", "oracle", "--splits", MOTION_INTENSIVE, cached]
    assert main([*argv, "--metrics", "psnr", "--scopes", "full", "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def gallery(run: Path):
    return collect_gallery({"run": run}, max_samples=2)


def _adapters(sample) -> list[str]:
    return sorted(source.adapter for source in sample.videos)


def _clip(sample, adapter: str) -> np.ndarray:
    (clip,) = [clip for source, clip in sample.videos.items() if source.adapter == adapter]
    return clip


def _site(run: Path, out: Path, capsys) -> tuple[int, str, str]:
    code = main(["leaderboard", "build", "--runs", str(run), "--out", str(out), "--gallery-samples", "2"])
    printed = capsys.readouterr().out
    return code, printed, (out / "index.html").read_text(encoding="utf-8")


def test_gallery_shows_ground_truth_and_motion_areas_of_derived_and_cached_splits(run, gallery, cache, tmp_path, capsys):
    code, printed, page = _site(run, tmp_path / "site", capsys)
    assert code == 0 and "unavailable" not in printed and "unavailable" not in page
    assert not gallery.missing
    by_split = {s.split: s for s in gallery.samples}
    assert sorted(by_split) == ["ek100-test", "motion-intensive"]
    for label, sample in by_split.items():
        assert sample.ground_truth_source == "split" and sample.ground_truth.shape == (15, 256, 256, 3), label
        assert sample.context is not None and sample.motion_area is not None and sample.motion_area.any(), label
        # The oracle returns the target: its stored clip is the ground truth, frame for frame.
        assert np.array_equal(sample.ground_truth, _clip(sample, "oracle")), label
        folder = tmp_path / "site" / "gallery" / safe_name(label) / safe_name(sample.sample_id)
        assert {"context.png", "ground_truth.gif", "ground_truth-flow.gif", "strip.png"} <= {p.name for p in folder.iterdir()}
        assert {"oracle.gif", "static.gif"} <= {p.name for p in (folder / "run").iterdir()}
    cached = by_split["ek100-test"]
    clip = read_video(cache / "clips" / f"{cached.sample_id}.mkv")
    assert np.array_equal(cached.context, clip[0]) and np.array_equal(cached.ground_truth, clip[1:])
    assert page.count("ground truth (split)") == len(gallery.samples)


def test_gallery_draws_the_motion_area_outline(gallery, tmp_path):
    samples = gallery.samples
    plain = [dataclasses.replace(s, motion_area=None) for s in samples]
    render_gallery(samples, tmp_path / "outlined")
    render_gallery(plain, tmp_path / "plain")
    for sample in samples:
        folder = Path("gallery") / safe_name(sample.split) / safe_name(sample.sample_id)
        outlined = np.asarray(Image.open(tmp_path / "outlined" / folder / "context.png").convert("RGB"))
        bare = np.asarray(Image.open(tmp_path / "plain" / folder / "context.png").convert("RGB"))
        changed = (outlined != bare).any(axis=-1)
        assert changed.sum() > 100, sample.split  # an outline, not a stray pixel
        assert (outlined[changed] == OUTLINE).all(), sample.split
        assert Image.open(tmp_path / "outlined" / folder / "strip.png").tobytes() != Image.open(tmp_path / "plain" / folder / "strip.png").tobytes()


def test_gallery_without_the_dataset_says_so_and_keeps_the_oracle_apart(run, cache, tmp_path, capsys, caplog):
    moved = tmp_path / "run"
    shutil.copytree(run, moved)
    # The run as seen on a machine where the clip cache lives elsewhere (or nowhere).
    config_path = moved / "run_config.json"
    config = json.loads(config_path.read_text())
    for spec in config["matrix"]["splits"]:
        if spec["name"] == "ek100-test":
            spec["options"]["cache"] = str(tmp_path / "elsewhere" / "ek100-test")
    config_path.write_text(json.dumps(config))
    with caplog.at_level(logging.WARNING, logger="benchmark.run_gallery"):
        code, printed, page = _site(moved, tmp_path / "site", capsys)
    assert code == 0
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "benchmark.run_gallery"]
    assert warned and all("split ek100-test" in w and "hcvg data prepare" in w for w in warned)
    assert "ground truth unavailable for run run, split ek100-test" in printed and "hcvg data prepare" in printed
    assert "motion-intensive" not in printed
    assert "ground truth unavailable: cannot rebuild ek100-test" in page
    samples = {s.split: s for s in collect_gallery({"run": moved}, max_samples=1).samples}
    degraded = samples["ek100-test"]
    assert degraded.ground_truth is None and degraded.motion_area is None and _adapters(degraded) == ["oracle", "static"]
    assert samples["motion-intensive"].ground_truth_source == "split"
    folder = tmp_path / "site" / "gallery" / "ek100-test" / safe_name(degraded.sample_id)
    assert "ground_truth.gif" not in {p.name for p in folder.iterdir()}
    assert "oracle.gif" in {p.name for p in (folder / "run").iterdir()}

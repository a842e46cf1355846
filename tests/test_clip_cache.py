"""The clip cache: `hcvg data prepare` on real EK-100 annotations, `CachedSplit`, resume, report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.cli.data import DataCommand
from hcvg.frames import evenly_spaced_indices
from hcvg.options import OptionError
from benchmark.datasets import epic_kitchens
from benchmark.datasets.clip_cache import CachedSplit, ClipSpec, prepare_cache, read_report
from benchmark.splits import load_split
from hcvg.video_io import read_video
from tests.synthetic_videos import EK_PREPARABLE, EK_SOURCES, build_ek_root, ek_scaled_size, read_stamp

VIDEOS = ",".join([*EK_SOURCES, "P08_17"])  # P08_17 has annotations but no video


def hcvg_data(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hcvg")
    DataCommand().add_to(parser.add_subparsers())
    args = parser.parse_args(["data", *argv])
    return args.command.run(args)


@pytest.fixture(scope="module")
def ek(shared_data: Path, tmp_path_factory) -> dict:
    annotations = shared_data / "epic-kitchens-100-annotations"
    info = epic_kitchens.read_video_info(annotations)
    root = build_ek_root(tmp_path_factory.mktemp("ek100"), info)
    return {"root": root, "annotations": annotations, "info": info}


@pytest.fixture(scope="module")
def cache(ek: dict, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cache") / "ek100-test"
    argv = ["prepare", "--dataset", "ek100", "--root", str(ek["root"]), "--annotations", str(ek["annotations"])]
    argv += ["--split", "validation", "--out", str(out), "--videos", VIDEOS, "--workers", "2", "--no-progress"]
    assert hcvg_data(argv) == 0
    return out


def test_prepare_writes_the_good_clips_and_reports_the_bad(cache: Path):
    index = pd.read_parquet(cache / "index.parquet")
    assert sorted(index["sample_id"]) == sorted(EK_PREPARABLE)
    report = {e["sample_id"]: e for e in read_report(cache)}
    assert report["P28_21_0"]["reason"] == "corrupt-video" and "P28_21.MP4" in report["P28_21_0"]["error"]
    assert report["P04_24_1"]["reason"] == "past-end"  # ends at 100, the video at 95
    assert report["P09_07_1"]["reason"] == "past-end"  # extracted frames end at 130
    assert report["P08_17_0"]["reason"] == "missing-video"
    assert len(report) + len(index) == 363  # every annotated segment of the five videos
    manifest = json.loads((cache / "cache.json").read_text())
    assert (manifest["dataset"], manifest["split"], manifest["sampling"], manifest["size"]) == ("ek100", "test", "even", 256)
    assert manifest["provenance"]["official_split"] == "validation"


def test_index_records_provenance(cache: Path):
    row = pd.read_parquet(cache / "index.parquet").set_index("sample_id").loc["P01_11_1"]
    assert (row["prompt"], row["participant_id"], row["video_id"]) == ("put down plate", "P01", "P01_11")
    assert (row["start_frame"], row["stop_frame"], row["sampling"]) == (93, 147, "even")
    assert list(row["frame_indices"]) == evenly_spaced_indices(93, 147, 16).tolist()
    assert row["source"].endswith("P01/videos/P01_11.MP4") and row["clip"] == "clips/P01_11_1.mkv"


def test_cached_clips_hold_the_sampled_source_frames(cache: Path, ek: dict):
    index = pd.read_parquet(cache / "index.parquet")
    for row in index.itertuples():
        frames = read_video(cache / row.clip)
        assert frames.shape == (16, 256, 256, 3)
        size = ek_scaled_size(ek["info"].at[row.video_id, "resolution"])
        assert [read_stamp(f, size, 256) for f in frames] == list(row.frame_indices)


def test_registered_split_reads_the_cache(cache: Path):
    split = load_split("ek100-test", cache=str(cache))
    assert split.ids() == list(EK_PREPARABLE)  # annotation order
    sample = split.get("P04_24_0")
    assert sample.split == "ek100-test" and sample.prompt == "turn on tap"
    assert sample.context.shape == (256, 256, 3) and sample.target.shape == (15, 256, 256, 3)
    frames = read_video(cache / "clips" / "P04_24_0.mkv")
    assert np.array_equal(sample.context, frames[0]) and np.array_equal(sample.target, frames[1:])
    assert sample.meta["frame_indices"][0] == 22 and sample.meta["verb"] == "turn-on"
    described = split.describe()
    assert described["num_samples"] == 4 and described["num_skipped"] == 359 and described["sampling"] == "even"
    assert len(load_split("ek100-test", cache=str(cache), limit="2")) == 2


def test_registered_splits_explain_a_missing_cache(tmp_path: Path, cache: Path):
    with pytest.raises(FileNotFoundError, match="hcvg data prepare --dataset ek100 .*--split validation"):
        load_split("ek100-test", cache=str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match="cache=DIR"):
        load_split("ek100-train")
    with pytest.raises(ValueError, match="holds ek100/test, not ek100/train"):
        load_split("ek100-train", cache=str(cache))
    with pytest.raises(OptionError, match="split 'ek100-test': unknown option 'sampling' \\(accepted: cache, limit\\)"):
        load_split("ek100-test", cache=str(cache), sampling="even")


def test_prepare_resumes_without_redoing_clips(ek: dict, tmp_path: Path):
    segments, description = epic_kitchens.load_segments(ek["root"], ek["annotations"], "validation")
    chosen = [s for s in segments if s.sample_id in EK_PREPARABLE or s.sample_id == "P28_21_0"]
    first = prepare_cache(chosen[:2], tmp_path, "test", description=description, workers=1, progress=False)
    assert first.prepared == 2
    stamp_before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "clips").glob("*.mkv")}
    second = prepare_cache(chosen, tmp_path, "test", description=description, workers=1, progress=False)
    assert (second.prepared, second.reused, len(second.skipped)) == (len(chosen) - 3, 2, 1)
    assert all((tmp_path / "clips" / n).stat().st_mtime_ns == t for n, t in stamp_before.items())
    assert len(CachedSplit(tmp_path)) == 4 and not list((tmp_path / "parts" / "index").glob("*"))
    with pytest.raises(ValueError, match="sampling: cache has 'even', asked 'end-8fps'"):
        prepare_cache(chosen, tmp_path, "test", ClipSpec(sampling="end-8fps"), workers=1, progress=False)


def test_an_interrupted_run_keeps_its_flushed_rows(ek: dict, tmp_path: Path):
    segments, description = epic_kitchens.load_segments(ek["root"], ek["annotations"], "validation")
    chosen = [s for s in segments if s.sample_id in EK_PREPARABLE]
    prepare_cache(chosen, tmp_path, "test", description=description, workers=1, progress=False)
    # A killed run leaves rows in parts/ and no consolidated index: they still count.
    index = pd.read_parquet(tmp_path / "index.parquet")
    (tmp_path / "index.parquet").unlink()
    (tmp_path / "parts" / "index").mkdir(parents=True, exist_ok=True)
    index.to_parquet(tmp_path / "parts" / "index" / "1-1.parquet")
    assert len(CachedSplit(tmp_path)) == 4
    again = prepare_cache(chosen, tmp_path, "test", description=description, workers=1, progress=False)
    assert (again.prepared, again.reused) == (0, 4)

"""Bad inputs fail their sample, named with its adapter, recorded; the run goes on (issue 15, item 5).

The corpus is made here: videos a `folder` model might hand in (truncated, corrupt,
wrong frame count or size, grayscale, RGBA, 16-bit), samples with a blank prompt or an
empty motion area, and test adapters that raise, hang, return the wrong shape or NaN /
inf floats. A full disk is injected at the write layer (fsync raising ENOSPC).
"""

from __future__ import annotations

import errno
import os
import threading
from typing import ClassVar

import av
import numpy as np
import pandas as pd
import pytest

from benchmark.run_config import ComponentSpec, RunConfig
from benchmark.runner import Runner
from hcvg.adapter import Adapter, Capabilities
from hcvg.atomic import DiskFullError
from hcvg.registry import Registry
from hcvg.splits import InMemorySplit
from hcvg.video_io import read_video, write_video_lossless
from tests.conftest import moving_square_sample
from tests.test_runner import registries

METRICS = ["psnr", "background-fidelity"]


def _write(path, frames, codec, pix_fmt, frame_format):
    """Encode ``frames`` with PyAV in ``pix_fmt`` (FFV1 in Matroska)."""
    with av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream(codec, rate=8)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format=frame_format)))
        container.mux(stream.encode())


def _samples():
    good = [moving_square_sample(f"s{i}", seed=i) for i in range(8)]
    blank = moving_square_sample("blank-prompt", seed=20)
    blank = type(blank)(**{**blank.__dict__, "prompt": "  \t "})
    no_ma = moving_square_sample("empty-ma", seed=21)
    no_ma = type(no_ma)(**{**no_ma.__dict__, "motion_area": np.zeros_like(no_ma.motion_area)})
    return good, blank, no_ma


def _folder_corpus(root, samples):
    """One video per sample, most of them bad in one way; returns the ids expected to be scored."""
    root.mkdir()
    by_id = {s.id: s for s in samples}
    for sample in samples:
        write_video_lossless(root / f"{sample.id}.mkv", sample.target)
    data = (root / "s1.mkv").read_bytes()
    (root / "s1.mkv").write_bytes(data[: len(data) // 2])  # truncated
    (root / "s2.mkv").write_bytes(b"\x1aE\xdf\xa3 not a matroska file" * 8)  # corrupt
    write_video_lossless(root / "s3.mkv", by_id["s3"].target[:10])  # wrong frame count
    write_video_lossless(root / "s4.mkv", by_id["s4"].target[:, :32, :32])  # wrong size
    grey = by_id["s5"].target.mean(axis=-1).astype(np.uint8)
    _write(root / "s5.mkv", grey, "ffv1", "gray", "gray")  # grayscale: refused (color=require)
    rgba = np.concatenate([by_id["s6"].target, np.full((*by_id["s6"].target.shape[:3], 1), 255, np.uint8)], axis=-1)
    _write(root / "s6.mkv", rgba, "ffv1", "bgra", "rgba")  # opaque RGBA: converted
    # 16-bit: rounding v * 255 / 65535 gives the 8-bit clip back exactly; truncating (FFmpeg's rgb24) would not.
    deep = by_id["s7"].target.astype(np.uint16) * 257 + 100
    _write(root / "s7.mkv", deep, "ffv1", "gbrp16le", "rgb48le")  # converted
    return {"s0", "s6", "s7", "empty-ma"}


class MisbehavingAdapter(Adapter):
    """Fails on some samples in the ways a model's output goes wrong."""

    name: ClassVar[str] = "misbehaving"
    capabilities: ClassVar[Capabilities] = Capabilities(max_batch_size=4)

    def generate(self, requests):
        out = []
        for r in requests:
            video = np.repeat(r.context[None], r.num_frames, axis=0)
            if r.sample_id == "s1":
                raise RuntimeError("CUDA error: an illegal memory access (simulated)")
            if r.sample_id == "s2":
                video = video[:, :-1]  # wrong shape
            if r.sample_id == "s3":
                video = video.astype(np.float32)
                video[0, 0, 0, 0] = np.nan
            if r.sample_id == "s4":
                video = video.astype(np.float32)
                video[0, 0, 0, 0] = np.inf
            out.append(video)
        return out


class HangingAdapter(Adapter):
    """Never returns on a batch holding ``s1``, until the test releases it."""

    name: ClassVar[str] = "hanging"
    capabilities: ClassVar[Capabilities] = Capabilities(max_batch_size=2)
    release: ClassVar[threading.Event] = threading.Event()
    closed: ClassVar[list[bool]] = []

    def generate(self, requests):
        if any(r.sample_id == "s1" for r in requests):
            type(self).release.wait(60)
        return [np.repeat(r.context[None], r.num_frames, axis=0) for r in requests]

    def close(self):
        type(self).closed.append(True)


def _runner(tmp_path, samples, adapters, out="run", resume=False, **config):
    adapter_registry, _ = registries(samples)
    adapter_registry.register("misbehaving", MisbehavingAdapter)
    adapter_registry.register("hanging", HangingAdapter)
    split_registry = Registry("split")
    split_registry.register("corpus", lambda: InMemorySplit("corpus", samples))
    run_config = RunConfig(out=tmp_path / out, adapters=adapters, splits=[ComponentSpec("corpus")], metrics=METRICS,
                           batch_size=4, bootstrap_resamples=50, **config)
    return Runner(run_config, resume=resume, adapters=adapter_registry, splits=split_registry, progress=False)


def _failure(failures, adapter, sample):
    found = [f for f in failures if f.get("adapter") == adapter and f.get("sample") == sample]
    assert found, f"no failure recorded for adapter {adapter!r}, sample {sample!r}"
    return found[0]["error"]


def test_bad_input_corpus_is_recorded_per_sample_and_every_good_sample_is_scored(tmp_path):
    good, blank, no_ma = _samples()
    samples = [*good, blank, no_ma]
    scored_folder = _folder_corpus(tmp_path / "model_out", samples) - {"blank-prompt"}
    folder = ComponentSpec("folder", {"root": str(tmp_path / "model_out")}, label="their-model")
    result = _runner(tmp_path, samples, [folder, "misbehaving", "static"]).run()
    failures = result.failures

    # folder: each bad file is one readable failure naming the sample and the file.
    expected = {"s1": "truncated", "s2": "cannot", "s3": "frame", "s4": "size", "s5": "grayscale"}
    for sample_id, word in expected.items():
        error = _failure(failures, "their-model", sample_id)
        assert word in error.lower() and f"{sample_id}.mkv" in error, error
    # misbehaving adapter: raised, wrong shape, NaN, inf; each names adapter and sample.
    for sample_id, word in {"s1": "illegal memory access", "s2": "shape", "s3": "NaN", "s4": "inf"}.items():
        error = _failure(failures, "misbehaving", sample_id)
        assert word in error and "'misbehaving'" in error and f"'{sample_id}'" in error, error
    # A blank prompt is refused before generation, for every adapter, naming the sample.
    for adapter in ("their-model", "misbehaving", "static"):
        error = _failure(failures, adapter, "blank-prompt")
        assert "prompt" in error and "'blank-prompt'" in error and f"'{adapter}'" in error, error

    scores = result.scores
    ok = scores[scores.status == "ok"]
    assert set(ok[ok.adapter == "their-model"].sample_id) == scored_folder
    assert set(ok[ok.adapter == "misbehaving"].sample_id) == {"s0", "s5", "s6", "s7", "empty-ma"}
    assert set(ok[ok.adapter == "static"].sample_id) == {s.id for s in good} | {"empty-ma"}
    # The converted 16-bit clip is exactly its 8-bit source (explicit rounding), and says so.
    stored = read_video(result.store.video_path("their-model", "corpus", 0, "s7"))
    np.testing.assert_array_equal(stored, good[7].target)
    np.testing.assert_array_equal(read_video(result.store.video_path("their-model", "corpus", 0, "s6")), good[6].target)
    conversions = result.store.read_config()["adapters"]["their-model"]["conversions"]
    assert "16-bit" in conversions["s7"] and "alpha" in conversions["s6"]
    # An empty motion area: its `ma` cells are a documented undefined value, never NaN in the summary.
    empty = scores[(scores.sample_id == "empty-ma") & (scores.scope == "ma")]
    assert (empty.status == "undefined").all() and empty.note.str.contains("empty").all()
    assert result.summary["value"].notna().all()
    assert ((result.summary.adapter == "static") & (result.summary.scope == "full")).any()


def test_transparent_rgba_is_refused_and_opaque_rgba_converted(tmp_path):
    sample = moving_square_sample("s0")
    root = tmp_path / "model_out"
    root.mkdir()
    rgba = np.concatenate([sample.target, np.full((*sample.target.shape[:3], 1), 255, np.uint8)], axis=-1)
    rgba[0, 0, 0, 3] = 128
    _write(root / "s0.mkv", rgba, "ffv1", "bgra", "rgba")
    folder = ComponentSpec("folder", {"root": str(root)}, label="m")
    result = _runner(tmp_path, [sample], [folder]).run()
    assert "not opaque" in _failure(result.failures, "m", "s0")
    assert result.scores.empty


def test_a_hung_batch_times_out_its_adapter_is_abandoned_and_the_run_goes_on(tmp_path):
    good, _, _ = _samples()
    samples = good[:4]
    HangingAdapter.release.clear()
    HangingAdapter.closed.clear()
    try:
        result = _runner(tmp_path, samples, ["hanging", "static"], generate_timeout=1.0).run()
    finally:
        HangingAdapter.release.set()  # lets the abandoned thread end
    failures = result.failures
    ok = result.scores[result.scores.status == "ok"]
    # Batches of 2: [s0, s1] hangs (both fail, named); the later batches are not tried on the hung adapter.
    assert set(ok[ok.adapter == "hanging"].sample_id) == set()
    for sample_id in ("s0", "s1"):
        error = _failure(failures, "hanging", sample_id)
        assert "GenerateTimeout" in error and "did not return within 1 s" in error and f"'{sample_id}'" in error
    for sample_id in ("s2", "s3"):
        assert "timed out on an earlier batch" in _failure(failures, "hanging", sample_id)
    assert HangingAdapter.closed == [True]
    assert set(ok[ok.adapter == "static"].sample_id) == {s.id for s in samples}
    # --resume retries what was not generated, now that the adapter answers.
    resumed = _runner(tmp_path, samples, ["hanging", "static"], resume=True, generate_timeout=5.0).run()
    assert resumed.complete


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    good, _, _ = _samples()
    return _runner(tmp_path_factory.mktemp("reference"), good[:3], ["static", "oracle"]).run()


# The disk fills up after this many fsyncs: while scoring (a ledger part); in the slow suite also while
# generating (a video) and finalizing (ledger.parquet).
@pytest.mark.parametrize("writes", [pytest.param(2, marks=pytest.mark.slow), 8, pytest.param(20, marks=pytest.mark.slow)])
def test_a_full_disk_stops_cleanly_and_a_resume_completes_the_run_identically(tmp_path, monkeypatch, reference_run, writes):
    good, _, _ = _samples()
    samples = good[:3]
    reference = reference_run

    real_fsync, calls = os.fsync, []

    def fsync_until_full(fd):
        calls.append(fd)
        if len(calls) > writes:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_until_full)
    with pytest.raises(DiskFullError, match=r"disk full while writing .+; nothing was half-written: free space and run .*--resume") as stop:
        _runner(tmp_path, samples, ["static", "oracle"]).run()
    root = tmp_path / "run"
    assert stop.value.path.is_relative_to(root)
    assert not [p for p in root.rglob("*.tmp")], "a temporary file was left behind"
    assert not (root / "summary.parquet").exists()

    monkeypatch.setattr(os, "fsync", real_fsync)  # space freed
    resumed = _runner(tmp_path, samples, ["static", "oracle"], resume=True).run()
    assert resumed.complete
    columns = ["adapter", "split", "seed", "sample_id", "metric", "scope", "value", "status"]
    pd.testing.assert_frame_equal(resumed.scores[columns], reference.scores[columns])
    pd.testing.assert_frame_equal(resumed.summary, reference.summary)


def test_generate_timeout_is_a_run_option_and_must_be_positive(tmp_path):
    import argparse

    from benchmark.cli.run import RunCommand
    from hcvg.errors import InvalidInputError

    parser = argparse.ArgumentParser(prog="hcvg")
    RunCommand().add_to(parser.add_subparsers())
    args = parser.parse_args(["run", "--adapters", "static", "--out", str(tmp_path / "r"), "--generate-timeout", "2.5"])
    config = args.command.config_from(args)
    assert config.generate_timeout == 2.5
    assert "generate_timeout" not in config.matrix()  # a deadline does not change any number: resumable under another
    with pytest.raises(InvalidInputError, match="generate_timeout must be > 0"):
        RunConfig(out=tmp_path / "r", adapters=["static"], splits=["demo"], metrics=["psnr"], generate_timeout=0)

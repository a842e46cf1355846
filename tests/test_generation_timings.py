"""Generation time per clip lands in the run's timings and regenerates the paper's timing table."""

import math
import time
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from benchmark.cli.main import main
from benchmark.device_timer import DeviceTimer
from hcvg.adapter import Adapter, Capabilities
from leaderboards.markdown import generation_seconds
from tests.test_runner import make_runner, registries


class PacedAdapter(Adapter):
    """Takes a known time per batch, so its recorded seconds per clip can be checked."""

    name: ClassVar[str] = "paced"
    capabilities: ClassVar[Capabilities] = Capabilities(max_batch_size=2)
    batch_seconds: ClassVar[float] = 0.2

    def generate(self, requests):
        time.sleep(self.batch_seconds)
        return [np.repeat(r.context[None], r.num_frames, axis=0) for r in requests]


@pytest.fixture
def paced_run(tmp_path, square_samples, monkeypatch):
    import tests.test_runner as runner_tests

    def with_paced(samples):
        adapters, splits = registries(samples)
        adapters.register("paced", PacedAdapter)
        return adapters, splits

    monkeypatch.setattr(runner_tests, "registries", with_paced)
    result = make_runner(tmp_path, square_samples, ["paced", "static"], metrics=["psnr"]).run()
    assert result.failures == []
    return tmp_path / "run"


def test_each_generated_clip_has_its_seconds_and_device_columns(paced_run):
    timings = pd.read_parquet(paced_run / "timings.parquet")
    paced = timings[(timings.adapter == "paced") & (timings.stage == "generate")]
    assert sorted(paced.sample_id) == ["sq-0", "sq-1", "sq-2", "sq-3"]
    assert {"seconds", "seconds_synchronized", "peak_device_bytes", "batch_size"} <= set(paced.columns)
    # Batches of 2, each 0.2 s: a clip's share is at least 0.1 s.
    assert (paced["batch_size"] == 2).all()
    assert (paced["seconds"] >= PacedAdapter.batch_seconds / 2).all()
    # No CUDA here: nothing to synchronize, no device memory.
    assert paced["seconds_synchronized"].isna().all() and paced["peak_device_bytes"].isna().all()


def test_the_paper_timing_table_regenerates_from_a_run(paced_run, capsys):
    code = main(["tables", "--paper", "timings", "--run", str(paced_run), "--split-as", "ek100-test=squares",
                 "--as", "handi=paced", "--compare", "--format", "csv"])
    assert code == 0
    out = capsys.readouterr().out
    header, *rows = out.splitlines()
    assert header.split(",")[3:6] == ["s/clip", "s/clip (paper)", "s/clip (diff)"]
    handi = next(row.split(",") for row in rows if row.split(",")[1] == "HANDI")
    assert handi[2] == "paced" and handi[4] == "8.6"  # our adapter's number beside the published one
    # Batches of 2 taking 0.2 s each: 0.1 s per clip (printed to one decimal, as the paper).
    assert 0.1 <= float(handi[3]) < 1.0 and float(handi[5]) == pytest.approx(float(handi[3]) - 8.6, abs=0.051)


def test_synchronized_seconds_are_preferred_where_measured():
    timings = pd.DataFrame({
        "adapter": ["gpu", "gpu", "cpu"], "stage": ["generate", "generate", "generate"],
        "seconds": [1.0, 1.0, 2.0], "seconds_synchronized": [3.0, 5.0, float("nan")],
    })
    seconds = generation_seconds(timings).set_index("adapter")["clip_seconds"]
    assert list(seconds["gpu"]) == [3.0, 5.0] and seconds["cpu"] == 2.0


def test_device_timer_measures_wall_time_and_leaves_device_columns_empty_off_cuda():
    with DeviceTimer() as timer:
        time.sleep(0.05)
    row = timer.per_clip(2)
    assert row["seconds"] >= 0.025
    assert math.isnan(row["seconds_synchronized"]) and math.isnan(row["peak_device_bytes"])


@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="needs a CUDA device")
def test_device_timer_waits_for_queued_cuda_work_and_reads_peak_memory():  # pragma: no cover - GPU only
    import torch

    x = torch.randn(4096, 4096, device="cuda")
    with DeviceTimer() as timer:
        for _ in range(20):
            x = x @ x
            x = x / x.norm()
    assert timer.synchronized_s >= timer.wall_s and timer.peak_device_bytes >= x.numel() * 4

"""`hcvg run` under torchrun: ranks as shards of one run, merged by rank 0; a dead rank is named, not waited for.

The end-to-end tests launch real worker processes with ``python -m torch.distributed.run``
(the test environment's torch) on gloo, on the demo split with cheap adapters and metrics,
and compare summary.parquet and scores.parquet with a single-process run of the same matrix.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from benchmark.distributed import (
    CONFIG_KEY,
    DistributedContext,
    DistributedRunError,
    StatusBoard,
    check_distributed_out,
    rank_dir,
)
from benchmark.run_matrix import run_config_from_dict
from benchmark.runner import Runner
from hcvg.errors import InvalidInputError

ROOT = Path(__file__).resolve().parent.parent
DIES = ROOT / "tests" / "programs" / "ddp_rank_dies.py"
# Process startup (torch, torchmetrics) is most of a run here; a hang would be far longer.
LAUNCH_TIMEOUT_S = 600


# -- launcher environment ----------------------------------------------------------------


def test_context_is_none_outside_a_group():
    assert DistributedContext.from_environ({}) is None
    assert DistributedContext.from_environ({"WORLD_SIZE": "1", "RANK": "0"}) is None


def test_context_reads_what_torchrun_sets():
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}
    context = DistributedContext.from_environ(env)
    assert (context.rank, context.world_size, context.local_rank, context.local_world_size) == (3, 4, 1, 4)
    assert DistributedContext.from_environ({**env, "LOCAL_WORLD_SIZE": "2"}).local_world_size == 2
    assert str(context.shard) == "3/4"


def test_context_names_a_missing_rendezvous_variable():
    with pytest.raises(InvalidInputError, match="MASTER_PORT is not set"):
        DistributedContext.from_environ({"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1"})
    with pytest.raises(InvalidInputError, match="RANK=2 is outside"):
        DistributedContext.from_environ({"RANK": "2", "WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"})


# -- the run directory ------------------------------------------------------------------


def test_a_single_process_run_is_not_taken_over_by_ranks(tmp_path):
    (tmp_path / "run_config.json").write_text('{"matrix": {}}')
    with pytest.raises(DistributedRunError, match="holds a single-process run"):
        check_distributed_out(tmp_path, 2)


def test_a_run_of_another_number_of_ranks_is_refused(tmp_path):
    (tmp_path / "run_config.json").write_text(f'{{"{CONFIG_KEY}": {{"world_size": 2}}}}')
    check_distributed_out(tmp_path, 2)
    with pytest.raises(DistributedRunError, match="was run by 2 ranks, not 3.*--nproc-per-node 2"):
        check_distributed_out(tmp_path, 3)
    (tmp_path / "run_config.json").unlink()
    rank_dir(tmp_path, 0, 4).mkdir(parents=True)
    with pytest.raises(DistributedRunError, match="rank-0-of-4"):
        check_distributed_out(tmp_path, 2)


# -- heartbeats --------------------------------------------------------------------------


def test_a_rank_whose_heartbeat_stops_is_named(tmp_path):
    dead = StatusBoard(tmp_path, rank=1, world_size=2, timeout=0.5, heartbeat_every=0.05)
    dead.beat()  # once, then never again: the process is gone
    survivor = StatusBoard(tmp_path, rank=0, world_size=2, timeout=0.5, heartbeat_every=0.05)
    survivor.post("rank-0", {"ok": True})
    with pytest.raises(DistributedRunError, match="rank 1 of 2 stopped answering while rank 0 waited for the results"):
        survivor.wait_for({"rank-0": 0, "rank-1": 1}, "the results")


def test_a_slow_rank_that_beats_is_waited_for(tmp_path):
    """Working longer than the timeout is not dying: only silence is."""
    slow = StatusBoard(tmp_path, rank=1, world_size=2, timeout=0.3, heartbeat_every=0.05)
    slow.start_heartbeat()

    def finish_late():
        time.sleep(1.2)  # four timeouts of work, beating all along
        slow.post("rank-1", {"ok": True, "n": 7})

    worker = threading.Thread(target=finish_late)
    worker.start()
    try:
        waiting = StatusBoard(tmp_path, rank=0, world_size=2, timeout=0.3, heartbeat_every=0.05)
        assert waiting.wait_for({"rank-1": 1}, "rank 1")["rank-1"] == {"ok": True, "n": 7}
    finally:
        worker.join()
        slow.stop_heartbeat()


# -- end to end under torchrun -----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun(nproc: int, program: list[str], args: list[str]) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run --nproc-per-node N PROGRAM run ARGS`` from the repository root."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
               "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), *program, "run", *args, "--no-progress"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S)


def _matrix_flags(adapters, num_samples, metrics, scopes) -> list[str]:
    return ["--adapters", *adapters, "--splits", f"demo:num_samples={num_samples}", "--metrics", *metrics, "--scopes", *scopes]


def _single_process(out: Path, adapters, num_samples, metrics, scopes) -> None:
    config = run_config_from_dict({"out": out, "adapters": list(adapters), "splits": [f"demo:num_samples={num_samples}"],
                                   "metrics": list(metrics), "scopes": list(scopes)})
    result = Runner(config, progress=False).run()
    assert result.complete, result.new_failures


def _assert_same_results(single: Path, distributed: Path) -> None:
    for table in ("summary", "scores"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(distributed / f"{table}.parquet"), pd.read_parquet(single / f"{table}.parquet"), check_exact=True
        )


def _check_matrix(tmp_path, nproc, adapters, num_samples, metrics, scopes) -> Path:
    out = tmp_path / "ddp"
    done = _torchrun(nproc, ["-m", "benchmark.cli.main"], [*_matrix_flags(adapters, num_samples, metrics, scopes), "--out", str(out)])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    _single_process(tmp_path / "single", adapters, num_samples, metrics, scopes)
    _assert_same_results(tmp_path / "single", out)
    return out


def test_two_ranks_under_torchrun_equal_one_process(tmp_path):
    # demo-0000 hashes to rank 0 and demo-0001 to rank 1: both ranks work.
    out = _check_matrix(tmp_path, 2, ["static"], 2, ["psnr"], ["full"])
    owned = [set(pd.read_parquet(rank_dir(out, rank, 2) / "scores.parquet")["sample_id"]) for rank in (0, 1)]
    assert owned == [{"demo-0000"}, {"demo-0001"}], "each rank must score its own shard, and only it"
    assert not (out / "ranks" / "status").exists(), "the status files outlived the run"


@pytest.mark.slow
def test_two_ranks_full_demo_matrix_equal_one_process_and_resume(tmp_path):
    adapters, metrics, scopes = ["static", "oracle"], ["psnr", "ssim"], ["full", "ma"]
    out = _check_matrix(tmp_path, 2, adapters, 4, metrics, scopes)
    again = _torchrun(2, ["-m", "benchmark.cli.main"], [*_matrix_flags(adapters, 4, metrics, scopes), "--out", str(out), "--resume"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert "clips generated now: 0; cells scored now: 0" in again.stdout
    _assert_same_results(tmp_path / "single", out)


@pytest.mark.slow
def test_more_ranks_than_samples(tmp_path):
    """One sample, two ranks: rank 1 has nothing to do and still joins every barrier."""
    out = _check_matrix(tmp_path, 2, ["static"], 1, ["psnr"], ["full"])
    assert not list((rank_dir(out, 1, 2) / "videos").rglob("*.mkv"))


@pytest.mark.slow
def test_a_rank_that_dies_makes_the_others_stop_naming_it(tmp_path):
    # A hang would end in subprocess.TimeoutExpired: the survivors must stop on their own.
    done = _torchrun(2, [str(DIES)], [*_matrix_flags(["dies-on-rank-1"], 2, ["psnr"], ["full"]),
                                      "--out", str(tmp_path / "ddp"), "--dist-timeout", "5"])
    assert done.returncode != 0
    assert "rank 1 of 2 stopped answering while rank 0 waited for the ranks' results" in done.stderr, done.stderr[-3000:]


@pytest.mark.slow
def test_accelerate_launch_equals_one_process(tmp_path):
    """`accelerate launch --multi_gpu` starts torchrun's workers, on CPU too (``--cpu`` would start one process)."""
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--main_process_ip", "127.0.0.1", "--main_process_port", str(_free_port()), "--mixed_precision", "no",
               "--dynamo_backend", "no", "-m", "benchmark.cli.main", "run", *_matrix_flags(["static"], 2, ["psnr"], ["full"]),
               "--out", str(out), "--no-progress"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (rank_dir(out, 1, 2) / "run_config.json").is_file(), "accelerate started a single process"
    _single_process(tmp_path / "single", ["static"], 2, ["psnr"], ["full"])
    _assert_same_results(tmp_path / "single", out)

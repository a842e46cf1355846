"""The run lock (`benchmark.run_lock`): one writer per run directory, stale locks taken over safely."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from benchmark.cli.main import main
from benchmark.run_lock import LOCK_FILE, UNREADABLE_GRACE_S, LockRecord, RunLock, RunLockedError, process_start_time
from hcvg.adapter import Adapter, Capabilities
from tests.test_runner import make_runner

ROOT = Path(__file__).resolve().parents[1]


def write_lock(run: Path, **changes) -> LockRecord:
    """Write ``run/.lock`` as another holder would: this process's record with ``changes``."""
    record = dataclasses.replace(LockRecord.for_this_process(), **changes)
    run.mkdir(parents=True, exist_ok=True)
    (run / LOCK_FILE).write_text(record.to_json())
    return record


def held_token(run: Path) -> str:
    return json.loads((run / LOCK_FILE).read_text())["token"]


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_lock_records_its_holder_and_is_removed_on_release(tmp_path):
    with RunLock.acquire(tmp_path) as lock:
        record = json.loads((tmp_path / LOCK_FILE).read_text())
        assert record["pid"] == os.getpid() and record["hostname"] == socket.gethostname()
        assert record["token"] == lock.record.token and len(record["token"]) == 32
        assert record["started"].endswith("Z")
        if Path("/proc/self/stat").exists():
            assert record["process_start"] == process_start_time(os.getpid())
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_live_holder_is_refused_with_its_pid_host_and_start(tmp_path):
    with RunLock.acquire(tmp_path) as first:
        with pytest.raises(RunLockedError) as refused:
            RunLock.acquire(tmp_path)
        message = str(refused.value)
        assert f"pid {os.getpid()} on host {socket.gethostname()}, since {first.record.started}" in message
        assert f"kill {os.getpid()}" in message and "--resume" in message
        # --break-lock does not override a process that is alive on this host.
        with pytest.raises(RunLockedError):
            RunLock.acquire(tmp_path, break_lock=True)
        assert held_token(tmp_path) == first.record.token


def test_a_lock_of_a_dead_process_is_taken_over(tmp_path, caplog):
    stale = write_lock(tmp_path, pid=dead_pid())
    with RunLock.acquire(tmp_path) as lock:
        assert held_token(tmp_path) == lock.record.token != stale.token
    assert "is not running" in caplog.text and f"pid {stale.pid}" in caplog.text
    assert not (tmp_path / LOCK_FILE).exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_reused_pid_is_told_apart_by_its_start_time(tmp_path, caplog):
    # Our own pid is alive; a recorded start time that differs means another process had it.
    start = process_start_time(os.getpid())
    if start is None:
        pytest.skip("no /proc here: a reused pid cannot be told apart")
    write_lock(tmp_path, process_start=start - 1)
    with RunLock.acquire(tmp_path) as lock:
        assert held_token(tmp_path) == lock.record.token
    assert "belongs to another process" in caplog.text


def test_a_lock_from_another_boot_is_stale(tmp_path, caplog):
    if LockRecord.for_this_process().boot_id is None:
        pytest.skip("no boot id here")
    write_lock(tmp_path, boot_id="00000000-0000-0000-0000-000000000000")
    with RunLock.acquire(tmp_path):
        pass
    assert "rebooted" in caplog.text


def test_another_hosts_lock_needs_break_lock(tmp_path, caplog):
    other = write_lock(tmp_path, hostname="gpu-node-17", pid=dead_pid())
    with pytest.raises(RunLockedError) as refused:
        RunLock.acquire(tmp_path)
    message = str(refused.value)
    assert f"pid {other.pid} on host gpu-node-17, since {other.started}" in message
    assert "--break-lock" in message
    assert held_token(tmp_path) == other.token  # untouched
    with RunLock.acquire(tmp_path, break_lock=True) as lock:
        assert held_token(tmp_path) == lock.record.token
    assert "--break-lock was given" in caplog.text


def test_an_unreadable_lock_is_waited_for_then_taken_over(tmp_path):
    lock_path = tmp_path / LOCK_FILE
    lock_path.write_text('{"pid": 12')  # a holder killed between creating the file and filling it
    old = time.time() - UNREADABLE_GRACE_S - 1
    os.utime(lock_path, (old, old))
    with RunLock.acquire(tmp_path) as lock:
        assert held_token(tmp_path) == lock.record.token


def test_release_leaves_a_lock_that_is_no_longer_ours(tmp_path):
    lock = RunLock.acquire(tmp_path)
    other = write_lock(tmp_path, hostname="elsewhere")  # broken and retaken by another host meanwhile
    lock.release()
    assert held_token(tmp_path) == other.token


def test_of_processes_racing_for_a_stale_lock_exactly_one_wins(tmp_path):
    write_lock(tmp_path, pid=dead_pid())
    program = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from benchmark.run_lock import RunLock, RunLockedError
        while time.time() < float(sys.argv[1]):
            pass
        try:
            lock = RunLock.acquire({str(tmp_path)!r})
        except RunLockedError:
            print("refused", flush=True)
        else:
            print("won", flush=True)
            time.sleep(0.5)  # hold it while the others look
            lock.release()
    """)
    start = time.time() + 0.8  # all of them start acquiring at once
    racers = [subprocess.Popen([sys.executable, "-c", program, str(start)], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outcomes = sorted(r.communicate(timeout=60)[0].strip() for r in racers)
    assert outcomes == ["refused", "refused", "won"]
    assert not (tmp_path / LOCK_FILE).exists()


class InterruptingAdapter(Adapter):
    """Stands for a user pressing Ctrl-C during generation."""

    name: ClassVar[str] = "interrupting"
    capabilities: ClassVar[Capabilities] = Capabilities()

    def generate(self, requests):
        raise KeyboardInterrupt


def test_the_runner_releases_its_lock_on_ctrl_c(tmp_path, square_samples):
    runner = make_runner(tmp_path, square_samples[:1], [InterruptingAdapter.name], metrics=["background-motion"])
    runner.adapter_registry.register(InterruptingAdapter.name, InterruptingAdapter)
    with pytest.raises(KeyboardInterrupt):
        runner.run()
    assert (tmp_path / "run").is_dir() and not (tmp_path / "run" / LOCK_FILE).exists()


def test_the_runner_releases_its_lock_on_an_error(tmp_path, square_samples):
    runner = make_runner(tmp_path, square_samples[:1], ["statik"], metrics=["background-motion"])
    with pytest.raises(KeyError, match="statik"):
        runner.run()
    assert (tmp_path / "run").is_dir() and not (tmp_path / "run" / LOCK_FILE).exists()


def test_the_runner_holds_the_lock_while_it_runs_and_refuses_a_second_writer(tmp_path, square_samples):
    seen = []

    class PeekingAdapter(Adapter):
        name: ClassVar[str] = "peeking"
        capabilities: ClassVar[Capabilities] = Capabilities()

        def generate(self, requests):
            seen.append(json.loads((tmp_path / "run" / LOCK_FILE).read_text())["pid"])
            return [np.repeat(r.context[None], r.num_frames, axis=0) for r in requests]

    runner = make_runner(tmp_path, square_samples[:1], ["peeking"], metrics=["background-motion"])
    runner.adapter_registry.register("peeking", PeekingAdapter)
    result = runner.run()
    assert result.complete and seen == [os.getpid()]
    assert not (tmp_path / "run" / LOCK_FILE).exists()

    holder = write_lock(tmp_path / "run")  # a live holder (this very process, another acquisition)
    again = make_runner(tmp_path, square_samples[:1], ["peeking"], metrics=["background-motion"], resume=True)
    again.adapter_registry.register("peeking", PeekingAdapter)
    for step in (again.run, again.finalize):
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            step()
        assert held_token(tmp_path / "run") == holder.token


def test_cli_refuses_a_locked_run_directory_and_break_lock_takes_it_over(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["run", "--adapters", "static", "--splits", "demo:num_samples=1", "--metrics", "background-motion",
            "--scopes", "full", "--no-progress", "--out", str(run)]
    other = write_lock(run, hostname="gpu-node-17", pid=4242)
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and f"pid 4242 on host gpu-node-17, since {other.started}" in error
    assert "--break-lock" in error and "Traceback" not in error
    assert main([*args, "--break-lock"]) == 0
    assert (run / "summary.parquet").is_file() and not (run / LOCK_FILE).exists()


def test_sigterm_stops_a_run_cleanly_releasing_its_lock(tmp_path):
    """SLURM's time limit sends SIGTERM: the lock must not be left for the next job to judge."""
    run = tmp_path / "run"
    command = [sys.executable, "-m", "benchmark.cli.main", "run", "--adapters", "static", "--splits", "demo:num_samples=60",
               "--metrics", "psnr", "--scopes", "full", "--out", str(run), "--no-progress"]
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 120
    while not (run / LOCK_FILE).exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be stopped"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped by SIGTERM" in stderr and "--resume" in stderr
    assert not (run / LOCK_FILE).exists()

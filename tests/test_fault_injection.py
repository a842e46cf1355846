"""Crash safety: `hcvg run` killed with SIGKILL at random points resumes to an uninterrupted run's results.

The killed runs are real `python -m benchmark.cli.main run` processes on the demo split,
with `static` and a `command` adapter (the packaged example program, one process per
clip: generation takes real time); the uninterrupted run and the last resume, which
are not killed, run the same `main` in this process. The kill points are drawn, seeded, over the run's
own timeline: an uninterrupted run goes first and each file it writes (a video, a part
of a table, a consolidated table) is an event; a kill lands a random fraction of
the way between two events, so it interrupts the work that leads to the next one:
generating a clip, scoring a batch, or finalizing (consolidation, summary, leaderboard).
Events are counted on disk, so a resumed run, which only does what is missing, walks
on from where the killed one stopped.

The write layer is tested on its own below: a writer killed mid-write, and a log line cut short.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.cli.main import main
from benchmark.run_lock import LOCK_FILE
from benchmark.run_store import RunStore
from hcvg.atomic import append_line, remove_temporaries
from hcvg.video_io import read_video, write_video_lossless

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PROGRAM = ROOT / "adapters" / "command" / "example_program.py"
HCVG = [sys.executable, "-m", "benchmark.cli.main"]
# Written by finalize, in this order.
FINAL_FILES = ("scores.parquet", "ledger.parquet", "timings.parquet", "distribution.parquet", "summary.parquet", "leaderboard.md")
COMPARED_TABLES = ("scores.parquet", "ledger.parquet", "summary.parquet", "distribution.parquet")


def run_args(out: Path, work: Path, num_samples: int) -> list[str]:
    command = f"{{python}} {EXAMPLE_PROGRAM} --manifest {{manifest}}"
    return [
        "run", "--adapters", "static", f"command:command={command},label=slow,work_dir={work}",
        "--splits", f"demo:num_samples={num_samples}", "--metrics", "background-motion",
        "--batch-size", "1", "--no-progress", "--out", str(out),
    ]


def written(run: Path) -> dict[Path, str]:
    """The files that mark the run's progress, each with the phase that writes it.

    Timings parts follow both a generated and a scored batch: their phase is "timings".
    """
    files = {p: "generate" for p in (run / "videos").rglob("*.mkv")}
    files.update({p: "timings" if p.parent.name == "timings" else "score" for p in (run / "parts").rglob("*.parquet")})
    files.update({run / name: "finalize" for name in FINAL_FILES if (run / name).exists()})
    return files


@dataclass
class Event:
    seconds: float  # when the file was written, since the first one
    phase: str  # of the work that wrote it: generate, score, timings, finalize


def timeline(run: Path) -> list[Event]:
    """The progress files of a finished, uninterrupted run, in the order they were written.

    Each was written once and renamed into place right after its last byte, so its
    modification time is when it appeared.
    """
    stamps = sorted((path.stat().st_mtime_ns, phase) for path, phase in written(run).items())
    return [Event((ns - stamps[0][0]) / 1e9, phase) for ns, phase in stamps]


@dataclass
class KillPoint:
    after: int  # kill once this many progress files exist...
    fraction: float  # ...this fraction of the way to the next one (in the uninterrupted run's time)
    phase: str  # the phase of that next file


def draw_kill_points(events: list[Event], kills: int, seed: int, one_per_phase: bool) -> list[KillPoint]:
    """Seeded kill points over the run's timeline, in order.

    With ``one_per_phase`` there is one in each of generation, scoring and finalizing;
    otherwise they are spread over the whole run, one in each of ``kills`` equal stretches
    of its events. A kill is never drawn before the run's first file (the lock is taken by
    then, so every kill leaves a stale lock to take over) nor before its last two, so it
    lands before the process ends.
    """
    rng = random.Random(seed)
    candidates = list(range(1, len(events) - 2))  # after event i, before event i + 1
    if one_per_phase:
        chosen = sorted(rng.choice([i for i in candidates if events[i].phase == phase]) for phase in ("generate", "score", "finalize"))
    else:
        stretches = np.array_split(np.array(candidates), kills)
        chosen = [int(rng.choice(list(stretch))) for stretch in stretches]
    return [KillPoint(i, rng.uniform(0.05, 0.9), events[i].phase) for i in chosen]


def kill_at(args: list[str], run: Path, point: KillPoint, gap: float) -> int:
    """Start ``hcvg``, SIGKILL it at ``point``; returns its exit status (-9 if the kill landed)."""
    process = subprocess.Popen([*HCVG, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target = max(point.after, len(written(run)) + 1)
    deadline = time.monotonic() + 300
    while len(written(run)) < target and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(point.fraction * gap)
    os.kill(process.pid, signal.SIGKILL)
    return process.wait()


def leftovers(run: Path) -> list[Path]:
    return sorted([*run.rglob(".*.tmp"), *run.rglob(LOCK_FILE)])


def assert_same_results(reference: Path, resumed: Path) -> None:
    for table in COMPARED_TABLES:
        if (reference / table).exists() or (resumed / table).exists():
            pd.testing.assert_frame_equal(pd.read_parquet(reference / table), pd.read_parquet(resumed / table), obj=table)
    # Timings are measurements (their seconds differ), but every clip keeps its rows.
    timing_keys = ["adapter", "split", "seed", "sample_id", "stage"]
    pd.testing.assert_frame_equal(pd.read_parquet(reference / "timings.parquet")[timing_keys],
                                  pd.read_parquet(resumed / "timings.parquet")[timing_keys], obj="timings")
    reference_videos = sorted(p.relative_to(reference) for p in (reference / "videos").rglob("*.mkv"))
    assert reference_videos and reference_videos == sorted(p.relative_to(resumed) for p in (resumed / "videos").rglob("*.mkv"))
    for video in reference_videos:
        assert (reference / video).read_bytes() == (resumed / video).read_bytes(), f"{video} differs"
    assert RunStore(reference).read_failures() == [] and RunStore(resumed).read_failures() == []


def kill_and_resume(tmp_path: Path, caplog, kills: int, seed: int, num_samples: int, one_per_phase: bool) -> list[KillPoint]:
    reference, killed, work = tmp_path / "reference", tmp_path / "killed", tmp_path / "work"
    # The uninterrupted run runs in this process: the same code, without a second start-up.
    assert main(run_args(reference, work, num_samples)) == 0
    events = timeline(reference)
    points = draw_kill_points(events, kills, seed, one_per_phase)
    args = run_args(killed, work, num_samples)
    for attempt, point in enumerate(points):
        gap = events[point.after].seconds - events[point.after - 1].seconds
        status = kill_at(args if attempt == 0 else [*args, "--resume"], killed, point, gap)
        assert status == -signal.SIGKILL, f"kill {attempt} ({point}) came after the run ended (status {status})"
        assert (killed / LOCK_FILE).exists(), "a killed run leaves its lock, for the next run to take over"
    # The last resume, which must finish, runs here too (one start-up less).
    caplog.clear()
    assert main([*args, "--resume"]) == 0
    assert "took over the lock" in caplog.text
    assert_same_results(reference, killed)
    assert leftovers(killed) == [] and leftovers(reference) == []
    return points


def test_three_kills_in_generation_scoring_and_finalizing_resume_to_the_same_results(tmp_path, caplog):
    points = kill_and_resume(tmp_path, caplog, kills=3, seed=15, num_samples=1, one_per_phase=True)
    assert [p.phase for p in points] and {p.phase for p in points} == {"generate", "score", "finalize"}


@pytest.mark.slow
def test_ten_random_kills_resume_to_the_same_results(tmp_path, caplog):
    points = kill_and_resume(tmp_path, caplog, kills=10, seed=4, num_samples=4, one_per_phase=False)
    assert {"generate", "score", "finalize"} <= {p.phase for p in points}, points


# -- the write layer -----------------------------------------------------------------
def test_a_writer_killed_mid_write_leaves_the_old_file_and_a_temporary_to_clear(tmp_path):
    target = tmp_path / "scores.parquet"
    target.write_bytes(b"the finished table")
    program = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from hcvg.atomic import atomic_write
        def write(tmp):
            with open(tmp, "wb") as handle:
                handle.write(b"half of a new tab")
                handle.flush()
                print("writing", flush=True)
                time.sleep(60)
        atomic_write({str(target)!r}, write)
    """)
    writer = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    writer.kill()
    writer.wait()
    assert target.read_bytes() == b"the finished table"
    assert len(list(tmp_path.glob(".scores.parquet.*.tmp"))) == 1
    assert remove_temporaries(tmp_path) == 1 and sorted(tmp_path.iterdir()) == [target]


def test_a_failure_line_cut_short_loses_only_itself(tmp_path, caplog):
    store = RunStore(tmp_path)
    store.record_failure(adapter="a", sample="s0", error="first")
    with open(store.failures_path, "ab") as log:  # a kill in the middle of the next append
        log.write(b'{"adapter": "a", "sample": "s1", "err')
    store.record_failure(adapter="a", sample="s2", error="third")
    assert [f["sample"] for f in store.read_failures()] == ["s0", "s2"]
    assert "line 2 is not valid JSON" in caplog.text
    with pytest.raises(ValueError, match="line break"):
        append_line(store.failures_path, "two\nlines")


def test_failure_lines_stay_whole_under_concurrent_appends(tmp_path, caplog):
    # Each append is one write in append mode: lines from several processes never interleave
    # (at worst one reads another's line mid-write and starts on a fresh line: a blank line).
    program = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        import json
        from hcvg.atomic import append_line  # what RunStore.record_failure calls
        for i in range(200):
            append_line({str(tmp_path / "failures.jsonl")!r}, json.dumps({{"writer": sys.argv[1], "index": i, "error": "x" * 500}}))
    """)
    writers = [subprocess.Popen([sys.executable, "-c", program, str(w)]) for w in range(2)]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    records = RunStore(tmp_path).read_failures()
    assert "not valid JSON" not in caplog.text
    assert len(records) == 400 and {(r["writer"], r["index"]) for r in records} == {(str(w), i) for w in range(2) for i in range(200)}


def test_the_same_frames_give_the_same_video_bytes(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    first = write_video_lossless(tmp_path / "a.mkv", frames).read_bytes()
    second = write_video_lossless(tmp_path / "b.mkv", frames).read_bytes()
    assert first == second
    np.testing.assert_array_equal(read_video(tmp_path / "b.mkv"), frames)


@pytest.mark.parametrize("interrupted_append", [1, 3], ids=["generate", "score"])
def test_a_kill_before_a_timings_part_loses_no_clips_time(tmp_path, square_samples, monkeypatch, interrupted_append):
    # A kill just before a batch's timings part is written: the work it timed must be
    # redone on resume (so it is timed again), never kept without its time.
    from benchmark.run_store import RunStore as Store
    from tests.test_runner import make_runner

    append, calls = Store.append_rows, []

    def interrupted(self, table, rows):
        if table == "timings":
            calls.append(table)
            if len(calls) == interrupted_append:
                raise KeyboardInterrupt("killed before the timings part")
        return append(self, table, rows)

    monkeypatch.setattr(Store, "append_rows", interrupted)
    with pytest.raises(KeyboardInterrupt):
        make_runner(tmp_path, square_samples, ["static"], metrics=["background-motion"]).run()
    monkeypatch.setattr(Store, "append_rows", append)
    result = make_runner(tmp_path, square_samples, ["static"], metrics=["background-motion"], resume=True).run()
    assert result.complete
    timings = pd.read_parquet(tmp_path / "run" / "timings.parquet")
    assert sorted(zip(timings.sample_id, timings.stage)) == sorted((s.id, stage) for s in square_samples for stage in ("generate", "score"))

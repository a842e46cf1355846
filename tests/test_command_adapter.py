"""The `command` adapter: an external program through the file contract, its failures, its presets."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest

from adapters.command.adapter import EXAMPLE_PROGRAM, CommandAdapter
from adapters.command.contract import read_manifest
from adapters.fitting import Fitting, fit_video
from adapters.registry import ADAPTERS
from adapters.testing import check_adapter, conformance_samples, requests_for
from benchmark.run_config import ComponentSpec, RunConfig
from benchmark.runner import Runner
from benchmark.splits import InMemorySplit
from hcvg.adapter import Adapter, SampleFailure
from hcvg.errors import InputNotFoundError, InvalidInputError
from hcvg.registry import Registry

PROGRAMS = Path(__file__).resolve().parent / "programs"
MISBEHAVING = PROGRAMS / "misbehaving_program.py"


def example_command(*flags: str) -> str:
    return f"{{python}} {shlex.quote(str(EXAMPLE_PROGRAM))} --manifest {{manifest}} " + " ".join(flags)


def misbehaving(mode: str, skip: str = "") -> str:
    return f"{{python}} {shlex.quote(str(MISBEHAVING))} --manifest {{manifest}} --mode {mode} --skip={skip}"


# -- the contract ----------------------------------------------------------------------
def test_example_program_passes_check_adapter():
    check_adapter(CommandAdapter.for_tests())


def test_text_only_program_gets_no_context(tmp_path):
    adapter = CommandAdapter(command=example_command(), text_only=True, work_dir=tmp_path, keep_work=True)
    requests = requests_for(adapter, conformance_samples(2))
    assert all(request.context is None for request in requests)
    videos = adapter.generate(requests)
    assert [v.shape for v in videos] == [(15, 64, 64, 3)] * 2
    (manifest,) = tmp_path.glob("*/manifest.jsonl")
    assert [entry.context for entry in read_manifest(manifest)] == [None, None]
    assert not (manifest.parent / "context").exists()


def test_manifest_carries_each_request(tmp_path):
    samples = conformance_samples()
    adapter = CommandAdapter(command=example_command(), fps=12, work_dir=tmp_path, keep_work=True)
    requests = requests_for(adapter, samples, seed=7)
    adapter.generate(requests)
    (manifest,) = tmp_path.glob("*/manifest.jsonl")
    entries = read_manifest(manifest)
    assert [e.sample_id for e in entries] == [s.id for s in samples]
    for entry, sample in zip(entries, samples):
        assert (entry.prompt, entry.expanded_prompt, entry.seed, entry.fps) == (sample.prompt, sample.expanded_prompt, 7, 12.0)
        assert (entry.num_frames, entry.height, entry.width) == (15, 64, 64)
        from PIL import Image

        assert np.array_equal(np.asarray(Image.open(entry.context)), sample.context)
        assert Path(entry.output).parent == manifest.parent / "out" and Path(entry.output).is_file()


def test_native_output_is_fitted_to_the_request():
    """A program writing 16 frames at 320x512 gives 15 at the request's size, as the declared fitting says."""
    sys.path.insert(0, str(EXAMPLE_PROGRAM.parent))
    try:
        import example_program
    finally:
        sys.path.pop(0)
    adapter = CommandAdapter(command=example_command("--frames 16 --height 320 --width 512"), drop_context=True)
    (request,) = requests_for(adapter, conformance_samples(1), seed=2)
    (video,) = adapter.generate([request])
    assert video.shape == (15, 64, 64, 3)
    entry = {"sample_id": request.sample_id, "prompt": request.prompt, "seed": 2, "num_frames": 15, "height": 64, "width": 64}
    from PIL import Image

    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"hcvg-command-test-{os.getpid()}.png"
    Image.fromarray(request.context).save(tmp)
    try:
        native = example_program.frames_for({**entry, "context": str(tmp)}, 16, (320, 512))
    finally:
        tmp.unlink()
    expected = fit_video(native, request, Fitting(spatial="center-crop", temporal="even", drop_context=True))
    np.testing.assert_array_equal(video, expected)


def test_a_bad_command_is_an_error_when_built(tmp_path):
    with pytest.raises(InputNotFoundError, match="no-such-program"):
        CommandAdapter(command="no-such-program --manifest {manifest}")
    with pytest.raises(InvalidInputError, match=r"unknown placeholder.*\{manifets\}"):
        CommandAdapter(command="{python} prog.py --manifest {manifets}")
    with pytest.raises(InvalidInputError, match=r"\{ckpt\}.*ckpt=\.\.\."):
        CommandAdapter(command="{python} prog.py --manifest {manifest} --ckpt {ckpt}")
    with pytest.raises(InvalidInputError, match="exactly one of"):
        CommandAdapter()
    with pytest.raises(InvalidInputError, match="unknown preset 'sora'.*opensora"):
        CommandAdapter(preset="sora")


# -- failures through the runner -----------------------------------------------------------
def run_matrix(tmp_path, samples, specs, metrics=("background-motion",)):  # no torch to import
    adapters = Registry("adapter", base=Adapter)
    adapters.register("command", ADAPTERS.get("command"))
    splits = Registry("split")
    splits.register("squares", lambda: InMemorySplit("squares", samples))
    config = RunConfig(out=tmp_path / "run", adapters=list(specs), splits=[ComponentSpec("squares")], metrics=list(metrics),
                       seeds=[0], batch_size=2)
    return Runner(config, adapters=adapters, splits=splits, progress=False).run()


def failures_of(result, label):
    return {f["sample"]: f["error"] for f in result.failures if f.get("adapter") == label}


def scored(result, label):
    return sorted(result.scores[result.scores.adapter == label].sample_id.unique())


def test_program_failures_become_records_with_stderr_and_the_run_goes_on(tmp_path, square_samples):
    work = tmp_path / "work"
    specs = [
        ComponentSpec("command", {"command": misbehaving("partial", skip="sq-1")}, label="partial"),
        ComponentSpec("command", {"command": misbehaving("exit", skip="sq-3")}, label="crashes"),
        ComponentSpec("command", {"command": misbehaving("hang", skip="sq-0"), "timeout": 2, "work_dir": str(work),
                                  "keep_work": True}, label="hangs"),
        ComponentSpec("command", {"command": example_command()}, label="example"),
    ]
    result = run_matrix(tmp_path, square_samples, specs)

    partial = failures_of(result, "partial")
    assert list(partial) == ["sq-1"]
    assert "'sq-1'" in partial["sq-1"] and "no video written" in partial["sq-1"] and "exited with status 0" in partial["sq-1"]
    assert "skipping sq-1: simulated CUDA out of memory" in partial["sq-1"]
    assert scored(result, "partial") == ["sq-0", "sq-2", "sq-3"]

    crashes = failures_of(result, "crashes")
    assert list(crashes) == ["sq-3"]
    assert "exited with status 3" in crashes["sq-3"] and "RuntimeError: simulated crash in the baseline" in crashes["sq-3"]
    # Its other batch crashed too, after writing both videos: they are scored.
    assert scored(result, "crashes") == ["sq-0", "sq-1", "sq-2"]

    hangs = failures_of(result, "hangs")
    assert list(hangs) == ["sq-0"]
    assert "timed out after 2 s" in hangs["sq-0"] and "loading weights ... (simulated hang)" in hangs["sq-0"]
    assert scored(result, "hangs") == ["sq-1", "sq-2", "sq-3"]
    # The whole process group was killed: the program's child is gone too.
    for pid_file in work.glob("*/child.pid"):
        assert not _alive(int(pid_file.read_text())), f"the hanging program's child {pid_file.read_text()} survived the timeout"
    assert len(list(work.glob("*/child.pid"))) == 2

    assert failures_of(result, "example") == {}
    assert scored(result, "example") == ["sq-0", "sq-1", "sq-2", "sq-3"]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_a_failure_is_returned_not_raised(tmp_path):
    adapter = CommandAdapter(command=misbehaving("exit", skip="conformance-1"))
    videos = adapter.generate(requests_for(adapter, conformance_samples()))
    assert isinstance(videos[1], SampleFailure) and "command adapter, sample 'conformance-1'" in str(videos[1])
    assert all(isinstance(v, np.ndarray) and v.shape == (15, 64, 64, 3) for v in (videos[0], videos[2]))

"""The `command` adapter: an external program through the file contract, its failures, its presets."""

from __future__ import annotations

import dataclasses
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
from adapters.testing import conformance_samples, requests_for
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
# The contract on for_tests() (the packaged example program): tests/test_adapters.py checks every registered adapter.


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


# -- presets, against fake upstream scripts --------------------------------------------------
# The upstream models cannot run here (no weights, no GPU); each fake reads its upstream's
# arguments and input layout and writes its outputs where upstream does, so the bridges'
# conversion and collection, and the command lines, are what is tested.
FAKES = PROGRAMS / "fake_upstream"
# Per preset: (fake script, where it goes in the repo, other files the preset needs).
FAKE_REPOS = {
    "dynamicrafter": ("dynamicrafter_inference.py", "scripts/evaluation/inference.py",
                      ("checkpoints/dynamicrafter_256_v1/model.ckpt", "configs/inference_256_v1.0.yaml")),
    "opensora": ("opensora_inference.py", "scripts/diffusion/inference.py",
                 ("configs/diffusion/inference/256px.py", "ckpts/Open_Sora_v2.safetensors")),
    "avdc": ("avdc_train_mw.py", "flowdiffusion/train_mw.py", ("results/mw/model-24.pt",)),
    "lfdm": ("lfdm_demo_mhad.py", "demo/demo_mhad.py", ("config/mug128.yaml", "ckpt/dm.pth", "ckpt/ae.pth")),
    "handi-inference": ("handi_inference.py", "inference.py", ("downloads/weights/IVG.1.0/config.yaml",)),
}
# The upstream command lines, copied here by hand from the upstream READMEs / run.sh (not
# from presets.py), so that a preset drifting from its source fails.
EXPECTED_ARGV = {
    "dynamicrafter": "--seed 5 --ckpt_path {repo}/checkpoints/dynamicrafter_256_v1/model.ckpt --config "
    "{repo}/configs/inference_256_v1.0.yaml --savedir {work}/dynamicrafter-seed5/results --n_samples 1 --bs 1 --height 256 "
    "--width 256 --unconditional_guidance_scale 7.5 --ddim_steps 50 --ddim_eta 1.0 --prompt_dir "
    "{work}/dynamicrafter-seed5/prompts --text_input --video_length 16 --frame_stride 3",
    "opensora": "{repo}/configs/diffusion/inference/256px.py --save-dir {work}/opensora-seed5/samples --dataset.data-path "
    "{work}/opensora-seed5/prompts.csv --sampling_option.seed 5 --seed 5",
    "avdc": "--mode inference -c 24 -p {work}/avdc/00000.png -t 'move the block' -g 2 -n 20",
    "lfdm": "--gpu 0 --random-seed 5",
    "handi-inference": "--eval --config {repo}/downloads/weights/IVG.1.0/config.yaml --image_folder {work}/handi-seed5/images "
    "--prompt_file {work}/handi-seed5/prompt.json --mask_folder {work}/handi-seed5/masks --output_folder "
    "{work}/handi-seed5/result seed=5",
}
PRESET_OPTIONS = {"avdc": {"ckpt": "24"}, "lfdm": {"ckpt": "ckpt/dm.pth", "ae_ckpt": "ckpt/ae.pth"}}


def fake_repo(root: Path, preset: str) -> Path:
    script, target, others = FAKE_REPOS[preset]
    repo = root / "repo"
    (repo / target).parent.mkdir(parents=True)
    (repo / target).write_text((FAKES / script).read_text())
    for folder in {repo, (repo / target).parent}:
        (folder / "fake_common.py").write_text((FAKES / "fake_common.py").read_text())
    for other in others:
        (repo / other).parent.mkdir(parents=True, exist_ok=True)
        (repo / other).write_text("fake\n")
    return repo


def fake_env(root: Path) -> Path:
    """A bin folder with `python` (this interpreter) and a fake `torchrun` beside it."""
    bin_dir = root / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    torchrun = bin_dir / "torchrun"
    torchrun.write_text(f"#!{sys.executable}\n" + (FAKES / "torchrun").read_text())
    torchrun.chmod(0o755)
    return bin_dir / "python"


@pytest.mark.parametrize("preset", sorted(FAKE_REPOS))
def test_preset_runs_its_upstream_command_and_collects_its_outputs(tmp_path, preset):
    repo, python, log = fake_repo(tmp_path, preset), fake_env(tmp_path), tmp_path / "argv.jsonl"
    adapter = CommandAdapter(preset=preset, repo=repo, python=str(python), work_dir=tmp_path / "work", keep_work=True,
                             env=(f"FAKE_ARGV_LOG={log}",), timeout=120, **PRESET_OPTIONS.get(preset, {}))
    requests = requests_for(adapter, conformance_samples(2), seed=5)
    if not adapter.capabilities.needs_image:
        assert all(r.context is None for r in requests)
    else:  # smooth, distinct contexts: the fakes' resizing and codecs keep them told apart
        requests = [dataclasses.replace(r, context=smooth_image(i)) for i, r in enumerate(requests)]
    videos = adapter.generate(requests)
    (work,) = (tmp_path / "work").iterdir()
    calls = [__import__("json").loads(line) for line in log.read_text().splitlines()]

    expected = shlex.split(EXPECTED_ARGV[preset].format(repo=repo.resolve(), work=work))
    assert calls[0]["argv"] == expected, (work / "stderr.log").read_text()
    assert calls[0]["cwd"] == str(repo.resolve() / ("flowdiffusion" if preset == "avdc" else ""))
    assert len(calls) == (2 if preset in ("avdc", "lfdm") else 1)  # one run per sample, or one per seed

    if preset == "avdc":
        # A released AVDC checkpoint makes 7 frames after the context; the benchmark needs 15.
        assert all(isinstance(v, SampleFailure) and "has 8 frames (the first is the context frame)" in str(v) for v in videos)
        return
    assert all(isinstance(v, np.ndarray) and v.shape == (15, 64, 64, 3) for v in videos), [str(v)[:600] for v in videos]
    if preset == "opensora":
        return
    # Each sample's video comes from its own context frame (the fakes animate nothing).
    for index, video in enumerate(videos):
        errors = [np.abs(video[0].astype(int) - r.context.astype(int)).mean() for r in requests]
        assert int(np.argmin(errors)) == index and errors[index] < 8 < errors[1 - index], errors


def smooth_image(index: int, size: int = 64) -> np.ndarray:
    """uint8 [size, size, 3]: a diagonal gradient, its colours set by ``index``."""
    ramp = np.add.outer(np.arange(size), np.arange(size)) * (200 // (2 * size))
    colour = np.array([[60, 200, 120], [200, 60, 160]][index])
    return np.clip(ramp[..., None] + colour, 0, 255).astype(np.uint8)


def test_preset_whose_upstream_crashes_midway_scores_what_it_wrote(tmp_path):
    repo, python, log = fake_repo(tmp_path, "dynamicrafter"), fake_env(tmp_path), tmp_path / "argv.jsonl"
    adapter = CommandAdapter(preset="dynamicrafter", repo=repo, python=str(python),
                             env=(f"FAKE_ARGV_LOG={log}", "FAKE_FAIL_AFTER=1"))
    first, second = adapter.generate(requests_for(adapter, conformance_samples(2)))
    assert isinstance(first, np.ndarray) and first.shape == (15, 64, 64, 3)
    assert isinstance(second, SampleFailure)
    message = str(second)
    assert "(preset dynamicrafter), sample 'conformance-1'" in message and "exited with status 1" in message
    assert "CUDA out of memory (fake DynamiCrafter)" in message and "upstream wrote no" in message


def test_preset_with_missing_parts_is_an_error_when_built(tmp_path):
    with pytest.raises(InvalidInputError, match="needs repo=PATH.*Doubiiu/DynamiCrafter"):
        CommandAdapter(preset="dynamicrafter")
    repo = fake_repo(tmp_path, "dynamicrafter")
    (repo / "checkpoints/dynamicrafter_256_v1/model.ckpt").unlink()
    with pytest.raises(InputNotFoundError, match="model.ckpt, which does not exist"):
        CommandAdapter(preset="dynamicrafter", repo=repo)
    with pytest.raises(InvalidInputError, match="'avdc' needs ckpt="):
        CommandAdapter(preset="avdc", repo=repo)

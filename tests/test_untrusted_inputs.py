"""Untrusted inputs stay harmless (issue 15, item 7): checkpoints, prompts, sample ids, labels, the site."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

import pytest
import torch

from adapters.command.adapter import EXAMPLE_PROGRAM, CommandAdapter
from benchmark.cli.leaderboard import LeaderboardCommand
from benchmark.run_config import ComponentSpec, RunConfig
from benchmark.runner import Runner
from hcvg.adapter import GenerationRequest
from hcvg.registry import Registry
from hcvg.sample import Sample, UnsafeNameError
from hcvg.splits import InMemorySplit, Split
from metrics.features.egovlp import FrozenInTime, UnsafeCheckpointError, load_egovlp_state_dict, tiny_egovlp_config
from tests.conftest import moving_square_sample
from tests.test_runner import registries

HOSTILE_PROMPT = "cut carrot; touch pwned-semicolon $(touch pwned-dollar) `touch pwned-backtick` | touch pwned-pipe"


class _Payload:
    """Unpickling this would run a shell command that creates ``target``."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.target))}",)


def test_a_checkpoint_whose_pickle_runs_code_is_refused_and_runs_nothing(tmp_path):
    touched = tmp_path / "pwned"
    model = FrozenInTime(**tiny_egovlp_config())
    torch.save({"state_dict": model.state_dict(), "config": _Payload(touched)}, tmp_path / "egovlp.pth")
    with pytest.raises(UnsafeCheckpointError, match=r"refused to load.*system.*could run code"):
        load_egovlp_state_dict(tmp_path / "egovlp.pth")
    assert not touched.exists()
    # The same weights saved without the payload load.
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, tmp_path / "clean.pth")
    assert set(load_egovlp_state_dict(tmp_path / "clean.pth")) == set(model.state_dict())


def test_a_prompt_with_shell_metacharacters_reaches_the_program_verbatim_and_runs_nothing(tmp_path):
    recorder = tmp_path / "recorder.py"
    recorder.write_text(
        "import json, runpy, sys\n"
        "manifest = sys.argv[sys.argv.index('--manifest') + 1]\n"
        f"with open({str(tmp_path / 'prompts.json')!r}, 'w') as out:\n"
        "    json.dump([json.loads(line)['prompt'] for line in open(manifest) if line.strip()], out)\n"
        f"sys.argv = [{str(EXAMPLE_PROGRAM)!r}, '--manifest', manifest]\n"
        f"runpy.run_path({str(EXAMPLE_PROGRAM)!r}, run_name='__main__')\n"
    )
    work = tmp_path / "work"
    adapter = CommandAdapter(command=f"{shlex.quote(sys.executable)} {shlex.quote(str(recorder))} --manifest {{manifest}}",
                             work_dir=work, timeout=60)
    sample = moving_square_sample("s0")
    request = GenerationRequest("s0", HOSTILE_PROMPT, sample.context, 15, sample.size)
    cwd = Path.cwd()
    os.chdir(tmp_path)  # a `touch` that ran would land here or in the batch folder
    try:
        videos = adapter.generate([request])
    finally:
        os.chdir(cwd)
    assert videos[0].shape == (15, *sample.size, 3)
    assert json.loads((tmp_path / "prompts.json").read_text()) == [HOSTILE_PROMPT]
    assert not [p for p in tmp_path.rglob("pwned*")]
    with pytest.raises(Exception, match="shell"):
        CommandAdapter(command="true {manifest}", shell=True)


class _HostileSplit(Split):
    """A split whose index names a sample ``../x`` (and one absolute path) beside a good one."""

    name = "hostile"

    def __init__(self):
        self.good = moving_square_sample("s0")

    def ids(self):
        return ["../x", "/tmp/abs-escape", "s0"]

    def get(self, sample_id):
        if sample_id != "s0":
            raise AssertionError(f"the runner asked for {sample_id!r}, an id it should have refused")
        return self.good


def test_sample_ids_that_escape_the_run_directory_are_refused_before_any_write(tmp_path):
    adapter_registry, _ = registries([])
    splits = Registry("split")
    splits.register("hostile", _HostileSplit)
    config = RunConfig(out=tmp_path / "run", adapters=["static"], splits=["hostile"], metrics=["psnr"], bootstrap_resamples=20)
    result = Runner(config, adapters=adapter_registry, splits=splits, progress=False).run()
    refused = {f["sample"]: f["error"] for f in result.failures if f.get("stage") == "sample-id"}
    assert set(refused) == {"../x", "/tmp/abs-escape"}
    assert all("'/'" in error and "escape" in error for error in refused.values())
    assert set(result.scores.sample_id) == {"s0"}
    assert not (tmp_path / "run" / "videos" / "static" / "x.mkv").exists() and not list(tmp_path.glob("x*"))
    assert not Path("/tmp/abs-escape.mkv").exists()
    with pytest.raises(UnsafeNameError, match="sample id '../x'"):
        Sample(id="../x", **{k: v for k, v in moving_square_sample().__dict__.items() if k != "id"})


@pytest.mark.parametrize("label", ["../evil", "a/b", "..", "/abs"])
def test_labels_that_escape_the_run_directory_are_refused_before_any_write(tmp_path, label):
    with pytest.raises(UnsafeNameError, match="adapter label"):
        RunConfig(out=tmp_path / "run", adapters=[ComponentSpec("static", label=label)], splits=["demo"], metrics=["psnr"])
    with pytest.raises(UnsafeNameError, match="split label"):
        RunConfig(out=tmp_path / "run", adapters=["static"], splits=[ComponentSpec("demo", label=label)], metrics=["psnr"])
    assert not (tmp_path / "run").exists()


def test_a_label_with_script_is_escaped_in_the_built_site(tmp_path):
    label = '<script>alert("label")<'
    config = RunConfig(out=tmp_path / "run", adapters=[ComponentSpec("static", label=label)],
                       splits=[ComponentSpec("demo", {"num_samples": 2})], metrics=["psnr"], bootstrap_resamples=20)
    Runner(config, progress=False).run()
    parser = argparse.ArgumentParser(prog="hcvg")
    LeaderboardCommand().add_to(parser.add_subparsers())
    args = parser.parse_args(["leaderboard", "build", "--runs", str(tmp_path / "run"), "--out", str(tmp_path / "site"),
                              "--gallery-samples", "1"])
    assert args.command.run(args) == 0
    pages = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "site").rglob("*.html"))
    assert "<script>alert(" not in pages
    assert "&lt;script&gt;alert(" in pages


def test_a_prompt_and_sample_id_with_script_are_escaped_in_the_gallery(tmp_path):
    from leaderboards.site.gallery import GallerySample, render_gallery

    sample = moving_square_sample("s0")
    block = GallerySample(split="<script>split", sample_id="<script>id", prompt='<script>alert("prompt")</script>',
                          context=sample.context, ground_truth=sample.target, motion_area=sample.motion_area)
    page = render_gallery([block], tmp_path / "site")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;prompt&quot;)&lt;/script&gt;" in page

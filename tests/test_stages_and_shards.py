"""`--stage generate|score`, `--shard i/n` and `hcvg merge`, on in-memory squares with cheap metrics."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from benchmark.run_config import ComponentSpec, RunConfig
from benchmark.run_merge import MergeError, VersionMismatchError, merge_runs
from benchmark.runner import NothingToScoreError, RunConfigMismatch, Runner
from benchmark.run_store import RunExistsError
from benchmark.sharding import Shard, sample_bucket
from hcvg.adapter import Adapter
from hcvg.errors import InvalidInputError
from hcvg.registry import Registry
from metrics.features.base import FeatureExtractor
from metrics.fid import FrechetFeatureDistance
from tests.conftest import moving_square_sample
from tests.test_runner import registries

ROOT = Path(__file__).resolve().parent.parent
METRICS = ["psnr", "colour-fid"]  # one per-sample and one distribution metric, both cheap


class MeanColour(FeatureExtractor):
    """Per-frame mean RGB: a 3-d stand-in for Inception pool3, cheap and real."""

    name: ClassVar[str] = "mean-colour"
    built: ClassVar[int] = 0

    def __init__(self):
        type(self).built += 1

    def extract(self, videos):
        return [v.reshape(v.shape[0], -1, 3).mean(axis=1).astype(np.float64) for v in videos]


class ColourFID(FrechetFeatureDistance):
    """FID's own state and reduction (sums, merge), over mean colours."""

    name: ClassVar[str] = "colour-fid"
    features: ClassVar[tuple[str, ...]] = ("mean-colour",)
    unit: ClassVar[str] = "frame"


class NeverBuilt(Adapter):
    """Stands for a model the score stage must not build."""

    name: ClassVar[str] = "never-built"

    def __init__(self):
        raise AssertionError("the score stage built an adapter")

    def generate(self, requests):  # pragma: no cover - never built
        return []


@pytest.fixture(scope="module")
def samples():
    return [moving_square_sample(f"sq-{i}", seed=i) for i in range(5)]


# Runs shared by the tests (each test copies the directories it changes).
@pytest.fixture(scope="module")
def single(samples, tmp_path_factory):
    return _run(samples, tmp_path_factory.mktemp("single") / "run")


@pytest.fixture(scope="module")
def shard_roots(samples, tmp_path_factory):
    base = tmp_path_factory.mktemp("shards")
    return [_run(samples, base / f"shard-{k}", shard=Shard(k, 2)).store.root for k in range(2)]


@pytest.fixture(scope="module")
def generated(samples, tmp_path_factory):
    MeanColour.built = 0
    result = _run(samples, tmp_path_factory.mktemp("generated") / "run", stage="generate")
    result.backbones_built = MeanColour.built
    return result


def _copy(root: Path, to: Path) -> Path:
    shutil.copytree(root, to)
    return to


def _registries(samples, score_only=False):
    adapters, splits = registries(samples)
    if score_only:  # the labels the matrix names resolve to a class that refuses to be built
        adapters = Registry("adapter", base=Adapter)
        for name in ("static", "oracle"):
            adapters.register(name, NeverBuilt)
    features = Registry("feature extractor")
    features.register("mean-colour", MeanColour)
    metrics = Registry("metric")
    metrics.register("psnr", "metrics.psnr:PSNR")
    metrics.register("colour-fid", ColourFID)
    return adapters, splits, features, metrics


def _run(samples, out, stage="all", shard=None, resume=False, score_only=False):
    adapters, splits, features, metrics = _registries(samples, score_only)
    config = RunConfig(out=out, adapters=[ComponentSpec("static"), ComponentSpec("oracle")], splits=[ComponentSpec("squares")],
                       metrics=METRICS, batch_size=2, bootstrap_resamples=50)
    runner = Runner(config, resume=resume, adapters=adapters, splits=splits, metrics=metrics, features=features,
                    progress=False, stage=stage, shard=shard)
    return runner.run()


def _metrics_registry():
    return _registries([])[3]


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys).reset_index(drop=True)


SCORE_KEYS = ["adapter", "split", "seed", "sample_id", "metric", "scope"]
SUMMARY_KEYS = ["adapter", "split", "metric", "scope"]


def _assert_same_summary(merged: pd.DataFrame, single: pd.DataFrame) -> None:
    merged, single = _sorted(merged, SUMMARY_KEYS), _sorted(single, SUMMARY_KEYS)
    sample = single["level"] == "sample"
    # Per-sample rows are the same numbers through the same code: equal exactly.
    pd.testing.assert_frame_equal(merged[sample], single[sample])
    # Fréchet sums added shard by shard differ from one pass by rounding only.
    distribution = ~sample
    assert distribution.any()
    pd.testing.assert_frame_equal(merged[distribution], single[distribution], check_exact=False, rtol=1e-9, atol=1e-12)


# -- the shard hash ----------------------------------------------------------------------


def test_the_shard_hash_is_the_documented_sha256_and_partitions_every_sample_once():
    ids = [f"P01_{i:03d}" for i in range(200)]
    for i in ids[:5]:
        expected = int.from_bytes(hashlib.sha256(f"ek100-test\0{i}".encode()).digest()[:8], "big") % 4
        assert sample_bucket("ek100-test", i, 4) == expected
    shards = [Shard(k, 4) for k in range(4)]
    owners = [[s.index for s in shards if s.owns("ek100-test", i)] for i in ids]
    assert all(len(o) == 1 for o in owners)
    # Order-independent and roughly balanced.
    assert [sample_bucket("ek100-test", i, 4) for i in reversed(ids)] == [o[0] for o in reversed(owners)]
    assert min(sum(o[0] == k for o in owners) for k in range(4)) > 30


@pytest.mark.parametrize("text", ["2/2", "-1/2", "1", "a/b", "0/0"])
def test_a_bad_shard_is_refused_naming_the_form(text):
    with pytest.raises(InvalidInputError, match="0-based"):
        Shard.parse(text)


# -- stages ------------------------------------------------------------------------------


def test_generate_then_score_in_a_moved_directory_equals_one_run_and_builds_nothing_it_should_not(
    tmp_path, samples, single, generated
):
    assert generated.backbones_built == 0  # no metric backbone in the generate stage
    assert generated.complete and generated.generated == 2 * len(samples)
    root = generated.store.root
    assert not (root / "scores.parquet").exists() and not (root / "summary.parquet").exists()
    _copy(root, tmp_path / "elsewhere")  # another machine: the paths are relative
    scored = _run(samples, tmp_path / "elsewhere", stage="score", score_only=True)
    assert scored.complete and scored.generated == 0 and scored.failures == []
    pd.testing.assert_frame_equal(_sorted(scored.scores, SCORE_KEYS), _sorted(single.scores, SCORE_KEYS))
    pd.testing.assert_frame_equal(scored.summary, single.summary)
    # The ledger decides: a finished directory scores nothing again.
    assert _run(samples, tmp_path / "elsewhere", stage="score", score_only=True).computed_cells == 0


def test_the_score_stage_reports_a_missing_video_per_sample_and_never_generates(tmp_path, samples, generated):
    _copy(generated.store.root, tmp_path / "run")
    (tmp_path / "run" / "videos" / "static" / "squares" / "seed-0" / "sq-3.mkv").unlink()
    result = _run(samples, tmp_path / "run", stage="score", score_only=True)
    missing = result.failures
    assert [(f["adapter"], f["sample"], f["stage"]) for f in missing] == [("static", "sq-3", "score")]  # no build, no load
    assert "no stored video" in missing[0]["error"] and "--stage generate" in missing[0]["error"]
    assert not result.complete
    static = result.scores[result.scores.adapter == "static"]
    assert sorted(static.sample_id.unique()) == [s.id for s in samples if s.id != "sq-3"]


def test_generated_clips_are_never_cleared_and_score_needs_a_run(tmp_path, samples, generated):
    with pytest.raises(NothingToScoreError, match="--stage generate"):
        _run(samples, tmp_path / "empty", stage="score")
    _copy(generated.store.root, tmp_path / "run")
    with pytest.raises(RunExistsError, match="--stage generate"):
        _run(samples, tmp_path / "run")  # without --resume: refused, not started afresh
    assert any((tmp_path / "run" / "videos").rglob("*.mkv"))


# -- shards and merge --------------------------------------------------------------------


def _shards(shard_roots, tmp_path):
    return [_copy(root, tmp_path / root.name) for root in shard_roots]


def test_two_shards_merged_equal_one_run(tmp_path, samples, single, shard_roots):
    roots = shard_roots
    owned = [set(json.loads((r / "run_config.json").read_text())["selection"]["squares"]["samples"]) for r in roots]
    assert owned[0] and owned[1] and not owned[0] & owned[1] and owned[0] | owned[1] == {s.id for s in samples}
    result = merge_runs(roots, tmp_path / "merged", metrics=_metrics_registry())
    assert result.complete and result.duplicated_cells == 0 and result.missing_cells == []
    out = tmp_path / "merged"
    for table in ("scores", "ledger"):
        merged = pd.read_parquet(out / f"{table}.parquet")
        one = pd.read_parquet(single.store.root / f"{table}.parquet")
        pd.testing.assert_frame_equal(_sorted(merged, SCORE_KEYS), _sorted(one, SCORE_KEYS))
    _assert_same_summary(pd.read_parquet(out / "summary.parquet"), pd.read_parquet(single.store.root / "summary.parquet"))
    _assert_same_summary(result.summary, single.summary)
    assert (out / "leaderboard.md").is_file() and result.files["linked"] + result.files["copied"] > 0
    assert len(list((out / "videos").rglob("*.mkv"))) == 2 * len(samples)
    # The merged directory is a run directory: resuming it computes nothing.
    assert _run(samples, out, resume=True).computed_cells == 0


def test_a_missing_shard_is_reported_and_versions_must_agree(tmp_path, shard_roots):
    roots = _shards(shard_roots, tmp_path)
    partial = merge_runs(roots[:1], tmp_path / "partial", metrics=_metrics_registry(), videos=False)
    assert not partial.complete and partial.missing_shards == [1]
    assert partial.unassigned_samples["squares"] > 0
    assert not (tmp_path / "partial" / "videos").exists()
    config_path = roots[1] / "run_config.json"
    config = json.loads(config_path.read_text())
    config["environment"]["packages"]["numpy"] = "0.0.1"
    config_path.write_text(json.dumps(config))
    with pytest.raises(VersionMismatchError, match=r"package numpy: .* vs .*0\.0\.1"):
        merge_runs(roots, tmp_path / "refused", metrics=_metrics_registry())
    allowed = merge_runs(roots, tmp_path / "allowed", metrics=_metrics_registry(), allow_version_mismatch=True)
    assert allowed.complete and any("numpy" in line for line in allowed.version_differences)
    assert json.loads((tmp_path / "allowed" / "run_config.json").read_text())["version_differences"]


def test_other_matrices_and_duplicated_cells(tmp_path, shard_roots):
    roots = _shards(shard_roots, tmp_path)
    other = tmp_path / "other"
    shutil.copytree(roots[1], other)
    config = json.loads((other / "run_config.json").read_text())
    config["matrix"]["seeds"] = [0, 1]
    (other / "run_config.json").write_text(json.dumps(config))
    with pytest.raises(MergeError, match="matrix seeds"):
        merge_runs([roots[0], other], tmp_path / "m1", metrics=_metrics_registry())
    # A copy of shard 0 posing as shard 1 of 3: its cells duplicate shard 0's, with equal values.
    twin = tmp_path / "twin"
    shutil.copytree(roots[0], twin)
    for root, index in ((roots[0], 0), (twin, 1)):
        config = json.loads((root / "run_config.json").read_text())
        config["shard"] = {**config["shard"], "index": index, "count": 3}
        (root / "run_config.json").write_text(json.dumps(config))
    with pytest.raises(MergeError, match="are both shard 0/3"):
        merge_runs([roots[0], roots[0]], tmp_path / "m2", metrics=_metrics_registry())
    # Sum states cannot drop a clip counted twice: a duplicated clip in a Fréchet sum is refused.
    with pytest.raises(MergeError, match="colour-fid .* both hold"):
        merge_runs([roots[0], twin], tmp_path / "m3", metrics=_metrics_registry(), videos=False)
    pd.DataFrame().to_parquet(twin / "distribution.parquet")  # the twin without its Fréchet value
    kept = merge_runs([roots[0], twin], tmp_path / "m5", metrics=_metrics_registry(), videos=False)
    assert kept.duplicated_cells == len(pd.read_parquet(roots[0] / "scores.parquet"))
    pd.testing.assert_frame_equal(kept.scores, pd.read_parquet(roots[0] / "scores.parquet"))
    scores = pd.read_parquet(twin / "scores.parquet")
    scores.loc[scores.index[0], "value"] += 1.0
    scores.to_parquet(twin / "scores.parquet")
    with pytest.raises(MergeError, match="scored differently"):
        merge_runs([roots[0], twin], tmp_path / "m4", metrics=_metrics_registry(), videos=False)


def test_resuming_a_shard_keeps_its_samples(tmp_path, samples, shard_roots):
    root = _copy(shard_roots[0], tmp_path / "s0")
    with pytest.raises(RunConfigMismatch, match="shard 0/2, not 1/2"):
        _run(samples, root, shard=Shard(1, 2), resume=True)
    assert _run(samples, root, shard=Shard(0, 2), resume=True).computed_cells == 0


# -- the CLI and the SLURM example ---------------------------------------------------------


def test_cli_refuses_a_bad_shard_and_merge_is_a_subcommand():
    from benchmark.cli.main import build_parser

    parser = build_parser()
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["run", "--adapters", "static", "--out", "x", "--shard", "4/4"])
    assert exited.value.code == 2
    args = parser.parse_args(["merge", "a", "b", "--out", "m", "--no-videos", "--allow-version-mismatch"])
    assert args.command.name == "merge" and args.no_videos and args.allow_version_mismatch
    args = parser.parse_args(["run", "--adapters", "static", "--out", "x", "--shard", "1/4", "--stage", "score"])
    assert args.shard == Shard(1, 4) and args.stage == "score"


SLURM = ROOT / "examples" / "slurm_matrix.sh"


def _hcvg_commands(script: str) -> list[list[str]]:
    """Every `hcvg ...` command the script runs, its shell variables given sample values."""
    values = {"id": "3", "N": "8", "RUN": "runs/x", "MATRIX": "examples/table2_demo.yaml"}
    commands = []
    for line in script.splitlines():
        if line.lstrip().startswith("#"):
            continue
        match = re.search(r"(?:^|\)\s|;\s)\s*(hcvg\s[^;]*)", line)
        if match is None:
            continue
        text = re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], match.group(1))
        commands.append(shlex.split(text))
    return commands


def test_the_slurm_example_parses_and_runs_valid_hcvg_commands():
    script = SLURM.read_text()
    proc = subprocess.run(["bash", "-n", str(SLURM)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"#SBATCH --array=0-", script) and "--dependency=afterok:" in script
    from benchmark.cli.main import build_parser

    commands = _hcvg_commands(script)
    stages = sorted(c[c.index("--stage") + 1] if "--stage" in c else "all" for c in commands if c[1] == "run")
    assert stages == ["all", "generate", "score"] and [c[1] for c in commands].count("merge") == 1, commands
    for command in commands:
        args = build_parser().parse_args(command[1:])  # argparse exits (SystemExit 2) on an invalid one
        if command[1] == "run":
            assert args.shard == Shard(3, 8) and args.out is not None


# -- end to end through `hcvg` --------------------------------------------------------------


def _hcvg(*argv: str) -> int:
    from benchmark.cli.main import main

    return main(list(argv))


@pytest.mark.slow
def test_hcvg_shards_and_merge_of_the_demo_equal_one_run(tmp_path):
    """The issue's check through the CLI: demo matrix as one run vs --shard 0/2 + 1/2 + `hcvg merge`."""
    matrix = ["--adapters", "static", "oracle", "--splits", "demo:num_samples=6", "--metrics", "psnr", "ssim",
              "background-fidelity", "--no-progress"]
    assert _hcvg("run", *matrix, "--out", str(tmp_path / "single")) == 0
    for k in range(2):
        # Shard 1 goes through the two stages, shard 0 through --stage all.
        if k:
            assert _hcvg("run", *matrix, "--stage", "generate", "--shard", f"{k}/2", "--out", str(tmp_path / f"s{k}")) == 0
            assert _hcvg("run", *matrix, "--stage", "score", "--shard", f"{k}/2", "--out", str(tmp_path / f"s{k}")) == 0
        else:
            assert _hcvg("run", *matrix, "--shard", f"{k}/2", "--out", str(tmp_path / f"s{k}")) == 0
    assert _hcvg("merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "--out", str(tmp_path / "merged")) == 0
    for table, keys in (("scores", SCORE_KEYS), ("summary", SUMMARY_KEYS)):
        merged = _sorted(pd.read_parquet(tmp_path / "merged" / f"{table}.parquet"), keys)
        pd.testing.assert_frame_equal(merged, _sorted(pd.read_parquet(tmp_path / "single" / f"{table}.parquet"), keys))
    assert _hcvg("merge", str(tmp_path / "s0"), "--out", str(tmp_path / "half")) == 1  # shard 1 missing: exit 1


@pytest.mark.slow
def test_eight_shards_merge_to_one_run_with_a_frechet_distance(tmp_path):
    clips = [moving_square_sample(f"sq-{i}", seed=i) for i in range(24)]
    single = _run(clips, tmp_path / "single")
    roots = [_run(clips, tmp_path / f"shard-{k}", shard=Shard(k, 8)).store.root for k in range(8)]
    result = merge_runs(roots, tmp_path / "merged", metrics=_metrics_registry())
    assert result.complete
    pd.testing.assert_frame_equal(_sorted(result.scores, SCORE_KEYS), _sorted(single.scores, SCORE_KEYS))
    _assert_same_summary(result.summary, single.summary)

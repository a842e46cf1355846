"""The matrix runner on small synthetic samples, with fresh registries."""

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from hcvg.adapter import Adapter, Capabilities, SampleFailure
from adapters.registry import ADAPTERS
from benchmark.run_config import ComponentSpec, RunConfig
from benchmark.runner import RunConfigMismatch, Runner
from benchmark.splits import InMemorySplit
from hcvg.video_io import write_video_lossless
from hcvg.registry import Registry
from tests.conftest import moving_square_sample

METRICS = ["psnr", "ssim", "background-fidelity", "background-motion"]


class FlakyAdapter(Adapter):
    """Fails on some samples in the ways real models fail."""

    name: ClassVar[str] = "flaky"
    capabilities: ClassVar[Capabilities] = Capabilities(max_batch_size=4)

    def generate(self, requests):
        out = []
        for r in requests:
            if r.sample_id == "sq-1":
                raise RuntimeError("CUDA out of memory (simulated by the test adapter)")
            if r.sample_id == "sq-2":
                out.append(np.full((r.num_frames, *r.size, 3), np.nan, np.float32))
            else:
                out.append(np.repeat(r.context[None], r.num_frames, axis=0))
        return out


class BrokenAdapter(Adapter):
    name: ClassVar[str] = "broken"

    def __init__(self):
        raise FileNotFoundError("weights missing: /nowhere/model.safetensors")

    def generate(self, requests):  # pragma: no cover - never built
        return []


class PartialAdapter(Adapter):
    """Returns a SampleFailure for one request, as the command adapter does for a missing video."""

    name: ClassVar[str] = "partial"
    capabilities: ClassVar[Capabilities] = Capabilities(max_batch_size=4)
    calls: ClassVar[list[list[str]]] = []

    def generate(self, requests):
        type(self).calls.append([r.sample_id for r in requests])
        return [
            SampleFailure("the program wrote no video (stderr: out of memory)") if r.sample_id == "sq-1"
            else np.repeat(r.context[None], r.num_frames, axis=0)
            for r in requests
        ]


def registries(samples):
    adapters = Registry("adapter", base=Adapter)
    for name in ADAPTERS.names():
        adapters.register(name, ADAPTERS.get(name))
    adapters.register("flaky", FlakyAdapter)
    adapters.register("broken", BrokenAdapter)
    adapters.register("partial", PartialAdapter)
    splits = Registry("split")
    splits.register("squares", lambda: InMemorySplit("squares", samples))
    return adapters, splits


def make_runner(tmp_path, samples, adapters, resume=False, metrics=METRICS, seeds=(0,)):
    adapter_registry, split_registry = registries(samples)
    config = RunConfig(
        out=tmp_path / "run",
        adapters=[a if isinstance(a, ComponentSpec) else ComponentSpec(a) for a in adapters],
        splits=[ComponentSpec("squares")],
        metrics=list(metrics),
        seeds=list(seeds),
        batch_size=2,
    )
    return Runner(config, resume=resume, adapters=adapter_registry, splits=split_registry, progress=False)


def summary_value(summary, adapter, metric, scope="full"):
    row = summary[(summary.adapter == adapter) & (summary.metric == metric) & (summary.scope == scope)]
    assert len(row) == 1, f"no summary row for {adapter} {metric} {scope}"
    return float(row["value"].iloc[0])


def test_static_and_oracle_bounds(tmp_path, square_samples):
    result = make_runner(tmp_path, square_samples, ["static", "oracle"]).run()
    assert result.failures == []
    summary = result.summary
    assert set(summary.columns) >= {"adapter", "split", "metric", "scope", "value", "ci_low", "ci_high", "n"}
    for scope in ("full", "ma"):
        for metric in ("psnr", "ssim"):
            assert summary_value(summary, "oracle", metric, scope) > summary_value(summary, "static", metric, scope)
        assert summary_value(summary, "static", "background-motion", scope) == 0.0
    assert (summary["n"] == len(square_samples)).all()
    scores = pd.read_parquet(tmp_path / "run" / "scores.parquet")
    assert len(scores) == 2 * len(square_samples) * len(METRICS) * 2
    assert list(scores.columns[:6]) == ["adapter", "split", "seed", "sample_id", "metric", "scope"]
    assert (tmp_path / "run" / "leaderboard.md").read_text().count("| oracle |") == 2


def test_failures_are_recorded_and_the_rest_is_scored(tmp_path, square_samples):
    result = make_runner(tmp_path, square_samples, ["flaky", "broken", "static"]).run()
    by_sample = {(f.get("adapter"), f.get("sample")): f for f in result.failures}
    assert "CUDA out of memory" in by_sample[("flaky", "sq-1")]["error"]
    assert "NaN" in by_sample[("flaky", "sq-2")]["error"]
    assert "weights missing" in by_sample[("broken", None)]["error"]
    flaky = result.scores[result.scores.adapter == "flaky"]
    assert sorted(flaky.sample_id.unique()) == ["sq-0", "sq-3"]
    assert sorted(result.scores[result.scores.adapter == "static"].sample_id.unique()) == ["sq-0", "sq-1", "sq-2", "sq-3"]


def test_a_returned_sample_failure_is_recorded_for_that_sample_alone_and_not_retried(tmp_path, square_samples):
    PartialAdapter.calls.clear()
    result = make_runner(tmp_path, square_samples, ["partial"]).run()
    failed = [f for f in result.failures if f.get("adapter") == "partial"]
    assert [f["sample"] for f in failed] == ["sq-1"]
    assert "out of memory" in failed[0]["error"] and "'sq-1'" in failed[0]["error"]
    assert sorted(result.scores.sample_id.unique()) == ["sq-0", "sq-2", "sq-3"]
    # Batches of 2, each called once: a returned failure is final, not retried alone.
    assert PartialAdapter.calls == [["sq-0", "sq-1"], ["sq-2", "sq-3"]]


def test_corrupt_folder_video_is_a_failure_naming_the_file(tmp_path, square_samples):
    root = tmp_path / "model_out"
    for sample in square_samples:
        write_video_lossless(root / f"{sample.id}.mkv", sample.target)
    (root / "sq-2.mkv").write_bytes(b"\x1aE\xdf\xa3 truncated matroska" * 10)
    spec = ComponentSpec("folder", {"root": str(root)}, label="my-model")
    result = make_runner(tmp_path, square_samples, [spec]).run()
    assert len(result.failures) == 1
    assert "sq-2.mkv" in result.failures[0]["error"] and result.failures[0]["adapter"] == "my-model"
    assert sorted(result.scores.sample_id.unique()) == ["sq-0", "sq-1", "sq-3"]


def test_rerun_with_resume_generates_nothing_and_keeps_the_summary(tmp_path, square_samples):
    first = make_runner(tmp_path, square_samples, ["static", "oracle"]).run()
    assert first.generated == 8
    with pytest.raises(FileExistsError, match="--resume"):
        make_runner(tmp_path, square_samples, ["static", "oracle"]).run()
    again = make_runner(tmp_path, square_samples, ["static", "oracle"], resume=True).run()
    assert again.generated == 0
    pd.testing.assert_frame_equal(first.summary, again.summary)
    # Resuming with fewer adapters keeps the finished cells of the others.
    fewer = make_runner(tmp_path, square_samples, ["static"], resume=True).run()
    assert fewer.generated == 0 and fewer.computed_cells == 0
    pd.testing.assert_frame_equal(first.summary, fewer.summary)
    # Reusing a label for other options would score old clips as the new model: refused, naming the key.
    other = ComponentSpec("folder", {"root": str(tmp_path)}, label="static")
    with pytest.raises(RunConfigMismatch, match=r"adapter 'static' name: 'static' → 'folder'"):
        make_runner(tmp_path, square_samples, [other], resume=True).run()


def test_lost_scores_are_recomputed_from_stored_videos(tmp_path, square_samples):
    first = make_runner(tmp_path, square_samples, ["static"]).run()
    # As if killed after the videos were written but before scoring finished.
    for table in ("scores", "ledger"):
        for part in (tmp_path / "run" / "parts" / table).glob("*.parquet"):
            part.unlink()
    again = make_runner(tmp_path, square_samples, ["static"], resume=True).run()
    assert again.generated == 0
    pd.testing.assert_frame_equal(first.summary, again.summary)


def test_seeds_are_separate_generations(tmp_path, square_samples):
    result = make_runner(tmp_path, square_samples[:2], ["static"], seeds=(0, 1)).run()
    assert result.generated == 4
    assert sorted(result.scores.seed.unique()) == [0, 1]
    assert (result.summary["n"] == 2).all()  # n counts samples, seeds are averaged first


def test_empty_motion_area_is_undefined_at_ma_scope_only(tmp_path):
    sample = moving_square_sample("empty-ma")
    sample = type(sample)(**{**sample.__dict__, "motion_area": np.zeros_like(sample.motion_area)})
    result = make_runner(tmp_path, [sample], ["oracle"], metrics=["psnr"]).run()
    rows = result.scores.set_index("scope")
    assert rows.loc["full", "status"] == "ok"
    assert rows.loc["ma", "status"] == "undefined" and "empty" in rows.loc["ma", "note"]


def test_metric_whose_backbone_is_missing_is_skipped_once_with_the_reason(tmp_path, square_samples):
    from metrics.features.base import FeatureExtractor

    class MissingWeights(FeatureExtractor):
        name = "hand-keypoints"

        def __init__(self):
            raise FileNotFoundError("hand_landmarker.task not found; run `hcvg assets fetch hand-landmarker`")

    features = Registry("feature extractor")
    features.register("hand-keypoints", MissingWeights)
    adapter_registry, split_registry = registries(square_samples)
    config = RunConfig(out=tmp_path / "run", adapters=[ComponentSpec("static")], splits=[ComponentSpec("squares")],
                       metrics=["psnr", "hs-err"])
    result = Runner(config, adapters=adapter_registry, splits=split_registry, features=features, progress=False).run()
    assert len(result.failures) == 1
    assert result.failures[0]["metric"] == "hs-err" and "hcvg assets fetch" in result.failures[0]["error"]
    assert set(result.summary.metric) == {"psnr"}


def test_distribution_metrics_read_cached_features(tmp_path, square_samples):
    """A Fréchet distance over per-frame mean colours: a 3-d FID, through the real runner path."""
    from metrics.base import DistributionMetric
    from metrics.features.base import FeatureExtractor

    class MeanColour(FeatureExtractor):
        name = "mean-colour"

        def extract(self, videos):
            return [v.reshape(v.shape[0], -1, 3).mean(axis=1).astype(np.float32) for v in videos]

    class ColourFrechet(DistributionMetric):
        name = "colour-frechet"
        higher_is_better = False
        features = ("mean-colour",)

        def __init__(self):
            self.reset()

        def reset(self):
            self.gen, self.gt = [], []

        def update(self, item):
            self.gen.append(item.features["mean-colour"])
            self.gt.append(item.target_features["mean-colour"])

        def compute(self):
            a, b = np.concatenate(self.gen), np.concatenate(self.gt)
            return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(np.cov(a.T) + np.cov(b.T)) - 2 * np.trace(
                np.real(__import__("scipy").linalg.sqrtm(np.cov(a.T) @ np.cov(b.T)))))

    features = Registry("feature extractor")
    features.register("mean-colour", MeanColour)
    metrics = Registry("metric")
    metrics.register("colour-frechet", ColourFrechet)
    metrics.register("psnr", "metrics.psnr:PSNR")
    adapter_registry, split_registry = registries(square_samples)
    config = RunConfig(out=tmp_path / "run", adapters=[ComponentSpec("static"), ComponentSpec("oracle")],
                       splits=[ComponentSpec("squares")], metrics=["colour-frechet", "psnr"])
    result = Runner(config, adapters=adapter_registry, splits=split_registry, metrics=metrics, features=features,
                    progress=False).run()
    summary = result.summary.set_index(["adapter", "metric", "scope"])
    assert summary.loc[("oracle", "colour-frechet", "full"), "value"] == pytest.approx(0.0, abs=1e-6)
    assert summary.loc[("static", "colour-frechet", "full"), "value"] > 1e-3  # the square moves: colours drift
    assert summary.loc[("static", "colour-frechet", "full"), "level"] == "distribution"
    assert summary.loc[("static", "colour-frechet", "full"), "n"] == len(square_samples)
    assert (tmp_path / "run" / "distribution.parquet").is_file()


def test_scoring_redone_after_a_kill_between_part_writes_is_not_counted_twice(tmp_path, square_samples):
    first = make_runner(tmp_path, square_samples, ["static"]).run()
    for part in (tmp_path / "run" / "parts" / "ledger").glob("*.parquet"):
        part.unlink()  # killed after the scores part, before the ledger part
    again = make_runner(tmp_path, square_samples, ["static"], resume=True).run()
    assert len(again.scores) == len(first.scores)
    pd.testing.assert_frame_equal(first.summary, again.summary)


def test_prompt_embeddings_are_computed_once_per_sample(tmp_path, square_samples):
    """A text backbone embeds each prompt once, whatever the adapters, scopes and sides."""
    from metrics.base import SampleMetric
    from metrics.features.base import FeatureExtractor

    calls = []

    class PromptLength(FeatureExtractor):
        name = "prompt-length"
        kind = "text"

        def extract_text(self, texts):
            calls.extend(texts)
            return np.array([[len(t)] for t in texts], dtype=np.float32)

    class SameLength(SampleMetric):
        name = "same-length"
        features = ("prompt-length",)

        def score(self, item):
            return float(item.features["prompt-length"][0] == item.target_features["prompt-length"][0])

    features = Registry("feature extractor")
    features.register("prompt-length", PromptLength)
    metrics = Registry("metric")
    metrics.register("same-length", SameLength)
    adapter_registry, split_registry = registries(square_samples)
    config = RunConfig(out=tmp_path / "run", adapters=[ComponentSpec("static"), ComponentSpec("oracle")],
                       splits=[ComponentSpec("squares")], metrics=["same-length"])
    result = Runner(config, adapters=adapter_registry, splits=split_registry, metrics=metrics, features=features,
                    progress=False).run()
    assert len(calls) == len(square_samples)
    assert (result.scores["value"] == 1.0).all() and len(result.scores) == 2 * 2 * len(square_samples)


def test_ground_truth_features_are_cached_once_per_split(tmp_path, square_samples):
    """A backbone embeds each generated clip once per scope, and each ground-truth clip once per scope for
    the whole split, whatever the number of adapters; rescoring after a kill embeds nothing again."""
    from collections import Counter

    from metrics.base import SampleMetric
    from metrics.features.base import FeatureExtractor

    embedded: Counter = Counter()  # side -> clips embedded

    class Grey(Adapter):
        """A flat grey clip: its clips are told apart from the ground truth by content."""

        name: ClassVar[str] = "grey"
        capabilities: ClassVar[Capabilities] = Capabilities(max_batch_size=4)

        def __init__(self, value: int = 0):
            self.value = int(value)

        def generate(self, requests):
            return [np.full((r.num_frames, *r.size, 3), self.value, np.uint8) for r in requests]

    class CountingExtractor(FeatureExtractor):
        """Per-frame mean intensity, counting the clips it embeds by side."""

        name = "counting"

        def extract(self, videos):
            for video in videos:
                # Generated clips are flat; ground-truth clips (a square on texture) never are.
                embedded[f"grey-{video.flat[0]}" if video.min() == video.max() else "ground-truth"] += 1
            return [video.reshape(len(video), -1).mean(axis=1).astype(np.float32) for video in videos]

    class MeanIntensityGap(SampleMetric):
        name = "mean-intensity-gap"
        features = ("counting",)

        def score(self, item):
            return float(np.abs(item.features["counting"] - item.target_features["counting"]).mean())

    adapter_registry, split_registry = registries(square_samples)
    adapter_registry.register("grey", Grey)
    features = Registry("feature extractor")
    features.register("counting", CountingExtractor)
    metrics = Registry("metric")
    metrics.register("mean-intensity-gap", MeanIntensityGap)
    config = RunConfig(
        out=tmp_path / "run",
        adapters=[ComponentSpec("grey", {"value": 10}, label="grey-10"), ComponentSpec("grey", {"value": 20}, label="grey-20")],
        splits=[ComponentSpec("squares")],
        metrics=["mean-intensity-gap"],
        scopes=["full", "ma"],
        batch_size=2,  # two batches per adapter: the cache must also hold across batches
    )

    def run(resume=False):
        return Runner(config, resume=resume, adapters=adapter_registry, splits=split_registry, metrics=metrics,
                      features=features, progress=False).run()

    result = run()
    assert result.failures == []
    clips_per_side = len(square_samples) * 2  # samples × scopes
    assert embedded == {"grey-10": clips_per_side, "grey-20": clips_per_side, "ground-truth": clips_per_side}
    # Both adapters were scored against the ground truth's features of the right sample.
    scores = result.scores.set_index(["adapter", "sample_id", "scope"])["value"]
    for sample in square_samples:
        target_means = sample.target.reshape(len(sample.target), -1).mean(axis=1)
        for value in (10, 20):
            expected = np.abs(value - target_means).mean()
            assert scores[(f"grey-{value}", sample.id, "full")] == pytest.approx(expected, rel=1e-5)

    # As if killed after the videos and features were written but before the scores and
    # the ledger were: rescoring reads every feature from the cache.
    for table in ("scores", "ledger"):
        for part in (tmp_path / "run" / "parts" / table).glob("*.parquet"):
            part.unlink()
    again = run(resume=True)
    assert embedded == {"grey-10": clips_per_side, "grey-20": clips_per_side, "ground-truth": clips_per_side}
    pd.testing.assert_frame_equal(again.summary, result.summary)

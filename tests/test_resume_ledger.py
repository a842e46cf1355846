"""The per-cell ledger: resume computes exactly the missing (sample, metric, scope) cells.

Real components throughout: a tiny CLIP saved where the asset resolver looks (as a user
who fetched the weights would have it), lossless stored videos, parquet ledgers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.run_config import ComponentSpec
from hcvg.registry import Registry
from metrics.features.base import FeatureExtractor
from metrics.base import SampleMetric
from tests.test_runner import make_runner, registries

CLIP_METRICS = ["clip-gt", "clip-cs", "clip-tx"]


def video_mtimes(run: Path) -> dict[str, int]:
    return {str(p.relative_to(run)): p.stat().st_mtime_ns for p in sorted((run / "videos").rglob("*.mkv"))}


def new_ledger_rows(run: Path, before: set[Path]) -> pd.DataFrame:
    parts = [p for p in (run / "parts" / "ledger").glob("*.parquet") if p not in before]
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True) if parts else pd.DataFrame()


@pytest.fixture
def empty_asset_places(tmp_path, monkeypatch):
    """No CLIP anywhere the resolver looks; the CLIP backbone cache is cleared before and after."""
    from metrics.features.clip import ClipBackbone

    assets = tmp_path / "assets"
    monkeypatch.setenv("HCVG_ASSET_DIR", str(assets))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HCVG_CLIP_VIT_L_14", raising=False)
    ClipBackbone.shared.cache_clear()
    yield assets
    ClipBackbone.shared.cache_clear()


def test_weights_that_appear_are_scored_on_resume_without_regenerating(tmp_path, square_samples, empty_asset_places):
    from metrics.features.clip import tiny_clip_config, tiny_clip_tokenizer
    from transformers import CLIPModel

    metrics = ["psnr", *CLIP_METRICS]
    first = make_runner(tmp_path, square_samples, ["static"], metrics=metrics).run()
    assert first.generated == len(square_samples)
    assert set(first.summary.metric) == {"psnr"}
    assert {f["metric"] for f in first.failures if f["stage"] == "metric-setup"} == set(CLIP_METRICS)
    run = tmp_path / "run"
    mtimes = video_mtimes(run)

    # The user fetches the weights: a (tiny) CLIP folder where `hcvg assets` expects it.
    folder = empty_asset_places / "clip-vit-large-patch14"
    CLIPModel(tiny_clip_config()).save_pretrained(folder)
    tiny_clip_tokenizer().save_pretrained(folder)

    before = set((run / "parts" / "ledger").glob("*.parquet"))
    again = make_runner(tmp_path, square_samples, ["static"], metrics=metrics, resume=True).run()
    assert again.generated == 0
    assert video_mtimes(run) == mtimes  # no clip was rewritten
    assert set(again.summary.metric) == {"psnr", *CLIP_METRICS}
    assert (again.summary[again.summary.metric.isin(CLIP_METRICS)]["n"] == len(square_samples)).all()
    computed = new_ledger_rows(run, before)
    assert set(computed.metric) == set(CLIP_METRICS)  # psnr was finished: not scored again
    assert len(computed) == len(square_samples) * len(CLIP_METRICS) * 2
    pd.testing.assert_frame_equal(
        first.summary[first.summary.metric == "psnr"].reset_index(drop=True),
        again.summary[again.summary.metric == "psnr"].reset_index(drop=True),
    )


def test_a_metric_added_to_a_finished_run_is_the_only_one_computed(tmp_path, square_samples):
    first = make_runner(tmp_path, square_samples, ["static", "oracle"], metrics=["psnr", "background-motion"]).run()
    run = tmp_path / "run"
    mtimes = video_mtimes(run)
    before = set((run / "parts" / "ledger").glob("*.parquet"))
    again = make_runner(tmp_path, square_samples, ["static", "oracle"], metrics=["psnr", "background-motion", "ssim"], resume=True).run()
    computed = new_ledger_rows(run, before)
    assert set(computed.metric) == {"ssim"}
    assert again.computed_cells == 2 * len(square_samples) * 2  # adapters × samples × scopes
    assert again.generated == 0 and video_mtimes(run) == mtimes
    assert set(again.summary.metric) == {"psnr", "background-motion", "ssim"}
    for metric in ("psnr", "background-motion"):
        old = first.summary[first.summary.metric == metric].reset_index(drop=True)
        pd.testing.assert_frame_equal(old, again.summary[again.summary.metric == metric].reset_index(drop=True))
    # A finished run resumed again computes nothing.
    assert make_runner(tmp_path, square_samples, ["static", "oracle"], metrics=["psnr", "ssim"], resume=True).run().computed_cells == 0


class Brightness(FeatureExtractor):
    """Mean frame brightness times a gain: its config changes with the option."""

    name = "brightness"
    calls: list[int] = []

    def __init__(self, gain: float = 1.0):
        self.gain = float(gain)

    def config(self):
        return {"gain": self.gain}

    def extract(self, videos):
        Brightness.calls.append(len(videos))
        return [np.array([v.mean() * self.gain], dtype=np.float32) for v in videos]


class BrightnessGap(SampleMetric):
    name = "brightness-gap"
    features = ("brightness",)

    def score(self, item):
        return float(abs(item.features["brightness"][0] - item.target_features["brightness"][0]))


def run_with_gain(tmp_path, samples, gain, resume):
    from benchmark.runner import Runner

    features = Registry("feature extractor")
    features.register("brightness", lambda: Brightness(gain))
    metrics = Registry("metric")
    metrics.register("brightness-gap", BrightnessGap)
    adapters, splits = registries(samples)
    runner = make_runner(tmp_path, samples, ["static"], metrics=["brightness-gap"], resume=resume)
    return Runner(runner.config, resume=resume, adapters=adapters, splits=splits, metrics=metrics, features=features, progress=False).run()


def test_features_of_another_extractor_config_are_recomputed_never_mixed(tmp_path, square_samples):
    Brightness.calls.clear()
    first = run_with_gain(tmp_path, square_samples, 1.0, resume=False)
    first_calls = sum(Brightness.calls)
    assert first_calls == len(square_samples) * 2 * 2  # generated + ground truth, two scopes
    again = run_with_gain(tmp_path, square_samples, 1.0, resume=True)
    assert sum(Brightness.calls) == first_calls and again.computed_cells == 0  # same config: all cached
    doubled = run_with_gain(tmp_path, square_samples, 2.0, resume=True)
    assert sum(Brightness.calls) == 2 * first_calls  # every clip embedded again under the new fingerprint
    assert doubled.computed_cells == len(square_samples) * 2
    old = first.summary.set_index("scope")["value"]
    new = doubled.summary.set_index("scope")["value"]
    assert np.allclose(new, 2 * old)  # only the new features, never a mix of both
    fingerprints = [p.name for p in (tmp_path / "run" / "features" / "brightness").iterdir()]
    assert len(fingerprints) == 2


def test_the_ledger_marks_every_cell_with_the_metric_key(tmp_path, square_samples):
    result = make_runner(tmp_path, square_samples[:2], [ComponentSpec("static")], metrics=["psnr", "ssim"]).run()
    ledger = pd.read_parquet(tmp_path / "run" / "ledger.parquet")
    assert len(ledger) == 2 * 2 * 2
    assert set(ledger.columns) >= {"adapter", "split", "seed", "sample_id", "metric", "scope", "status", "metric_key"}
    assert (ledger.status == "ok").all()
    assert ledger.groupby("metric")["metric_key"].nunique().eq(1).all()
    assert len(result.scores) == len(ledger)


EVENTS: list[str] = []


def _lifecycle_adapter(label):
    from hcvg.adapter import Adapter, Capabilities, NativeSettings

    class Recording(Adapter):
        name = label
        capabilities = Capabilities(max_batch_size=2)
        native = NativeSettings(size=(64, 64), frames=15, steps=4)

        def load(self):
            EVENTS.append(f"load {label}")

        def close(self):
            EVENTS.append(f"close {label}")

        def generate(self, requests):
            EVENTS.append(f"generate {label}")
            return [np.repeat(r.context[None], r.num_frames, axis=0) for r in requests]

        def options(self):
            return {"flavour": "plain"}

    return Recording


class CountingBrightness(Brightness):
    def extract(self, videos):
        EVENTS.append("extract")
        return super().extract(videos)


def test_each_adapter_is_loaded_once_generates_then_closes_before_scoring(tmp_path, square_samples):
    import json

    from benchmark.runner import Runner

    EVENTS.clear()
    adapters, splits = registries(square_samples)
    adapters.register("first", _lifecycle_adapter("first"))
    adapters.register("second", _lifecycle_adapter("second"))
    features = Registry("feature extractor")
    features.register("brightness", CountingBrightness)
    metrics = Registry("metric")
    metrics.register("brightness-gap", BrightnessGap)
    config = make_runner(tmp_path, square_samples, ["first", "second"], metrics=["brightness-gap"]).config
    Runner(config, adapters=adapters, splits=splits, metrics=metrics, features=features, progress=False).run()
    compact = [e for i, e in enumerate(EVENTS) if i == 0 or e != EVENTS[i - 1]]
    assert compact == [
        "load first", "generate first", "close first", "extract",
        "load second", "generate second", "close second", "extract",
    ]
    described = json.loads((tmp_path / "run" / "run_config.json").read_text())["adapters"]["first"]
    assert described["options"] == {"flavour": "plain"}
    assert described["native"]["size"] == [64, 64] and described["native"]["steps"] == 4
    assert described["capabilities"]["max_batch_size"] == 2
    # Nothing to generate on resume: the model is not even loaded.
    EVENTS.clear()
    Runner(config, resume=True, adapters=adapters, splits=splits, metrics=metrics, features=features, progress=False).run()
    assert not any(e.startswith("load") for e in EVENTS)

"""Every registered metric honours the `Metric` contract; a new entry is tested with no new test."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hcvg.options import OptionError
from hcvg.registry import Registry, UnknownNameError
from metrics.base import Metric, MetricUndefined, SampleMetric, SCOPES, ScoredItem
from metrics.registry import METRICS, create_metric
from metrics.scope import ScopeConfig, apply_scope

NAMES = METRICS.names()
SIZE, NUM_FRAMES = 48, 4
# A small crop size keeps the "ma" items as cheap as the "full" ones.
SMALL_SCOPE = ScopeConfig(size=SIZE)


def _item(scope: str, seed: int = 0, with_mask: bool = True, metric: Metric | None = None) -> ScoredItem:
    """A random clip whose frames drift from the context, with a rectangular motion area.

    A metric that reads backbone features gets a demo clip with drawn hands instead (a
    hand detector finds nothing in noise), with the features its extractors compute.
    """
    if metric is not None and metric.features:
        return _feature_item(scope, metric, with_mask)
    rng = np.random.default_rng(seed)
    context = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    drift = rng.integers(-30, 31, (NUM_FRAMES, SIZE, SIZE, 3))
    generated = np.clip(context.astype(int) + drift, 0, 255).astype(np.uint8)
    target = rng.integers(0, 256, (NUM_FRAMES, SIZE, SIZE, 3), dtype=np.uint8)
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[12:30, 16:34] = True
    mask = mask if with_mask else None
    gen, tgt, ctx, ma = apply_scope(
        scope, generated=generated, target=target, context=context, motion_area=mask, config=SMALL_SCOPE
    )
    return ScoredItem(f"rand-{seed}", scope, gen, tgt, ctx, ma, "pick up the cup")


def _feature_item(scope: str, metric: Metric, with_mask: bool) -> ScoredItem:
    from benchmark.splits import load_split
    from metrics.features.registry import FEATURES

    sample = load_split("demo", num_samples=1).get("demo-0000")
    generated = sample.target[::-1].copy()  # the same hands, played backwards
    gen, tgt, ctx, ma = apply_scope(
        scope, generated=generated, target=sample.target, context=sample.context, motion_area=sample.motion_area
    )
    item = ScoredItem(sample.id, scope, gen, tgt, ctx, ma if with_mask else None, sample.prompt)
    for name in metric.features:
        try:
            extractor = _EXTRACTORS.setdefault(name, FEATURES.get(name).for_tests())
        except FileNotFoundError as err:  # e.g. the hand-landmarker model was not fetched
            pytest.skip(f"feature extractor {name!r} unavailable: {err}")
        if extractor.kind == "text":  # text extractors embed the prompt, the same for both clips
            item.features[name] = item.target_features[name] = extractor.extract_text([item.prompt])[0]
        else:
            item.features[name] = extractor.extract([item.generated])[0]
            item.target_features[name] = extractor.extract([item.target])[0]
    return item


_EXTRACTORS: dict = {}


def test_builtins_are_registered():
    assert {"psnr", "ssim", "background-fidelity", "background-motion", "hs-err", "hand-recall"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_metric_declares_its_contract(name):
    metric = create_metric(name)
    assert isinstance(metric, Metric)
    assert type(metric).name == metric.name == name
    assert isinstance(metric.higher_is_better, bool)
    assert metric.level in ("sample", "distribution")
    assert isinstance(metric.needs_motion_area, bool)
    config = metric.config()
    assert isinstance(config, dict) and config, "config() must record the metric's preprocessing choices"
    assert json.loads(json.dumps(config)) == config


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("name", NAMES)
def test_metric_scores_a_random_item_deterministically(name, scope):
    metric = create_metric(name)
    if not isinstance(metric, SampleMetric):
        pytest.skip(f"{name} is distribution-level; it has no per-item score")
    item = _item(scope, metric=metric)
    value = metric.score(item)
    assert isinstance(value, float) and math.isfinite(value)
    assert create_metric(name).score(_item(scope, metric=metric)) == value  # fresh instance, fresh arrays


@pytest.mark.parametrize("name", NAMES)
def test_metric_without_a_mask_is_undefined_only_if_it_needs_one(name):
    metric = create_metric(name)
    if not isinstance(metric, SampleMetric):
        pytest.skip(f"{name} is distribution-level; it has no per-item score")
    item = _item("full", with_mask=False, metric=metric)
    if metric.needs_motion_area:
        with pytest.raises(MetricUndefined):
            metric.score(item)
    else:
        assert math.isfinite(metric.score(item))


@pytest.mark.parametrize("name", NAMES)
def test_metric_does_not_modify_its_input(name):
    metric = create_metric(name)
    if not isinstance(metric, SampleMetric):
        pytest.skip(f"{name} is distribution-level; it has no per-item score")
    item = _item("full", metric=metric)
    before = [a.copy() for a in (item.generated, item.target, item.context, item.motion_area)]
    metric.score(item)
    for old, new in zip(before, (item.generated, item.target, item.context, item.motion_area)):
        np.testing.assert_array_equal(old, new)


# -- create_metric on a fresh registry -------------------------------------------------


class _Constant(SampleMetric):
    name = "constant"

    def __init__(self, value: float = 1.0):
        self.value = value

    def score(self, item: ScoredItem) -> float:
        return self.value


class _NotAMetric:
    pass


def _not_a_metric_factory() -> object:
    return _NotAMetric()


def test_create_metric_passes_options_and_checks_them():
    registry: Registry[type[Metric]] = Registry("metric", base=Metric)
    registry.register("constant", f"{__name__}:_Constant")
    assert create_metric("constant", registry, value=3.0).value == 3.0
    with pytest.raises(OptionError, match="metric 'constant': unknown option 'bogus'"):
        create_metric("constant", registry, bogus=1)
    with pytest.raises(UnknownNameError, match="Did you mean: constant"):
        create_metric("constnt", registry)


def test_create_metric_refuses_a_factory_that_builds_no_metric():
    registry: Registry[type[Metric]] = Registry("metric", base=Metric)
    registry.register("odd", f"{__name__}:_not_a_metric_factory")
    with pytest.raises(TypeError, match="not a Metric"):
        create_metric("odd", registry)


def test_listing_metrics_imports_none_of_them():
    heavy = ("metrics.psnr", "metrics.ssim", "metrics.background", "metrics.optical_flow", "torch", "cv2")
    code = (
        "import sys; from metrics.registry import METRICS; METRICS.names(); "
        f"print(sorted(m for m in sys.modules if m.startswith({heavy!r})))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "[]"


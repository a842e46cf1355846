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
from metrics.base import DistributionMetric, Metric, MetricUndefined, SampleMetric, SCOPES, ScoredItem
from metrics.registry import METRICS, create_metric
from metrics.scope import ScopeConfig, apply_scope

NAMES = METRICS.names()
SAMPLE_NAMES = [n for n in NAMES if METRICS.get(n).level == "sample"]
DISTRIBUTION_NAMES = [n for n in NAMES if METRICS.get(n).level == "distribution"]
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
    assert {"psnr", "ssim", "background-fidelity", "background-motion", "hs-err", "hand-recall"} <= set(SAMPLE_NAMES)
    assert {"fid", "fvd"} <= set(DISTRIBUTION_NAMES)
    assert sorted(SAMPLE_NAMES + DISTRIBUTION_NAMES) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_metric_declares_its_contract(name):
    metric = create_metric(name)
    assert isinstance(metric, Metric)
    assert type(metric).name == metric.name == name
    assert isinstance(metric.higher_is_better, bool)
    assert metric.level in ("sample", "distribution")
    # The level names the protocol the runner drives: score() or update()/compute().
    assert isinstance(metric, SampleMetric if metric.level == "sample" else DistributionMetric)
    assert isinstance(metric.needs_motion_area, bool)
    config = metric.config()
    assert isinstance(config, dict) and config, "config() must record the metric's preprocessing choices"
    assert json.loads(json.dumps(config)) == config


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_metric_scores_a_random_item_deterministically(name, scope):
    metric = create_metric(name)
    item = _item(scope, metric=metric)
    value = metric.score(item)
    assert isinstance(value, float) and math.isfinite(value)
    assert create_metric(name).score(_item(scope, metric=metric)) == value  # fresh instance, fresh arrays


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_metric_without_a_mask_is_undefined_only_if_it_needs_one(name):
    metric = create_metric(name)
    item = _item("full", with_mask=False, metric=metric)
    if metric.needs_motion_area:
        with pytest.raises(MetricUndefined):
            metric.score(item)
    else:
        assert math.isfinite(metric.score(item))


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_metric_does_not_modify_its_input(name):
    metric = create_metric(name)
    item = _item("full", metric=metric)
    before = [a.copy() for a in (item.generated, item.target, item.context, item.motion_area)]
    metric.score(item)
    for old, new in zip(before, (item.generated, item.target, item.context, item.motion_area)):
        np.testing.assert_array_equal(old, new)


# -- distribution-level metrics: update / compute / reset / merge --------------------------

FEATURE_DIM = 8  # a small feature width keeps a Fréchet distance's matrix square root cheap
_FEATURE_SHAPES: dict[str, tuple[int, ...]] = {}


def _feature_shape(name: str) -> tuple[int, ...]:
    """The shape of extractor ``name``'s features of one benchmark clip, last axis cut to `FEATURE_DIM`.

    E.g. ``[15, 2048]`` per clip (Inception, one row per frame) becomes ``[15, 8]``, and
    ``[400]`` (I3D, one vector per clip) becomes ``[8]``.
    """
    if name not in _FEATURE_SHAPES:
        from benchmark.splits import load_split
        from metrics.features.registry import FEATURES

        clip = load_split("demo", num_samples=1).get("demo-0000").target
        try:
            extractor = _EXTRACTORS.setdefault(name, FEATURES.get(name).for_tests())
        except FileNotFoundError as err:
            pytest.skip(f"feature extractor {name!r} unavailable: {err}")
        _FEATURE_SHAPES[name] = (*extractor.extract([clip])[0].shape[:-1], FEATURE_DIM)
    return _FEATURE_SHAPES[name]


def _distribution_items(metric: Metric, count: int, offset: float = 0.5, identical: bool = False) -> list[ScoredItem]:
    """``count`` items carrying random features shaped like the metric's extractors' outputs.

    Distribution metrics read only features, so the frames are empty (as in the runner).
    Target features are standard normal; generated ones are other draws shifted by
    ``offset``, or copies of the targets when ``identical``.
    """
    rng = np.random.default_rng(0)
    empty = np.empty((0,), dtype=np.uint8)
    items = []
    for i in range(count):
        item = ScoredItem(f"sample-{i}", "full", empty, empty, empty, None, "pick up the cup")
        for name in metric.features:
            shape = _feature_shape(name)
            target = rng.normal(size=shape).astype(np.float32)
            generated = target.copy() if identical else (rng.normal(size=shape) + offset).astype(np.float32)
            item.features[name], item.target_features[name] = generated, target
        items.append(item)
    return items


def _filled(name: str, items: list[ScoredItem]) -> DistributionMetric:
    metric = create_metric(name)
    for item in items:
        metric.update(item)
    return metric


@pytest.mark.parametrize("name", DISTRIBUTION_NAMES)
def test_distribution_metric_accumulates_computes_and_resets(name):
    metric = create_metric(name)
    with pytest.raises(MetricUndefined):
        metric.compute()  # nothing added yet
    items = _distribution_items(metric, 12)
    for item in items:
        metric.update(item)
    value = metric.compute()
    assert isinstance(value, float) and math.isfinite(value)
    assert metric.compute() == value, "compute() must read the state, not consume it"
    stepwise = _filled(name, items[:5])
    stepwise.compute()
    for item in items[5:]:
        stepwise.update(item)
    assert stepwise.compute() == pytest.approx(value, rel=1e-9), "updates after a compute() must add to the same state"
    metric.reset()
    with pytest.raises(MetricUndefined):
        metric.compute()
    others = _distribution_items(metric, 12, offset=2.0)
    for item in others:
        metric.update(item)
    assert metric.compute() == pytest.approx(_filled(name, others).compute(), rel=1e-12), "reset() must forget everything"


@pytest.mark.parametrize("name", DISTRIBUTION_NAMES)
def test_distribution_metric_is_zero_on_identical_sets(name):
    metric = create_metric(name)
    same = _filled(name, _distribution_items(metric, 12, identical=True)).compute()
    apart = _filled(name, _distribution_items(metric, 12, offset=1.0)).compute()
    assert apart > 1.0  # means one apart in each of 8 dimensions
    assert abs(same) <= 1e-6 * apart


@pytest.mark.parametrize("name", DISTRIBUTION_NAMES)
def test_distribution_metric_merges_shards_to_the_one_pass_value(name):
    metric = create_metric(name)
    items = _distribution_items(metric, 12)
    whole = _filled(name, items).compute()
    first, second = _filled(name, items[:5]), _filled(name, items[5:])
    assert callable(getattr(first, "merge", None)), f"{name} must merge shard states (merge(other))"
    first.merge(second)
    assert first.compute() == pytest.approx(whole, rel=1e-9)
    empty = create_metric(name)
    empty.merge(_filled(name, items))
    assert empty.compute() == pytest.approx(whole, rel=1e-9)


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


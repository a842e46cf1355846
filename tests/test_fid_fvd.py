"""FID and FVD: state, reduction, a set against itself, perturbations, small-set warnings."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from metrics.base import DistributionMetric, MetricUndefined, ScoredItem
from metrics.fid import FID
from metrics.frechet import frechet_distance_from_features
from metrics.fvd import FVD
from metrics.registry import create_metric
from tests.realistic_features import i3d_like, inception_like

FRAMES, SIZE = 4, 8


def _item(sample_id: str, extractor: str, generated, target) -> ScoredItem:
    blank = np.zeros((FRAMES, SIZE, SIZE, 3), np.uint8)
    return ScoredItem(
        sample_id, "full", blank, blank, blank[0], None, "cut carrot",
        features={extractor: generated}, target_features={extractor: target},
    )


def _fid_items(shift: float = 0.0, noise: float = 0.0, seed: int = 0, n: int = 12, dim: int = 16) -> list[ScoredItem]:
    """``n`` clips of ``FRAMES`` per-frame features; generated = target + shift + noise."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        target = rng.normal(size=(FRAMES, dim)).astype(np.float32)
        generated = target + shift + noise * np.random.default_rng(100 + i).normal(size=target.shape)
        items.append(_item(f"s{i}", "inception-pool3", generated.astype(np.float32), target))
    return items


def _fvd_items(shift: float = 0.0, seed: int = 0, n: int = 40, dim: int = 24) -> list[ScoredItem]:
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        target = rng.normal(size=dim).astype(np.float32)
        items.append(_item(f"s{i}", "i3d-logits", (target + shift).astype(np.float32), target))
    return items


def _score(metric: DistributionMetric, items: list[ScoredItem]) -> float:
    metric.reset()
    for item in items:
        metric.update(item)
    return metric.compute()


@pytest.mark.parametrize(("cls", "make"), [(FID, _fid_items), (FVD, _fvd_items)])
def test_a_set_against_itself_is_zero_and_a_perturbed_one_higher(cls, make):
    metric = cls()
    assert metric.higher_is_better is False and metric.level == "distribution"
    same = _score(metric, make())
    assert abs(same) < 1e-6
    shifted = _score(metric, make(shift=0.5))
    assert shifted > 0.1
    assert _score(metric, make(shift=1.0)) > shifted


def test_fid_pools_frames_and_equals_the_distance_of_all_frames():
    items = _fid_items(noise=0.3)
    gen = np.concatenate([i.features["inception-pool3"] for i in items])
    target = np.concatenate([i.target_features["inception-pool3"] for i in items])
    assert gen.shape == (12 * FRAMES, 16)
    assert _score(FID(), items) == pytest.approx(frechet_distance_from_features(gen, target), rel=1e-12)
    assert _score(FID(), _fid_items(noise=0.6)) > _score(FID(), items) > 0


def test_shards_merge_to_the_single_process_value():
    items = _fid_items(noise=0.3)
    whole = _score(FID(), items)
    first, second = FID(), FID()
    for item in items[:5]:
        first.update(item)
    for item in items[5:]:
        second.update(item)
    first.merge(second)
    assert first.compute() == pytest.approx(whole, rel=1e-12)
    with pytest.raises(TypeError, match="cannot merge"):
        first.merge(FVD())


def _realistic_items(cls, num_clips: int, frames: int, dim: int) -> tuple[list[ScoredItem], np.ndarray, np.ndarray]:
    """Items whose generated and ground-truth features are two different realistic sets.

    Returns:
        (items, all generated rows, all ground-truth rows), rows float32 ``[num_clips·frames, dim]``.
    """
    make = inception_like if cls is FID else i3d_like
    generated, target = make(num_clips * frames, dim, seed=1), make(num_clips * frames, dim, seed=2)
    name = cls.features[0]

    def clip(rows: np.ndarray, i: int) -> np.ndarray:
        return rows[i * frames : (i + 1) * frames] if cls is FID else rows[i]

    items = [_item(f"s{i}", name, clip(generated, i), clip(target, i)) for i in range(num_clips)]
    return items, generated, target


def _saved_and_merged(cls, shards: list[list[ScoredItem]], folder) -> DistributionMetric:
    """Each shard scored by its own metric, saved to .npz, loaded and merged as another process would."""
    paths = []
    for index, shard in enumerate(shards):
        metric = cls()
        for item in shard:
            metric.update(item)
        paths.append(folder / f"shard{index}.npz")
        np.savez(paths[-1], **metric.state())
    merged = cls.from_state(np.load(paths[0]))
    for path in paths[1:]:
        merged.merge(cls.from_state(np.load(path)))
    return merged


# Frame-level FID on 40 clips x 15 frames (more frames than dimensions) and FVD on 300 clips
# of 400-d logits (fewer clips than dimensions: singular covariances, the eps retry).
REALISTIC = {"fid-frames": (FID, 40, 15, 256), "fvd-clips": (FVD, 300, 1, 400)}


@pytest.mark.parametrize("case", sorted(REALISTIC))
def test_saved_shards_merge_to_the_single_pass_and_concatenated_values(case, tmp_path):
    cls, num_clips, frames, dim = REALISTIC[case]
    items, generated, target = _realistic_items(cls, num_clips, frames, dim)
    single = _score(cls(), items)
    cuts = [0, num_clips // 3, num_clips // 3 + 7, num_clips]
    merged = _saved_and_merged(cls, [items[a:b] for a, b in zip(cuts, cuts[1:])], tmp_path)
    assert merged.num_generated == merged.num_target == num_clips * frames
    assert merged.compute() == pytest.approx(single, rel=1e-9)
    # The value the row-keeping state gave (np.cov of all rows), to the same tolerance.
    assert single == pytest.approx(frechet_distance_from_features(generated, target), rel=1e-9)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_full_size_fid_shards_merge_to_the_single_pass_value(tmp_path):
    """600 frames of 2048-d pool3-like features: singular covariances at FID's real size (minutes)."""
    items, generated, target = _realistic_items(FID, 40, 15, 2048)
    single = _score(FID(), items)
    merged = _saved_and_merged(FID, [items[:17], items[17:]], tmp_path)
    assert merged.compute() == pytest.approx(single, rel=1e-9)
    assert single == pytest.approx(frechet_distance_from_features(generated, target), rel=1e-9)


def test_state_holds_float64_sums_not_rows():
    items = _fid_items(noise=0.3)
    metric = FID()
    for item in items:
        metric.update(item)
    state = metric.state()
    gen = np.concatenate([i.features["inception-pool3"] for i in items]).astype(np.float64)
    assert set(state) == {"metric", "generated_n", "generated_sum", "generated_outer", "target_n", "target_sum", "target_outer", "target_ids"}
    assert int(state["generated_n"]) == len(gen) and state["generated_outer"].shape == (16, 16)
    assert state["generated_sum"].dtype == state["generated_outer"].dtype == np.float64
    np.testing.assert_allclose(state["generated_sum"], gen.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(state["generated_outer"], gen.T @ gen, rtol=1e-12)
    assert state["target_ids"] == sorted(i.sample_id for i in items)


def test_a_state_round_trips_exactly_through_npz(tmp_path):
    metric = FVD()
    for item in _fvd_items(shift=0.3):
        metric.update(item)
    np.savez(tmp_path / "state.npz", **metric.state())
    loaded = FVD.from_state(np.load(tmp_path / "state.npz"))
    for key, value in metric.state().items():
        np.testing.assert_array_equal(np.asarray(loaded.state()[key]), np.asarray(value))
    assert loaded.compute() == metric.compute()
    np.savez(tmp_path / "empty.npz", **FVD().state())  # a shard that got no clips
    empty = FVD.from_state(np.load(tmp_path / "empty.npz"))
    assert empty.num_generated == 0 and empty.target_ids == frozenset()
    empty.merge(loaded)
    assert empty.compute() == metric.compute()


def test_merging_shards_that_share_a_ground_truth_sample_is_refused():
    items = _fvd_items()
    first, second = FVD(), FVD()
    for item in items[:20]:
        first.update(item)
    for item in items[15:]:
        second.update(item)
    before = first.state()
    with pytest.raises(ValueError, match=r"5 sample\(s\) \('s15', 's16', 's17', 's18', 's19'\)"):
        first.merge(second)
    after = first.state()
    assert all(np.array_equal(np.asarray(before[k]), np.asarray(after[k])) for k in before)  # left as it was
    with pytest.raises(ValueError, match="into itself"):
        second.merge(second)


def test_a_wrong_state_is_refused():
    fid = FID()
    fid.update(_fid_items(n=1)[0])
    with pytest.raises(ValueError, match="cannot load a 'fid' state into 'fvd'"):
        FVD.from_state(fid.state())
    incomplete = {k: v for k, v in fid.state().items() if k != "target_outer"}
    with pytest.raises(ValueError, match=r"missing \['target_outer'\]"):
        FID.from_state(incomplete)
    bad = {**fid.state(), "generated_outer": np.zeros((16, 15))}
    with pytest.raises(ValueError, match=r"\[D, D\]"):
        FID.from_state(bad)


def test_non_finite_or_mismatched_features_are_refused_at_update():
    metric = FVD()
    metric.update(_fvd_items(n=1)[0])
    bad = np.full(24, np.nan, np.float32)
    with pytest.raises(ValueError, match="'x1' contain NaN"):
        metric.update(_item("x1", "i3d-logits", bad, np.zeros(24, np.float32)))
    with pytest.raises(ValueError, match="12-d, but the i3d-logits features so far are 24-d"):
        metric.update(_item("x2", "i3d-logits", np.zeros(12, np.float32), np.zeros(12, np.float32)))
    assert metric.num_generated == metric.num_target == 1 and metric.target_ids == {"s0"}


def test_ground_truth_counts_once_per_sample():
    items = _fvd_items(shift=0.2)
    metric = FVD()
    for item in items + items[:10]:  # the same samples again, e.g. a second seed
        metric.update(item)
    assert metric.num_generated == 50 and metric.num_target == 40
    assert metric.target_ids == {f"s{i}" for i in range(40)}
    once = FVD()
    for item in items:
        once.update(item)
    np.testing.assert_array_equal(metric.state()["target_outer"], once.state()["target_outer"])


def test_fvd_warns_below_256_videos(caplog):
    with caplog.at_level(logging.WARNING, logger="metrics.fvd"):
        _score(FVD(), _fvd_items(n=10))
    assert any("below 256 videos" in r.getMessage() for r in caplog.records)


def test_too_few_vectors_are_undefined_and_reset_forgets():
    metric = FID()
    for item in _fid_items(n=3):
        metric.update(item)
    metric.reset()
    with pytest.raises(MetricUndefined, match="at least 2"):
        metric.compute()
    metric.update(_fid_items(n=1)[0])
    metric.compute()  # 4 frames on each side are enough for FID
    fvd = FVD()
    fvd.update(_fvd_items(n=1)[0])
    with pytest.raises(MetricUndefined, match="2 clips"):
        fvd.compute()


@pytest.mark.parametrize("name", ["fid", "fvd"])
def test_registered_and_configs_record_the_protocol(name):
    metric = create_metric(name)
    config = metric.config()
    assert json.loads(json.dumps(config)) == config
    assert config["features"] == {"fid": "inception-pool3", "fvd": "i3d-logits"}[name]
    assert config["unit"] == {"fid": "frame", "fvd": "clip"}[name]


def test_fvd_end_to_end_with_a_random_i3d():
    """The whole chain on a random full-size I3D: identical sets score 0, noisy clips more."""
    from metrics.features.i3d import I3DLogitsExtractor

    extractor = I3DLogitsExtractor.from_config(num_frames=9)
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (9, 24, 24, 3), dtype=np.uint8) for _ in range(2)]
    noisy = [np.clip(c.astype(int) + rng.integers(-60, 61, c.shape), 0, 255).astype(np.uint8) for c in clips]
    logits = extractor.extract(clips + noisy)
    real, fake = logits[:2], logits[2:]
    blank = np.zeros((1, 4, 4, 3), np.uint8)

    def items(generated):
        return [
            ScoredItem(f"s{i}", "full", blank, blank, blank[0], None, "", {"i3d-logits": g}, {"i3d-logits": r})
            for i, (g, r) in enumerate(zip(generated, real))
        ]

    assert abs(_score(FVD(), items(real))) < 1e-6
    assert _score(FVD(), items(fake)) > 0

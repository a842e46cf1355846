"""Every registered feature extractor honours the `FeatureExtractor` contract.

Parametrized over `metrics.features.registry.FEATURES`, each built by its `for_tests`
(tiny config, random weights), so a new backbone is tested with no new test. The clips
are a demo clip with drawn hands and a noise clip of the same length (in which no hand
is found), at the benchmark's frame count and size.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from hcvg import FRAME_SIZE, NUM_FRAMES
from metrics.features.base import FeatureExtractor
from metrics.features.registry import FEATURES

NAMES = FEATURES.names()
VIDEO_NAMES = [n for n in NAMES if FEATURES.get(n).kind == "video"]
TEXT_NAMES = [n for n in NAMES if FEATURES.get(n).kind == "text"]
TEXTS = ["cut carrot", "open the fridge door", "pick up knife and cut the onion in half"]


def _build(name: str) -> FeatureExtractor:
    try:
        return FEATURES.get(name).for_tests()
    except FileNotFoundError as err:  # e.g. the hand-landmarker bundle was not fetched
        pytest.skip(f"feature extractor {name!r} unavailable: {err}")


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
    from benchmark.splits import load_split

    demo = load_split("demo", num_samples=1).get("demo-0000").target
    assert demo.shape == (NUM_FRAMES, FRAME_SIZE, FRAME_SIZE, 3)
    noise = np.random.default_rng(0).integers(0, 256, demo.shape, dtype=np.uint8)
    return [demo, noise]


_OUTPUTS: dict[str, dict[str, list[np.ndarray]]] = {}


def _outputs(name: str, clips: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
    """The extractor's outputs on the two clips as one batch, one by one, and from a fresh instance."""
    if name not in _OUTPUTS:
        extractor = _build(name)
        _OUTPUTS[name] = {
            "batch": extractor.extract(list(clips)),
            "singles": [extractor.extract([clip])[0] for clip in clips],
            "fresh": _build(name).extract([clips[0]]),
        }
    return _OUTPUTS[name]


def test_every_registered_extractor_is_covered():
    assert sorted(VIDEO_NAMES + TEXT_NAMES) == sorted(NAMES) and NAMES


@pytest.mark.parametrize("name", NAMES)
def test_extractor_declares_its_contract(name):
    extractor = _build(name)
    assert isinstance(extractor, FeatureExtractor)
    assert type(extractor).name == extractor.name == name
    assert extractor.kind in ("video", "text")
    config = extractor.config()
    assert isinstance(config, dict) and config, "config() must record the weights and preprocessing"
    assert json.loads(json.dumps(config)) == config, "config() must be JSON-serializable as it is"


@pytest.mark.parametrize("name", VIDEO_NAMES)
def test_video_extractor_gives_one_float32_array_per_clip_of_one_shape(name, clips):
    batch = _outputs(name, clips)["batch"]
    assert isinstance(batch, list) and len(batch) == len(clips)
    for features in batch:
        assert isinstance(features, np.ndarray) and features.dtype == np.float32
        assert not np.isinf(features).any()  # NaN may mark "not found" (hand keypoints), inf never
    # The shape does not depend on the content (hands or none).
    assert batch[0].shape == batch[1].shape and batch[0].size > 0


@pytest.mark.parametrize("name", VIDEO_NAMES)
def test_video_extractor_is_deterministic_and_batching_changes_nothing(name, clips):
    out = _outputs(name, clips)
    np.testing.assert_array_equal(out["fresh"][0], out["singles"][0])  # NaN == NaN here
    for in_batch, alone in zip(out["batch"], out["singles"]):
        scale = np.abs(alone[np.isfinite(alone)]).max(initial=1.0)
        np.testing.assert_allclose(in_batch, alone, rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize("name", TEXT_NAMES)
def test_text_extractor_embeds_n_texts_as_n_by_d_float32(name):
    extractor = _build(name)
    batch = extractor.extract_text(TEXTS)
    assert isinstance(batch, np.ndarray) and batch.dtype == np.float32
    assert batch.ndim == 2 and batch.shape[0] == len(TEXTS) and batch.shape[1] > 0
    assert np.isfinite(batch).all()
    assert len({row.tobytes() for row in batch}) == len(TEXTS), "different texts must embed differently"
    singles = np.concatenate([extractor.extract_text([text]) for text in TEXTS])
    assert singles.shape == batch.shape
    np.testing.assert_allclose(batch, singles, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(_build(name).extract_text(TEXTS), batch)

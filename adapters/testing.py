"""Conformance checks every adapter must pass; third-party adapters can call them too.

Example::

    from adapters.testing import check_adapter
    check_adapter(MyAdapter.for_tests())              # on `conformance_samples()`
    check_adapter(MyAdapter.for_tests(), my_samples)

The lifecycle contract checked here: `describe()` works before `load()`; `load()`,
then any number of `generate` calls, then `close()`; `close()` may be called twice.
An adapter that overrides `close()` (it holds something: weights, a device) must raise
`RuntimeError` from `generate` once closed, never reload quietly: the runner closes a
model so the metric backbones can have the device, and a model that climbed back on
would take it from them. `load()` after `close()` makes it usable again, with the
same videos. An adapter with nothing to close (the base `close`) keeps working.
"""

from __future__ import annotations

import json

import numpy as np

from hcvg.adapter import Adapter, Capabilities, GenerationRequest, NativeSettings, make_request, validate_video
from hcvg.sample import Sample

CONFORMANCE_SPLIT = "conformance"


def conformance_samples(count: int = 3, size: int = 64, num_frames: int = 15) -> list[Sample]:
    """Small synthetic samples, the same on every call: the default input of `check_adapter`.

    Each is a textured background with a block moving right, its motion area and an
    expanded prompt, so adapters of every capability find what they read. An adapter
    whose `for_tests()` needs data per sample (as `folder` does) builds it from these.

    Returns:
        ``count`` samples with ids ``conformance-0 ...``, uint8 ``[size, size, 3]``
        context and ``[num_frames, size, size, 3]`` target.
    """
    samples = []
    for index in range(count):
        rng = np.random.default_rng(index)
        background = rng.integers(40, 200, size=(size, size, 3), dtype=np.uint8)
        frames = np.repeat(background[None], num_frames + 1, axis=0)
        side, top = size // 6, size // 2 - size // 12
        mask = np.zeros((size, size), dtype=bool)
        colour = rng.integers(150, 256, size=3, dtype=np.uint8)
        for t in range(num_frames + 1):
            left = 2 + t * (size - side - 4) // num_frames
            frames[t, top : top + side, left : left + side] = colour
            mask[top : top + side, left : left + side] = True
        samples.append(
            Sample(
                id=f"{CONFORMANCE_SPLIT}-{index}", split=CONFORMANCE_SPLIT, prompt="move the block",
                context=frames[0], target=frames[1:], expanded_prompt="a hand pushes a block to the right",
                motion_area=mask,
            )
        )
    return samples


def requests_for(adapter: Adapter, samples, seed: int = 0, num_frames: int | None = None) -> list[GenerationRequest]:
    """Requests for ``samples`` carrying exactly what the adapter's capabilities allow (as the runner builds them)."""
    return [make_request(s, adapter.capabilities, seed, num_frames) for s in samples]


def check_adapter(adapter: Adapter, samples=None) -> None:
    """Assert the adapter contract on a few samples.

    Checks: declarations (name, `Capabilities`, `NativeSettings`; `describe()` is
    JSON-serializable and names options, native and fitting; an adapter declaring a
    native size or frame count says how it fits them); requests carry only what the
    capabilities allow (no context for text-to-video, no target unless
    `needs_ground_truth`, no motion area unless `needs_mask`); the lifecycle (see the
    module docstring); one valid uint8 ``[L,H,W,3]`` clip per request, in order;
    determinism for a fixed seed; a batch gives the same clips as single calls.

    Args:
        adapter: The adapter, not yet loaded (e.g. ``MyAdapter.for_tests()``).
        samples: Samples to generate for (default: `conformance_samples()`).

    Raises:
        AssertionError: Naming the first broken rule.
    """
    _check_declarations(adapter)
    samples = conformance_samples() if samples is None else list(samples)
    # A seed per request, so that order and batch-versus-single checks bite on adapters
    # that ignore the context (text-to-video).
    requests = [make_request(s, adapter.capabilities, seed=i) for i, s in enumerate(samples)]
    requests = requests[: adapter.capabilities.max_batch_size]
    check_requests(adapter.capabilities, requests)
    adapter.load()
    try:
        videos = _check_generation(adapter, requests)
    finally:
        adapter.close()
    _check_closed(adapter, requests, videos)


def _check_declarations(adapter: Adapter) -> None:
    assert adapter.name, "an adapter needs a name"
    assert isinstance(adapter.capabilities, Capabilities), "capabilities must be a Capabilities instance"
    assert adapter.capabilities.max_batch_size >= 1, "max_batch_size must be at least 1"
    assert adapter.native is None or isinstance(adapter.native, NativeSettings), "native must be a NativeSettings or None"
    if type(adapter).load is not Adapter.load:
        assert type(adapter).close is not Adapter.close, "the adapter loads in load() but releases nothing in close()"
    description = adapter.describe()
    try:
        text = json.dumps(description)
    except TypeError as err:
        raise AssertionError(f"describe() is not JSON-serializable ({err}): {description!r}") from err
    described = json.loads(text)
    for key in ("name", "options", "capabilities", "native", "fitting"):
        assert key in described, f"describe() does not name {key!r}"
    assert isinstance(described["options"], dict), "describe()['options'] must be a dict of the adapter's options"
    assert isinstance(described["fitting"], dict), "describe()['fitting'] must be a dict (Fitting.describe())"
    native = adapter.native
    if native is not None and (native.size is not None or native.frames is not None):
        assert described["fitting"], "native size or frames are declared, but fitting() does not say how they are fitted"


def check_requests(capabilities: Capabilities, requests: list[GenerationRequest]) -> None:
    """Assert requests carry only what ``capabilities`` allow (`make_request` builds them so).

    Raises:
        AssertionError: Naming the sample, on a context given to a text-to-video
            adapter (or none to an image-conditioned one), a target given to an adapter
            without `needs_ground_truth`, or a motion area without `needs_mask`.
    """
    for request in requests:
        if capabilities.needs_image:
            assert request.context is not None, f"{request.sample_id}: an image-conditioned adapter got no context"
        else:
            assert request.context is None, f"{request.sample_id}: a text-to-video adapter was given the context frame"
        if not capabilities.needs_ground_truth:
            assert request.target is None, f"{request.sample_id}: the ground truth reached an adapter that may not read it"
        if not capabilities.needs_mask:
            assert request.motion_area is None, f"{request.sample_id}: the motion area reached an adapter that did not ask for it"


def _check_generation(adapter: Adapter, requests: list[GenerationRequest]) -> list[np.ndarray]:
    videos = adapter.generate(requests)
    assert len(videos) == len(requests), f"{len(videos)} videos for {len(requests)} requests"
    for request, video in zip(requests, videos):
        validate_video(video, request, adapter.name)
    if adapter.capabilities.deterministic:
        again = adapter.generate(requests)
        assert all(np.array_equal(a, b) for a, b in zip(videos, again)), "same seed, different videos"
        singles = [adapter.generate([r])[0] for r in requests]
        assert all(np.array_equal(a, b) for a, b in zip(videos, singles)), "a batch differs from single calls"
        reversed_videos = adapter.generate(requests[::-1])[::-1]
        assert all(np.array_equal(a, b) for a, b in zip(videos, reversed_videos)), "outputs are not in request order"
    return videos


def _check_closed(adapter: Adapter, requests: list[GenerationRequest], videos: list[np.ndarray]) -> None:
    holds_resources = type(adapter).close is not Adapter.close
    if holds_resources:
        try:
            adapter.generate(requests[:1])
        except RuntimeError:
            pass
        else:
            raise AssertionError("generate() after close() worked: a closed adapter must raise RuntimeError, not reload")
    adapter.load()
    try:
        again = adapter.generate(requests[:1])
        validate_video(again[0], requests[0], adapter.name)
        if adapter.capabilities.deterministic:
            assert np.array_equal(again[0], videos[0]), "load() after close() gives different videos"
    finally:
        adapter.close()
    adapter.close()  # the runner may close again after a failure; that must be harmless
    if not holds_resources:
        after = adapter.generate(requests[:1])
        validate_video(after[0], requests[0], adapter.name)

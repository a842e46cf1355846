"""Conformance checks every adapter must pass; third-party adapters can call them too.

Example::

    from adapters.testing import check_adapter
    check_adapter(MyAdapter(), samples)
"""

from __future__ import annotations

import numpy as np

from hcvg.adapter import Adapter, Capabilities, GenerationRequest, make_request, validate_video


def requests_for(adapter: Adapter, samples, seed: int = 0, num_frames: int | None = None) -> list[GenerationRequest]:
    """Requests for ``samples`` carrying exactly what the adapter's capabilities allow (as the runner builds them)."""
    return [make_request(s, adapter.capabilities, seed, num_frames) for s in samples]


def check_adapter(adapter: Adapter, samples) -> None:
    """Assert the adapter contract on a few samples.

    Checks: declared capabilities; one valid uint8 ``[L,H,W,3]`` clip per request, in
    order; determinism for a fixed seed; a batch gives the same clips as single calls.

    Raises:
        AssertionError: Naming the first broken rule.
    """
    assert isinstance(adapter.capabilities, Capabilities), "capabilities must be a Capabilities instance"
    assert adapter.name, "an adapter needs a name"
    requests = requests_for(adapter, samples)[: adapter.capabilities.max_batch_size]
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

"""Fallbacks that go on are said at WARNING level, with the file and the reason."""

from __future__ import annotations

import logging

import numpy as np

from benchmark.feature_cache import FeatureCache
from benchmark.run_store import RunStore


def test_a_cut_short_failure_line_is_skipped_with_a_warning(tmp_path, caplog):
    store = RunStore(tmp_path / "run")
    store.record_failure(adapter="static", stage="load", error="first")
    with store.failures_path.open("a", encoding="utf-8") as handle:
        handle.write('{"adapter": "static", "sta')  # a kill mid-append
    with caplog.at_level(logging.WARNING, logger="benchmark.run_store"):
        failures = store.read_failures()
    assert [f["error"] for f in failures] == ["first"]
    assert any("failures.jsonl line 2" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_an_unreadable_cached_feature_is_recomputed_with_a_warning(tmp_path, caplog):
    cache = FeatureCache(tmp_path / "features", fingerprints={"clip": "0123456789abcdef"})
    cache.save("clip", "full", "static/seed-0", "demo", "demo-0000", np.ones((2, 3), np.float32))
    path = cache.path("clip", "full", "static/seed-0", "demo", "demo-0000")
    np.testing.assert_array_equal(cache.load("clip", "full", "static/seed-0", "demo", "demo-0000"), np.ones((2, 3)))
    path.write_bytes(b"\x93NUMPY garbage")
    with caplog.at_level(logging.WARNING, logger="benchmark.feature_cache"):
        assert cache.load("clip", "full", "static/seed-0", "demo", "demo-0000") is None
    assert any(str(path) in r.getMessage() and "recomputing" in r.getMessage() for r in caplog.records)

import json

import pandas as pd

from benchmark.run_store import RunStore


def test_parts_append_and_consolidate_sorted(tmp_path):
    store = RunStore(tmp_path / "run")
    store.append_rows("scores", [{"sample_id": "b", "value": 2.0}])
    store.append_rows("scores", [{"sample_id": "a", "value": 1.0}])
    store.append_rows("scores", [])  # nothing written
    assert len(list((tmp_path / "run" / "parts" / "scores").glob("*.parquet"))) == 2
    table = store.consolidate("scores", ["sample_id"])
    assert table.sample_id.tolist() == ["a", "b"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "run" / "scores.parquet"), table)


def test_failures_survive_a_line_cut_short_by_a_kill(tmp_path):
    store = RunStore(tmp_path)
    store.record_failure(adapter="m", sample="s1", error="boom")
    with open(store.failures_path, "a") as handle:
        handle.write('{"adapter": "m", "sam')  # the process died mid-write
    store.record_failure(adapter="m", sample="s2", error="bang")
    assert [f["sample"] for f in store.read_failures()] == ["s1", "s2"]
    lines = store.failures_path.read_text().splitlines()
    assert json.loads(lines[0])["error"] == "boom"


def test_config_roundtrip_and_temporaries(tmp_path):
    store = RunStore(tmp_path)
    store.write_config({"matrix": {"seeds": [0]}})
    assert store.read_config() == {"matrix": {"seeds": [0]}}
    stale = tmp_path / "videos" / ".x.mkv.123.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half")
    assert store.remove_temporaries() == 1 and not stale.exists()

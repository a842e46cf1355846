"""Pinned weights: checked once on first use, a mismatch refused unless explicitly allowed,
every resolved file recorded with its digest."""

from __future__ import annotations

import json
import os

import pytest

from hcvg.asset_pins import (
    ALLOW_MISMATCH_ENV, DIGESTS_FILE, WeightMismatchError, file_digest, forget_used_assets, used_assets,
)
from hcvg.assets import Asset, resolve_asset, sha256_of


@pytest.fixture(autouse=True)
def clean(tmp_path, monkeypatch):
    monkeypatch.setenv("HCVG_ASSET_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(ALLOW_MISMATCH_ENV, raising=False)
    (tmp_path / "cache").mkdir()
    forget_used_assets()
    yield
    forget_used_assets()


def _weights(tmp_path, content=b"weights v1"):
    path = tmp_path / "cache" / "model.bin"
    path.write_bytes(content)
    return path


def test_a_matching_pin_is_verified_and_recorded(tmp_path):
    path = _weights(tmp_path)
    digest = sha256_of(path)
    assert resolve_asset(Asset("pinned-model", "model.bin", "test weights", sha256=digest)) == path
    assert used_assets()["pinned-model"] == {
        "name": "pinned-model", "path": str(path), "sha256": digest, "pinned": digest, "status": "verified", "revision": None,
    }
    # A prefix pin (torch hub's name-<8 hex>.pth convention) matches the same file.
    forget_used_assets()
    resolve_asset(Asset("prefix-model", "model.bin", "test weights", sha256=digest[:8]))
    assert used_assets()["prefix-model"]["status"] == "verified"


def test_a_mismatch_is_refused_naming_file_digests_and_override(tmp_path, monkeypatch):
    path = _weights(tmp_path)
    asset = Asset("pinned-model", "model.bin", "test weights", sha256="ab" * 32)
    with pytest.raises(WeightMismatchError) as err:
        resolve_asset(asset)
    message = str(err.value)
    assert str(path) in message and sha256_of(path) in message and "ab" * 32 in message
    assert "--allow-weight-mismatch pinned-model" in message and ALLOW_MISMATCH_ENV in message
    monkeypatch.setenv(ALLOW_MISMATCH_ENV, "other-model, pinned-model")
    assert resolve_asset(asset) == path
    assert used_assets()["pinned-model"]["status"] == "mismatch-allowed"
    monkeypatch.setenv(ALLOW_MISMATCH_ENV, "other-model")
    forget_used_assets()
    with pytest.raises(WeightMismatchError):
        resolve_asset(asset)


def test_unpinned_files_are_hashed_and_recorded(tmp_path):
    path = _weights(tmp_path)
    resolve_asset(Asset("free-model", "model.bin", "test weights"))
    assert used_assets()["free-model"]["sha256"] == sha256_of(path)
    assert used_assets()["free-model"]["status"] == "unpinned"


def test_the_digest_is_computed_once_per_file_version(tmp_path):
    path = _weights(tmp_path)
    cache_dir = tmp_path / "cache"
    first = file_digest(path, cache_dir)
    entry = json.loads((cache_dir / DIGESTS_FILE).read_text())[str(path.resolve())]
    assert entry["sha256"] == first and entry["size"] == path.stat().st_size
    # Same size and mtime: the cached digest is trusted (that is what makes it cheap).
    stat = path.stat()
    path.write_bytes(b"weights v2")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_digest(path, cache_dir) == first
    # A new mtime (any real rewrite) is hashed again.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert file_digest(path, cache_dir) == sha256_of(path) != first


def test_a_hub_folder_records_its_snapshot_revision(tmp_path):
    commit = "0123456789abcdef0123456789abcdef01234567"
    folder = tmp_path / "hub" / "models--org--model" / "snapshots" / commit
    folder.mkdir(parents=True)
    resolve_asset(Asset("pipeline-model", "pipeline", "a folder", directory=True), path=folder)
    assert used_assets()["pipeline-model"]["status"] == "folder"
    assert used_assets()["pipeline-model"]["revision"] == commit


def test_malformed_pins_are_refused_at_declaration():
    with pytest.raises(ValueError, match="hex digits"):
        Asset("bad", "x.bin", "bad pin", sha256="1234")
    with pytest.raises(ValueError, match="hex digits"):
        Asset("bad", "x.bin", "bad pin", sha256="XYZ" * 10)

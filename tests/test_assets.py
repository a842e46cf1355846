"""Tests for hcvg.assets: resolution order, error messages, fetch and checksums.

Nothing here touches the network: "official" URLs are either file:// URLs to files
under tmp_path or a closed local port.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from benchmark.asset_fetch import BUILDERS, fetch_asset
from hcvg.assets import (
    ASSETS,
    Asset,
    AssetChecksumError,
    AssetNotFoundError,
    asset_cache_dir,
    asset_status,
    get_asset,
    list_assets,
    resolve_asset,
    sha256_of,
)

# Port 9 (discard) on localhost: nothing listens there, so the connection is refused
# at once; no request ever leaves the machine.
CLOSED_URL = "http://127.0.0.1:9/tiny.bin"
PAYLOAD = b"tiny asset payload\n"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the asset cache and the hub cache at empty folders under tmp_path."""
    cache = tmp_path / "asset-cache"
    monkeypatch.setenv("HCVG_ASSET_DIR", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    monkeypatch.delenv("HCVG_TINY", raising=False)
    return cache


def make_asset(**overrides) -> Asset:
    fields = dict(
        name="tiny-test-asset",
        filename="tiny.bin",
        description="a few bytes for tests",
        official_url=None,
        env_var="HCVG_TINY",
        how_to_get="write it by hand",
    )
    fields.update(overrides)
    return Asset(**fields)


def write(path: Path, data: bytes = PAYLOAD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def fake_hub_file(hub: Path, repo_id: str, filename: str, data: bytes = PAYLOAD) -> Path:
    """Lay a file out the way huggingface_hub caches it (refs/main -> snapshot)."""
    repo_dir = hub / ("models--" + repo_id.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    write(repo_dir / "refs" / "main", commit.encode())
    return write(repo_dir / "snapshots" / commit / filename, data)


# -- resolution order --------------------------------------------------------------
def test_cache_dir_follows_env(isolated_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert asset_cache_dir() == isolated_cache
    monkeypatch.delenv("HCVG_ASSET_DIR")
    assert asset_cache_dir() == Path.home() / ".cache" / "hcvg" / "assets"


def test_explicit_path_beats_env_var_beats_cache(
    tmp_path: Path, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset = make_asset()
    cached = write(isolated_cache / "tiny.bin")
    assert resolve_asset(asset) == cached

    from_env = write(tmp_path / "env" / "tiny.bin")
    monkeypatch.setenv("HCVG_TINY", str(from_env))
    assert resolve_asset(asset) == from_env

    explicit = write(tmp_path / "explicit" / "tiny.bin")
    assert resolve_asset(asset, explicit) == explicit
    assert resolve_asset(asset, str(explicit)) == explicit


def test_env_var_pointing_nowhere_falls_through_to_cache(
    tmp_path: Path, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HCVG_TINY", str(tmp_path / "typo.bin"))
    cached = write(isolated_cache / "tiny.bin")
    assert resolve_asset(make_asset()) == cached


def test_missing_explicit_path_is_an_error_not_a_fallback(tmp_path: Path, isolated_cache: Path) -> None:
    write(isolated_cache / "tiny.bin")
    with pytest.raises(AssetNotFoundError, match="explicit path"):
        resolve_asset(make_asset(), tmp_path / "nope.bin")


def test_hub_cache_is_the_last_resort(tmp_path: Path, isolated_cache: Path) -> None:
    asset = make_asset(hf_repo="someorg/tiny-model", hf_filename="weights/tiny.bin")
    in_hub = fake_hub_file(tmp_path / "hf-hub", "someorg/tiny-model", "weights/tiny.bin")
    assert resolve_asset(asset) == in_hub
    # The asset cache still wins over the hub cache.
    cached = write(isolated_cache / "tiny.bin")
    assert resolve_asset(asset) == cached


def test_hub_filename_defaults_to_filename(tmp_path: Path) -> None:
    asset = make_asset(hf_repo="someorg/tiny-model")
    in_hub = fake_hub_file(tmp_path / "hf-hub", "someorg/tiny-model", "tiny.bin")
    assert resolve_asset(asset) == in_hub


# -- the error message ---------------------------------------------------------------
def test_not_found_message_names_file_places_and_remedies(
    tmp_path: Path, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HCVG_TINY", str(tmp_path / "typo.bin"))
    asset = make_asset(official_url="https://example.org/tiny.bin", hf_repo="someorg/tiny-model")
    with pytest.raises(AssetNotFoundError) as info:
        resolve_asset(asset)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "tiny.bin" in message
    assert str(tmp_path / "typo.bin") in message  # the env var's value
    assert str(isolated_cache / "tiny.bin") in message  # the cache location
    assert "hub cache (someorg/tiny-model/tiny.bin)" in message
    assert "hcvg assets fetch tiny-test-asset" in message
    assert "https://example.org/tiny.bin" in message
    assert "HCVG_TINY" in message


def test_not_found_message_says_when_env_var_is_unset() -> None:
    with pytest.raises(AssetNotFoundError, match=r"\$HCVG_TINY: \(not set\)"):
        resolve_asset(make_asset())


# -- fetch -------------------------------------------------------------------------
def test_fetch_falls_back_to_builder_when_download_fails(isolated_cache: Path) -> None:
    calls = []

    def builder(dest: Path) -> None:
        calls.append(dest)
        dest.write_bytes(PAYLOAD)

    asset = make_asset(official_url=CLOSED_URL)
    path = fetch_asset(asset, timeout=2, builder=builder)
    assert path == isolated_cache / "tiny.bin"
    assert path.read_bytes() == PAYLOAD
    assert len(calls) == 1
    # The builder wrote to a temp path, then the file was moved into place.
    assert calls[0] != path
    assert sorted(p.name for p in isolated_cache.iterdir()) == ["tiny.bin"]

    # Present now: a second fetch does nothing; force builds again.
    assert fetch_asset(asset, timeout=2, builder=builder) == path
    assert len(calls) == 1
    fetch_asset(asset, force=True, timeout=2, builder=builder)
    assert len(calls) == 2


def test_fetch_without_builder_reports_every_way_tried(isolated_cache: Path) -> None:
    with pytest.raises(AssetNotFoundError) as info:
        fetch_asset(make_asset(official_url=CLOSED_URL), timeout=2)
    message = str(info.value)
    assert CLOSED_URL in message
    assert "HCVG_TINY" in message
    assert not (isolated_cache / "tiny.bin").exists()


def test_fetch_reports_a_failing_builder(isolated_cache: Path) -> None:
    def builder(dest: Path) -> None:
        raise RuntimeError("no package index")

    with pytest.raises(AssetNotFoundError, match="no package index"):
        fetch_asset(make_asset(official_url=CLOSED_URL), timeout=2, builder=builder)
    assert not isolated_cache.exists() or not any(isolated_cache.iterdir())


def test_fetch_downloads_and_checks_sha256(tmp_path: Path, isolated_cache: Path) -> None:
    source = write(tmp_path / "server" / "tiny.bin")
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    path = fetch_asset(make_asset(official_url=source.as_uri(), sha256=digest))
    assert path == isolated_cache / "tiny.bin"
    assert sha256_of(path) == digest


def test_fetch_rejects_a_wrong_sha256_and_leaves_nothing(tmp_path: Path, isolated_cache: Path) -> None:
    source = write(tmp_path / "server" / "tiny.bin")
    asset = make_asset(official_url=source.as_uri(), sha256="0" * 64)
    with pytest.raises(AssetChecksumError, match="expected 0000"):
        fetch_asset(asset)
    assert not (isolated_cache / "tiny.bin").exists()
    assert not any(isolated_cache.glob("*.part"))


def test_sha256_of_matches_hashlib(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # > 1 MiB, so more than one chunk is read
    path = write(tmp_path / "blob.bin", data)
    assert sha256_of(path) == hashlib.sha256(data).hexdigest()


# -- status and registry -------------------------------------------------------------
def test_asset_status_absent_then_present(isolated_cache: Path) -> None:
    asset = make_asset(official_url="https://example.org/tiny.bin", size_bytes=123)
    row = asset_status(asset)
    assert row["present"] is False and row["path"] is None and row["sha256"] is None
    assert row["expected_location"] == str(isolated_cache / "tiny.bin")
    assert row["official_source"] == "https://example.org/tiny.bin"
    assert row["size_bytes"] == 123

    write(isolated_cache / "tiny.bin")
    row = asset_status(asset)
    assert row["present"] is True
    assert row["path"] == str(isolated_cache / "tiny.bin")
    assert row["size_bytes"] == len(PAYLOAD)
    assert row["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()


def test_builtin_hand_landmarker_is_registered() -> None:
    assert "hand-landmarker" in list_assets()
    asset = get_asset("hand-landmarker")
    assert asset is ASSETS.get("hand-landmarker")
    assert asset.filename == "hand_landmarker.task"
    assert asset.env_var == "HCVG_HAND_LANDMARKER"
    assert "hand-landmarker" in BUILDERS  # the CLI layer knows how to build it offline
    assert asset.official_url and asset.official_url.startswith("https://storage.googleapis.com/mediapipe-models/")


def test_every_declared_asset_is_listed_from_entry_points() -> None:
    """The owners' assets reach `list_assets` through the `hcvg.assets` entry points alone."""
    from importlib.metadata import entry_points

    declared = {ep.name for ep in entry_points(group="hcvg.assets")}
    assert {"hand-landmarker", "clip-vit-l-14", "inception-fid-pytorch", "i3d-kinetics-400", "egovlp-epic-mir"} <= declared
    assert declared <= set(list_assets())
    for name in declared:
        assert get_asset(name).name == name  # each entry resolves to the Asset of that name


def test_hand_landmarker_status_in_an_empty_cache(isolated_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HCVG_HAND_LANDMARKER", raising=False)
    row = asset_status("hand-landmarker")
    assert row["name"] == "hand-landmarker"
    assert row["present"] is False
    assert row["expected_location"] == str(isolated_cache / "hand_landmarker.task")


def test_unknown_asset_name_suggests_close_matches() -> None:
    with pytest.raises(KeyError, match="hand-landmarker"):
        get_asset("hand-landmarkr")


def test_every_entry_point_in_pyproject_is_a_module_reference():
    """A dotted name such as opensora-vae-v1.2 must be quoted in TOML, or it becomes a table and the install fails."""
    import tomllib

    groups = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["entry-points"]
    bad = [f"{group}.{name}" for group, entries in groups.items() for name, ref in entries.items() if not isinstance(ref, str)]
    assert bad == [], f"entry points that are not 'module:attr' strings (quote dotted names): {bad}"

"""The run config's environment: versions actually imported, and one cv2 provider declared."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

from benchmark.run_config import environment, providing_distribution

REPO_ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0].lower()


def test_the_project_declares_the_one_cv2_provider_mediapipe_brings() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    ours = {_name(r) for r in project["dependencies"] if _name(r).startswith("opencv")}
    assert ours == {"opencv-contrib-python"}
    try:
        mediapipe_requires = importlib.metadata.requires("mediapipe") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("mediapipe is not installed")
    theirs = {_name(r) for r in mediapipe_requires if _name(r).startswith("opencv") and "extra ==" not in r}
    assert theirs <= ours  # together: one distribution installs cv2


def test_environment_records_the_cv2_that_was_imported() -> None:
    cv2 = pytest.importorskip("cv2")
    imported = environment()["imported"]
    entry = imported["cv2"]
    assert entry["version"] == cv2.__version__
    assert entry["file"] == cv2.__file__
    # The distribution whose files are on disk: its version is the imported one (with
    # opencv-python-headless 5.0 and opencv-contrib-python 5.1 both installed, 5.1 ran).
    assert entry["distribution"] is not None and entry["distribution"].startswith("opencv")
    assert entry["distribution_version"].startswith(cv2.__version__)
    assert imported["numpy"]["version"] == __import__("numpy").__version__
    assert imported["torch"]["version"] == __import__("torch").__version__


def _fake_distribution(site: Path, name: str, native: bytes) -> None:
    """A dist-info claiming ``fakecv/_native.so`` with the given content's size and hash."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(native).digest()).rstrip(b"=").decode()
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "top_level.txt").write_text("fakecv\n")
    (info / "RECORD").write_text(f"fakecv/__init__.py,,\nfakecv/_native.so,sha256={digest},{len(native)}\n")


def test_two_distributions_installing_one_package_resolve_to_the_one_on_disk(tmp_path: Path, monkeypatch) -> None:
    site = tmp_path / "site"
    (site / "fakecv").mkdir(parents=True)
    (site / "fakecv" / "__init__.py").write_text("")
    on_disk = b"native code of the second install"
    (site / "fakecv" / "_native.so").write_bytes(on_disk)
    _fake_distribution(site, "fakecv-headless", b"native code of the first install!")  # same size, other bytes
    _fake_distribution(site, "fakecv-contrib", on_disk)
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    found = providing_distribution("fakecv")
    assert found["distribution"] == "fakecv-contrib"
    assert found["distribution_version"] == "1.0"
    assert found["also_installed_by"] == {"fakecv-headless": "1.0"}

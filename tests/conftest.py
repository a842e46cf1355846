"""Shared fixtures: the real test data beside the project, and small synthetic samples."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hcvg.sample import Sample

# Tests never download: fail loudly instead of reaching for a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED_DATA = Path(os.environ.get("HCVG_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real hand media, EPIC annotations); skips where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (set HCVG_SHARED_DATA); it ships beside the project, not in it")
    return SHARED_DATA


@pytest.fixture(scope="session")
def landmarker_path() -> Path:
    """The hand_landmarker.task bundle, or a skip saying how to get it (tests never fetch it)."""
    from hcvg.assets import AssetNotFoundError, resolve_asset

    try:
        return resolve_asset("hand-landmarker")
    except AssetNotFoundError as exc:
        pytest.skip(f"hand-landmarker model not available; run `hcvg assets fetch hand-landmarker` first.\n{exc}")


def moving_square_sample(sample_id: str = "sq-0", size: int = 64, num_frames: int = 15, seed: int = 0) -> Sample:
    """A textured background with a bright square moving right; the mask covers its path."""
    rng = np.random.default_rng(seed)
    background = rng.integers(40, 200, size=(size, size, 3), dtype=np.uint8)
    frames = np.repeat(background[None], num_frames + 1, axis=0)
    side = size // 6
    top = size // 2 - side // 2
    mask = np.zeros((size, size), dtype=bool)
    for t in range(num_frames + 1):
        left = 4 + t * (size // 2 - 4) // num_frames
        frames[t, top : top + side, left : left + side] = (250, 200, 160)
        mask[top : top + side, left : left + side] = True
    return Sample(
        id=sample_id, split="squares", prompt="move the square", context=frames[0], target=frames[1:], motion_area=mask
    )


@pytest.fixture
def square_samples() -> list[Sample]:
    return [moving_square_sample(f"sq-{i}", seed=i) for i in range(4)]


CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,1800",
)


@pytest.fixture
def chromium(tmp_path):
    """A headless Debian Chromium driven by selenium, with a fresh profile; skips, saying why, without it."""
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip("needs Chromium and its driver: apt-get install -y chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium: pip install selenium")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()

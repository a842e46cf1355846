"""`hcvg leaderboard build`: the static site, opened in headless Chromium."""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from benchmark.cli.leaderboard import LeaderboardCommand
from benchmark.run_config import ComponentSpec, RunConfig
from benchmark.run_gallery import collect_gallery
from benchmark.runner import Runner
from leaderboards.site.build import SiteRun, leaderboard_table, merge_runs
from leaderboards.site.gallery import render_gallery

SCREENSHOT_COPY = Path("/tmp/leaderboard_screenshot.png")
GALLERY_SCREENSHOT_COPY = Path("/tmp/leaderboard_gallery_screenshot.png")


def hcvg_leaderboard(*argv: str) -> int:
    """Run `hcvg leaderboard ...` through its command class (main.py registers it)."""
    parser = argparse.ArgumentParser(prog="hcvg")
    LeaderboardCommand().add_to(parser.add_subparsers())
    args = parser.parse_args(["leaderboard", *argv])
    return args.command.run(args)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("leaderboard") / "run"
    config = RunConfig(
        out=out,
        adapters=[ComponentSpec("static"), ComponentSpec("oracle")],
        splits=[ComponentSpec("demo", {"num_samples": 3})],
        metrics=["psnr", "ssim", "background-motion"],
    )
    Runner(config, progress=False).run()
    return out


@pytest.fixture(scope="module")
def site(demo_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("leaderboard") / "site"
    assert hcvg_leaderboard("build", "--runs", str(demo_run), "--out", str(out), "--gallery-samples", "2") == 0
    return out


def test_site_is_static_and_complete(site):
    page = (site / "index.html").read_text(encoding="utf-8")
    # Nothing from a CDN or any server: every src/href is a relative file or an anchor.
    links = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert links and not [link for link in links if "//" in link or link.startswith("/")]
    for link in links:
        if not link.startswith("#"):
            assert (site / link).is_file(), link
    for table_id in ("lb-demo-full", "lb-demo-ma"):
        assert f'id="{table_id}"' in page
    assert (site / "charts" / "lb-demo-full.png").is_file() and (site / "charts" / "speed-demo.png").is_file()
    sample = site / "gallery" / "demo" / "demo-0000"
    assert {"context.png", "ground_truth.gif", "ground_truth-flow.gif", "strip.png", "run"} <= {p.name for p in sample.iterdir()}
    # Generated clips live under their run's folder: gallery/<split>/<sample>/<run>/<adapter>.
    assert {"static.gif", "static-flow.gif", "oracle.gif", "oracle-flow.gif"} <= {p.name for p in (sample / "run").iterdir()}
    assert "ground truth (split)" in page
    assert 'id="table1"' in page  # the published paper tables


def test_gallery_without_a_run_config_says_why_and_shows_the_oracle_as_itself(demo_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    (run / "run_config.json").unlink()
    collected = collect_gallery({"run": run}, max_samples=1)
    sample = collected.samples[0]
    # Never the oracle's clip relabelled as ground truth: it stays the oracle's column.
    assert sample.ground_truth is None and sample.ground_truth_source == ""
    assert sorted((s.run, s.adapter) for s in sample.videos) == [("run", "oracle"), ("run", "static")]
    assert sample.context is None and sample.motion_area is None
    assert "run_config.json is missing" in sample.ground_truth_unavailable
    assert [(m.run, m.split, m.sample_id) for m in collected.missing] == [("run", "demo", None)]
    fragment = render_gallery(collected.samples, tmp_path / "site")
    assert "ground truth unavailable: " in fragment and "oracle.gif" in fragment and "static.gif" in fragment
    assert "ground_truth.gif" not in fragment and "ground truth (" not in fragment
    shutil.rmtree(run / "videos" / "oracle")
    bare = collect_gallery({"run": run}, max_samples=1).samples
    assert bare[0].ground_truth is None and [s.adapter for s in bare[0].videos] == ["static"]


def test_two_runs_merge_with_run_names(demo_run):
    summary = pd.read_parquet(demo_run / "summary.parquet")
    other = summary[summary["adapter"] == "static"].assign(value=1.0)
    merged, _ = merge_runs([SiteRun("a", summary, pd.DataFrame()), SiteRun("b", other, pd.DataFrame())])
    assert set(merged["entry"]) == {"oracle", "static (a)", "static (b)"}
    block = merged[(merged["split"] == "demo") & (merged["scope"] == "full")]
    html = leaderboard_table(block, {"oracle": 0.5}, "lb-x")
    assert html.count("<tr data-adapter=") == 3 and 'data-adapter="static (b)"' in html


def _column(driver, table_id: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [row.get_attribute("data-adapter") for row in driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")]


def test_site_in_headless_chromium(site, tmp_path, chromium):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium
    driver.get((site / "index.html").as_uri())
    assert sorted(_column(driver, "lb-demo-full")) == ["oracle", "static"]
    assert sorted(_column(driver, "lb-demo-ma")) == ["oracle", "static"]
    headers = driver.find_elements(By.CSS_SELECTOR, "#lb-demo-full thead th")
    assert [h.text.split()[0] for h in headers] == ["adapter", "background-motion", "psnr", "ssim", "n", "s/clip"]
    psnr = headers[2]
    psnr.click()  # the first click on a ↑ column sorts best-first: the oracle far above the static copy of frame 0
    assert psnr.get_attribute("aria-sort") == "descending"
    assert _column(driver, "lb-demo-full") == ["oracle", "static"]
    psnr.click()
    assert psnr.get_attribute("aria-sort") == "ascending"
    assert _column(driver, "lb-demo-full") == ["static", "oracle"]
    headers[1].click()  # ↓ column, best-first is ascending: the static clip has no background motion
    assert headers[1].get_attribute("aria-sort") == "ascending"
    assert _column(driver, "lb-demo-full") == ["static", "oracle"]
    headers[2].click()  # back on psnr: best-first again
    assert _column(driver, "lb-demo-full") == ["oracle", "static"]
    charts_loaded = driver.execute_script(
        "return Array.from(document.querySelectorAll('img.chart')).map(i => i.complete && i.naturalWidth > 0);"
    )
    assert charts_loaded and all(charts_loaded)
    screenshot = tmp_path / "leaderboard.png"
    assert driver.save_screenshot(str(screenshot))
    driver.execute_script("document.getElementById('gallery').scrollIntoView();")
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(
        "return Array.from(document.querySelectorAll('#gallery img')).every(i => i.complete && i.naturalWidth > 0);"
    ))
    gallery = tmp_path / "gallery.png"
    assert driver.save_screenshot(str(gallery))
    assert screenshot.stat().st_size > 10_000
    shutil.copyfile(screenshot, SCREENSHOT_COPY)
    shutil.copyfile(gallery, GALLERY_SCREENSHOT_COPY)

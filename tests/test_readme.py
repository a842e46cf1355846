"""The README's two set-up commands are the ones CI and users run."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    setup = ROOT.joinpath("README.md").read_text().split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", setup, flags=re.S)


def test_readme_has_exactly_two_setup_commands():
    commands = readme_commands()
    assert len(commands) == 2, commands
    assert "hcvg demo" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci = ROOT.joinpath(".ci", "run").read_text()
    assert readme_commands()[1] in ci.splitlines()


def readme_list_item(label: str) -> list[str]:
    """The backticked names of the README's ``* LABEL: ...`` line."""
    line = next(l for l in ROOT.joinpath("README.md").read_text().splitlines() if l.startswith(f"* {label}:"))
    return re.findall(r"`([^`]+)`", line.split(":", 1)[1].split("(", 1)[0])


def test_readme_names_the_metrics_the_demo_scores():
    from benchmark.cli.run import DEFAULT_DEMO_METRICS

    assert readme_list_item("Demo metrics") == DEFAULT_DEMO_METRICS


def test_readme_names_everything_the_demo_downloads(tmp_path, monkeypatch, landmarker_path):
    """The demo's metrics build with no file but the assets the README names."""
    from benchmark.cli.run import DEFAULT_DEMO_METRICS, DEMO_ASSETS
    from hcvg.assets import get_asset
    from metrics.features.registry import FEATURES
    from metrics.registry import METRICS

    assert readme_list_item("Demo downloads") == list(DEMO_ASSETS)
    assets = tmp_path / "assets"
    for name in DEMO_ASSETS:
        (assets / get_asset(name).filename).parent.mkdir(parents=True, exist_ok=True)
        (assets / get_asset(name).filename).symlink_to(landmarker_path)
    monkeypatch.setenv("HCVG_ASSET_DIR", str(assets))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HCVG_HAND_LANDMARKER", raising=False)
    features = {f for name in DEFAULT_DEMO_METRICS for f in METRICS.get(name).features}
    assert features  # the hand metrics read the detector
    for name in sorted(features):
        FEATURES.create(name)  # raises AssetNotFoundError if it needed anything else

"""A missing optional dependency names the extra that installs it, not a bare ModuleNotFoundError.

The dependency is made missing the way Python itself reports one: ``sys.modules[name] =
None`` makes every import of it raise ``ModuleNotFoundError`` with that name.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np
import pytest

from hcvg.errors import MissingExtraError, UserError


def _build_clip():
    from metrics.features.clip import ClipBackbone

    return ClipBackbone.from_pretrained()


def _build_blip():
    from metrics.features.blip import BlipCaptioner

    return BlipCaptioner.from_pretrained("large")


def _build_egovlp():
    from metrics.features.egovlp import EgoVLPBackbone, tiny_egovlp_config

    return EgoVLPBackbone.from_config(tiny_egovlp_config())


def _build_inception():
    from metrics.features.inception import build_pytorch_fid_inception

    return build_pytorch_fid_inception()


def _clean_resize():
    from metrics.features.inception import resize_clean

    return resize_clean(np.zeros((1, 8, 8, 3), np.uint8))


@pytest.mark.parametrize(
    "module, build, what",
    [
        ("transformers", _build_clip, "CLIP"),
        ("transformers", _build_blip, "BLIP"),
        ("transformers", _build_egovlp, "EgoVLP"),
        ("cleanfid", _build_inception, "FID Inception"),
        ("cleanfid", _clean_resize, "FID resize"),
    ],
)
def test_a_backbone_without_its_library_names_the_models_extra(monkeypatch, module, build, what):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError) as info:
        build()
    message = str(info.value)
    assert what in message and repr(module) in message and "pip install 'handi-bench[models]'" in message
    assert isinstance(info.value, ModuleNotFoundError) and isinstance(info.value, UserError)


@pytest.mark.parametrize(
    "missing, module, extra, what",
    [
        ("diffusers", "metrics.features.egovlp", "models", "EgoVLP"),
        ("scipy", "metrics.frechet", "models", "Fréchet"),
        ("matplotlib", "leaderboards.site.charts", "site", "charts"),
        ("matplotlib", "leaderboards.site.flow_image", "site", "flow colours"),
    ],
)
def test_a_module_needing_an_extra_says_which_on_import(monkeypatch, missing, module, extra, what):
    monkeypatch.delitem(sys.modules, module, raising=False)  # restored afterwards, as is `missing`
    monkeypatch.setitem(sys.modules, missing, None)
    with pytest.raises(MissingExtraError, match=rf"{what}.*pip install 'handi-bench\[{extra}\]'"):
        importlib.import_module(module)


def test_the_cli_without_the_site_extra_is_one_line_naming_it(tmp_path):
    script = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from benchmark.cli.main import main\n"
        f"sys.exit(main(['leaderboard', 'build', '--runs', {str(tmp_path / 'run')!r}, '--out', {str(tmp_path / 'site')!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    assert "pip install 'handi-bench[site]'" in done.stderr and "Traceback" not in done.stderr

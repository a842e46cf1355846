"""Inception-v3 pool3 extractor: pytorch-fid parity (through clean-fid), resize modes, weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hcvg.assets import AssetNotFoundError
from metrics.features.inception import (
    FEATURE_DIM,
    InceptionPool3Extractor,
    build_pytorch_fid_inception,
    resize_clean,
    resize_legacy_pytorch,
)


@pytest.fixture(scope="module")
def extractor() -> InceptionPool3Extractor:
    return InceptionPool3Extractor.from_config(seed=0)


def _frames(n: int, size: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


# clean-fid builds torchvision's Inception3 with the deprecated `pretrained=False`.
@pytest.mark.filterwarnings("ignore::UserWarning:torchvision")
def test_features_match_clean_fids_pytorch_fid_network(extractor, monkeypatch):
    """Same random weights in clean-fid's copy of pytorch-fid's InceptionV3: same pool3 features."""
    from cleanfid import inception_pytorch
    from cleanfid.resize import build_resizer

    state_dict = extractor.network.state_dict()
    # clean-fid's constructor downloads the official weights; hand it ours instead.
    monkeypatch.setattr(inception_pytorch, "load_state_dict_from_url", lambda *args, **kwargs: state_dict)
    reference = inception_pytorch.InceptionV3(output_blocks=[3], resize_input=False).eval()

    clip_a, clip_b = _frames(1, seed=1), _frames(1, size=52, seed=2)  # two sizes: clip by clip
    ours = extractor.extract([clip_a, clip_b])
    assert [f.shape for f in ours] == [(1, FEATURE_DIM), (1, FEATURE_DIM)] and ours[0].dtype == np.float32

    resize = build_resizer("legacy_pytorch")  # clean-fid's legacy_pytorch pipeline, frame by frame
    for clip, features in zip((clip_a, clip_b), ours):
        images = torch.stack([torch.from_numpy(resize(frame)).permute(2, 0, 1) for frame in clip]).float()
        with torch.no_grad():
            expected = reference(images / 255.0)[0].flatten(1).numpy()
        scale = np.abs(expected).max()
        assert scale > 0
        np.testing.assert_allclose(features, expected, rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize("mode", ["legacy_pytorch", "clean"])
def test_resize_matches_clean_fid(mode):
    from cleanfid.resize import build_resizer

    frames = _frames(2, size=37)
    resize = build_resizer(mode)
    expected = np.stack([resize(frame) for frame in frames]).transpose(0, 3, 1, 2)
    if mode == "clean":
        ours = resize_clean(frames)
    else:
        ours = resize_legacy_pytorch(torch.from_numpy(frames).permute(0, 3, 1, 2).float())
    assert ours.shape == (2, 3, 299, 299)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=0, atol=1e-3)


def test_architecture_is_pytorch_fids():
    """The layout of pt_inception-2015-12-05-6726825d.pth: torchvision's Inception3, 1008 classes, FID blocks."""
    from cleanfid import inception_pytorch

    network = build_pytorch_fid_inception()
    keys = set(network.state_dict())
    assert "fc.weight" in keys and not any(k.startswith("AuxLogits") for k in keys)
    assert network.fc.out_features == 1008
    assert isinstance(network.Mixed_5b, inception_pytorch.FIDInceptionA)
    assert isinstance(network.Mixed_7c, inception_pytorch.FIDInceptionE_2)


def test_clean_mode_and_config():
    extractor = InceptionPool3Extractor.from_config(mode="clean")
    (features,) = extractor.extract([_frames(1, size=30)])
    assert features.shape == (1, FEATURE_DIM) and np.isfinite(features).all()
    config = extractor.config()
    assert config["mode"] == "clean" and "PIL bicubic" in config["resize"] and config["weights"] == "random (seed 0)"


def test_default_mode_is_pytorch_fids(extractor):
    assert InceptionPool3Extractor.__init__.__defaults__[0] == "legacy_pytorch"  # as LEGO (pytorch-fid)
    config = extractor.config()
    assert config["mode"] == "legacy_pytorch" and config["backbone"] == "pytorch-fid"
    assert config["normalization"] == "2*x/255-1" and "align_corners=False" in config["resize"]


def test_bad_modes_and_inputs_are_refused(extractor):
    with pytest.raises(ValueError, match="clean-fid's modes"):
        InceptionPool3Extractor.from_config(mode="bicubic")
    with pytest.raises(ValueError, match="official TorchScript"):
        InceptionPool3Extractor.from_config(mode="legacy_tensorflow")
    with pytest.raises(ValueError, match="needs backbone='torchscript'"):
        InceptionPool3Extractor(mode="legacy_tensorflow", backbone="pytorch-fid")
    with pytest.raises(ValueError, match="uint8"):
        extractor.extract([np.zeros((1, 8, 8, 3), np.float32)])


@pytest.mark.parametrize(
    ("mode", "filename", "env_var"),
    [
        ("legacy_pytorch", "pt_inception-2015-12-05-6726825d.pth", "HCVG_INCEPTION_FID_PYTORCH"),
        ("clean", "inception-2015-12-05.pt", "HCVG_INCEPTION_FID_TORCHSCRIPT"),
    ],
)
def test_missing_weights_name_the_file_where_and_how(mode, filename, env_var, tmp_path, monkeypatch):
    monkeypatch.setenv("HCVG_ASSET_DIR", str(tmp_path))
    monkeypatch.delenv(env_var, raising=False)
    with pytest.raises(AssetNotFoundError) as err:
        InceptionPool3Extractor(mode=mode)  # what the runner calls
    message = str(err.value)
    assert filename in message and str(tmp_path) in message and env_var in message
    assert "hcvg assets fetch" in message and "https://" in message
    with pytest.raises(AssetNotFoundError, match="does not exist"):
        InceptionPool3Extractor.from_pretrained(tmp_path / filename, mode=mode)

"""I3D for FVD: the checkpoint's key layout and logits equal to cd-fvd's InceptionI3d."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hcvg.assets import AssetNotFoundError
from metrics.features.i3d import I3DLogitsExtractor, InceptionI3d, preprocess_clips, same_padding

KEYS_FIXTURE = Path(__file__).parent / "fixtures" / "i3d_pretrained_400_keys.txt"


def _checkpoint_keys() -> list[str]:
    lines = KEYS_FIXTURE.read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def _clips(n: int, frames: int = 15, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, frames, size, size, 3), dtype=np.uint8)


def _random_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights and non-trivial batch-norm statistics, so every buffer matters."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in InceptionI3d().state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = value
        elif key.endswith("running_var"):
            state[key] = torch.rand(value.shape, generator=generator) + 0.5
        elif key.endswith(("running_mean", "bn.bias")):
            state[key] = torch.randn(value.shape, generator=generator) * 0.1
        else:
            state[key] = torch.randn(value.shape, generator=generator) * (2.0 / max(1, value[0].numel())) ** 0.5
    return state


def test_state_dict_keys_are_the_checkpoints():
    expected = _checkpoint_keys()
    assert len(expected) == len(set(expected)) == 344
    assert sorted(InceptionI3d().state_dict()) == sorted(expected)


def test_logits_equal_cd_fvds_inception_i3d():
    pytest.importorskip("cdfvd", reason="the reference needs `pip install cd-fvd`")
    from cdfvd.third_party.i3d.pytorch_i3d import InceptionI3d as ReferenceI3d
    from cdfvd.third_party.i3d.utils import preprocess_i3d

    state = _random_state_dict()
    ours, reference = InceptionI3d().eval(), ReferenceI3d(400, in_channels=3).eval()
    ours.load_state_dict(state, strict=True)
    reference.load_state_dict(state, strict=True)

    clips = _clips(1)
    x = preprocess_clips(clips)
    torch.testing.assert_close(x, preprocess_i3d(clips), rtol=0, atol=1e-6)  # resize to 224, [-1, 1]
    assert x.shape == (1, 3, 15, 224, 224) and -1 <= x.min() and x.max() <= 1
    with torch.no_grad():
        expected = reference(x)
        got = ours(x)
    assert got.shape == (1, 400)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5 * float(expected.abs().max()))


def test_extractor_gives_one_logit_vector_per_clip():
    extractor = I3DLogitsExtractor.from_config(num_frames=9)  # shorter clips keep the test fast
    features = extractor.extract(list(_clips(2, frames=9)))
    assert [f.shape for f in features] == [(400,), (400,)] and features[0].dtype == np.float32
    assert not np.allclose(features[0], features[1])
    with pytest.raises(ValueError, match="9-frame clips, got 15"):
        extractor.extract([_clips(1)[0]])
    config = extractor.config()
    assert "224x224" in config["resize"] and config["scaling"].startswith("2*x/255-1")
    assert I3DLogitsExtractor.__init__.__defaults__[2] == 15  # the benchmark's clips


def test_same_padding_is_tensorflows():
    # kernel 7, stride 2: an even size 224 is padded by 7 - 2 = 5 (2 in front), an odd 15 by
    # 7 - 15 % 2 = 6 (3 in front). F.pad order: w, h, t.
    assert same_padding((15, 224, 224), (7, 7, 7), (2, 2, 2)) == (2, 3, 2, 3, 3, 3)
    assert same_padding((4, 7, 7), (2, 2, 2), (2, 2, 2)) == (0, 1, 0, 1, 0, 0)
    assert same_padding((8, 8, 8), (1, 1, 1), (1, 1, 1)) == (0, 0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("backbone", "filename", "env_var"),
    [
        ("pytorch", "i3d_pretrained_400.pt", "HCVG_I3D_KINETICS_400"),
        ("torchscript", "i3d_torchscript.pt", "HCVG_I3D_KINETICS_400_TORCHSCRIPT"),
    ],
)
def test_missing_weights_name_the_file_where_and_how(backbone, filename, env_var, tmp_path, monkeypatch):
    monkeypatch.setenv("HCVG_ASSET_DIR", str(tmp_path))
    monkeypatch.delenv(env_var, raising=False)
    with pytest.raises(AssetNotFoundError) as err:
        I3DLogitsExtractor(backbone=backbone)  # what the runner calls
    message = str(err.value)
    assert filename in message and str(tmp_path) in message and env_var in message
    assert "hcvg assets fetch" in message and "https://" in message

"""Extractor fingerprints: same config and weights agree; any change of weights or options differs.

Tiny real backbones with random weights (each extractor's ``from_config`` / ``for_tests``),
never a download.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

import numpy as np
import pytest
import torch

from metrics.features.base import FeatureExtractor
from metrics.features.registry import FEATURES


def _inception(**kwargs: Any) -> FeatureExtractor:
    from metrics.features.inception import InceptionPool3Extractor

    return InceptionPool3Extractor.from_config(**kwargs)


def _i3d(**kwargs: Any) -> FeatureExtractor:
    from metrics.features.i3d import I3DLogitsExtractor

    return I3DLogitsExtractor.from_config(**kwargs)


def _clip(layer_norm_eps: float | None = None, weights: str = "random") -> FeatureExtractor:
    from transformers import CLIPModel

    from metrics.features.clip import ClipBackbone, ClipImageExtractor, tiny_clip_config, tiny_clip_tokenizer

    config = tiny_clip_config()
    if layer_norm_eps is not None:
        config.vision_config.layer_norm_eps = config.text_config.layer_norm_eps = layer_norm_eps
    torch.manual_seed(0)
    return ClipImageExtractor(ClipBackbone(CLIPModel(config), tiny_clip_tokenizer(), weights=weights))


def _egovlp(tokenizer: Any = None) -> FeatureExtractor:
    from metrics.features.egovlp import EgoVLPBackbone, EgoVLPTextExtractor, tiny_egovlp_config

    return EgoVLPTextExtractor(EgoVLPBackbone.from_config(tiny_egovlp_config(), tokenizer=tokenizer))


def _blip() -> FeatureExtractor:
    from metrics.features.blip import BlipCaptioner, BlipLargeCaptionsExtractor, tiny_blip_config
    from metrics.features.egovlp import EgoVLPBackbone, tiny_egovlp_config

    return BlipLargeCaptionsExtractor(BlipCaptioner.from_config(tiny_blip_config()), EgoVLPBackbone.from_config(tiny_egovlp_config()))


# Each builder with the torch module whose parameters it computes with (BLIP: both models).
BUILDERS: dict[str, tuple[Callable[[], FeatureExtractor], Callable[[Any], list[torch.nn.Module]]]] = {
    "inception-pool3": (_inception, lambda e: [e.network]),
    "i3d-logits": (_i3d, lambda e: [e.network]),
    "clip": (_clip, lambda e: [e.backbone.model]),
    "egovlp-text": (_egovlp, lambda e: [e.backbone.model]),
    "blip-large-captions": (_blip, lambda e: [e.captioner.model, e.text_head.model]),
}


@pytest.fixture(scope="module")
def built() -> dict[str, FeatureExtractor]:
    """One instance per builder, fingerprinted once for the whole module."""
    return {name: build() for name, (build, _) in BUILDERS.items()}


@pytest.mark.parametrize("name", sorted(FEATURES.names()))
def test_every_registered_extractor_has_a_fingerprint_of_its_weights(name, tmp_path):
    cls = FEATURES.get(name)
    if name == "hand-keypoints":
        extractor = cls(model_path=_bundle(tmp_path / "a", b"bundle"))
    else:
        extractor = cls.for_tests()
    assert extractor.weights_digest(), f"{name} must override weights_digest(): its cache key would ignore its weights"
    assert re.fullmatch(r"[0-9a-f]{16}", extractor.fingerprint())
    assert json.loads(json.dumps(extractor.config())) == extractor.config()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_same_config_and_weights_give_the_same_fingerprint(name, built):
    build, _ = BUILDERS[name]
    assert build().fingerprint() == built[name].fingerprint()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_one_parameter_moved_by_1e_3_changes_the_fingerprint(name, built):
    build, modules = BUILDERS[name]
    for index in range(len(modules(built[name]))):  # BLIP: the captioner, then the text head
        extractor = build()
        with torch.no_grad():
            next(iter(modules(extractor)[index].parameters())).view(-1)[0] += 1e-3
        assert extractor.fingerprint() != built[name].fingerprint()


def test_options_that_move_numbers_change_the_fingerprint(built):
    assert _inception(mode="clean").fingerprint() != built["inception-pool3"].fingerprint()
    assert _i3d(num_frames=None).fingerprint() != built["i3d-logits"].fingerprint()


def test_a_layer_norm_eps_changes_the_fingerprint_with_equal_weights(built):
    other = _clip(layer_norm_eps=1e-6)
    reference = built["clip"].backbone.model.state_dict()
    assert all(torch.equal(reference[k], v) for k, v in other.backbone.model.state_dict().items())  # same weights
    assert other.fingerprint() != built["clip"].fingerprint()


def test_a_changed_vocabulary_changes_the_fingerprint(built):
    from metrics.features.egovlp import _wordpiece_tokenizer, tiny_wordpiece_vocab

    vocab = tiny_wordpiece_vocab()
    assert _egovlp(_wordpiece_tokenizer(vocab)).fingerprint() == built["egovlp-text"].fingerprint()
    vocab["onion"] = len(vocab)
    assert _egovlp(_wordpiece_tokenizer(vocab)).fingerprint() != built["egovlp-text"].fingerprint()


def test_where_the_weights_were_found_is_not_part_of_it(built):
    moved = _clip(weights="/somewhere/else/clip-vit-large-patch14")
    assert moved.config()["weights"] != built["clip"].config()["weights"]
    assert moved.fingerprint() == built["clip"].fingerprint()


def test_the_fingerprint_is_computed_once_per_instance(built):
    extractor = _i3d()
    first = extractor.fingerprint()
    with torch.no_grad():
        next(extractor.network.parameters()).view(-1)[0] += 1.0
    assert extractor.fingerprint() == first  # kept: weights are fixed once built
    assert _i3d(seed=1).fingerprint() != first


def test_precision_is_in_the_config_and_the_device_name_is_not():
    from metrics.features.torch_runtime import numerics

    assert numerics("cuda:0", uses_autocast=True) == numerics("cuda:3", uses_autocast=True)
    assert numerics("cuda", uses_autocast=True)["precision"] == "bf16-autocast"
    assert numerics("cpu", uses_autocast=True) == {"precision": "fp32", "tf32_conv": False, "tf32_matmul": False}
    assert numerics("cuda", uses_autocast=False)["precision"] == "fp32"


def test_bf16_autocast_changes_the_fingerprint(monkeypatch):
    """The same weights scored under bf16 autocast on CUDA must not reuse float32 features."""
    cpu = _egovlp()
    on_gpu = _egovlp()
    on_gpu.backbone.device = torch.device("cuda")  # config only: what the holder would record there
    assert on_gpu.config()["precision"] == "bf16-autocast"
    assert on_gpu.fingerprint() != cpu.fingerprint()
    monkeypatch.setenv("HCVG_PRECISION", "fp32")
    strict = _egovlp()
    strict.backbone.device = torch.device("cuda")
    assert strict.config()["precision"] == "fp32"
    assert strict.fingerprint() != on_gpu.fingerprint()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_a_module_on_the_gpu_digests_as_on_the_cpu():
    from metrics.features.digests import module_digest

    network = _i3d().network
    on_cpu = module_digest(network)
    assert module_digest(network.to("cuda")) == on_cpu


def _bundle(folder, content: bytes):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hand_landmarker.task"
    path.write_bytes(content)
    return path


def test_hand_keypoints_fingerprint_follows_the_bundle_bytes_not_its_path(tmp_path):
    pytest.importorskip("mediapipe")
    from metrics.features.hand_keypoints import HandKeypointsExtractor

    content = bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8))
    first = HandKeypointsExtractor(model_path=_bundle(tmp_path / "a", content))
    copy = HandKeypointsExtractor(model_path=_bundle(tmp_path / "b", content))
    assert copy.fingerprint() == first.fingerprint()
    changed = HandKeypointsExtractor(model_path=_bundle(tmp_path / "c", content[:-1] + bytes([content[-1] ^ 1])))
    assert changed.fingerprint() != first.fingerprint()
    stricter = HandKeypointsExtractor(model_path=tmp_path / "a" / "hand_landmarker.task", min_hand_detection_confidence=0.6)
    assert stricter.fingerprint() != first.fingerprint()
    image_mode = HandKeypointsExtractor(model_path=tmp_path / "a" / "hand_landmarker.task", mode="image")
    assert image_mode.fingerprint() != first.fingerprint()


def test_weightless_extractors_and_non_json_configs():
    class MeanColour(FeatureExtractor):
        name = "mean-colour"

    class Odd(FeatureExtractor):
        name = "odd"

        def config(self):
            return {"resize": object()}

    assert MeanColour().weights_digest() == "" and len(MeanColour().fingerprint()) == 16
    with pytest.raises(TypeError, match="Odd.config\\(\\) must be plain JSON"):
        Odd().fingerprint()

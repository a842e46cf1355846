"""Tests for the hand-landmarker bundle: the cached file's structure and the builder.

The real bundle is obtained before pytest (`hcvg assets fetch hand-landmarker`);
tests that read it skip when it is absent (and those on real images when
../shared/data is absent). The builder's repacking step is tested on
a small fake wheel, so nothing is downloaded.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hcvg.assets import sha256_of
from hcvg.frames import read_image
from benchmark.hand_landmarker_bundle import BUNDLE_MEMBERS, write_bundle_from_wheel


def member_data_offset(path: Path, info: zipfile.ZipInfo) -> int:
    """Byte offset of a member's data (after its local header and extra field)."""
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        header = f.read(30)
    name_len = int.from_bytes(header[26:28], "little")
    extra_len = int.from_bytes(header[28:30], "little")
    return info.header_offset + 30 + name_len + extra_len


def test_cached_bundle_is_an_uncompressed_zip_of_two_tflite_models(landmarker_path: Path) -> None:
    assert zipfile.is_zipfile(landmarker_path), f"{landmarker_path} is not a zip"
    with zipfile.ZipFile(landmarker_path) as bundle:
        infos = bundle.infolist()
        assert sorted(i.filename for i in infos) == ["hand_detector.tflite", "hand_landmarks_detector.tflite"]
        for info in infos:
            # MediaPipe reads members in place: compressed members cannot be loaded.
            assert info.compress_type == zipfile.ZIP_STORED, f"{info.filename} is compressed"
            assert info.file_size > 1_000_000, f"{info.filename} is only {info.file_size} bytes"
            with bundle.open(info) as member:
                assert member.read(8)[4:8] == b"TFL3", f"{info.filename} is not a TFLite model"


# Real images with MediaPipe's reference output in ../shared/data/hands/detections.json:
# a close-up with one hand, and an egocentric kitchen frame with both hands.
REFERENCE_IMAGES = ["mpsamples_hand_thumb_up.jpg", "handi_docs_83.png"]


@pytest.mark.parametrize("image_name", REFERENCE_IMAGES)
def test_bundle_loads_in_mediapipe_and_finds_the_hands_in_a_real_image(
    landmarker_path: Path, shared_data: Path, image_name: str
) -> None:
    import mediapipe as mp
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.vision import HandLandmarker, HandLandmarkerOptions

    reference = json.loads((shared_data / "hands" / "detections.json").read_text())
    expected = [np.array(hand["keypoints"]) for hand in reference["files"][f"images/{image_name}"]["hands"]]
    assert expected, f"detections.json lists no hand in {image_name}; pick an image with hands"
    image = read_image(shared_data / "hands" / "images" / image_name)

    options = HandLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(landmarker_path)), num_hands=2)
    with HandLandmarker.create_from_options(options) as landmarker:
        result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image)))
    found = [np.array([[p.x, p.y] for p in hand]) for hand in result.hand_landmarks]
    assert len(found) == len(expected), f"{image_name}: {len(found)} hands found, the reference has {len(expected)}"
    for keypoints, reference_keypoints in zip(found, expected):
        assert keypoints.shape == (21, 2)
        assert ((keypoints >= 0) & (keypoints <= 1)).all(), "normalized keypoints must lie in [0, 1]"
        # The reference is rounded to 5 decimals; 2e-3 of the image allows another CPU's kernels.
        np.testing.assert_allclose(keypoints, reference_keypoints, rtol=0, atol=2e-3)


def fake_wheel(path: Path, models: dict[str, bytes]) -> Path:
    """A zip laid out like the mediapipe wheel, holding the given model files."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        wheel.writestr("mediapipe/__init__.py", "")
        for name, data in models.items():
            wheel.writestr(name, data)
    return path


def fake_tflite(tag: bytes) -> bytes:
    # A flatbuffer's root offset, then the "TFL3" file identifier, then a body.
    return b"\x18\x00\x00\x00TFL3" + tag * 1000


def test_builder_repacks_wheel_models_stored_aligned_and_reproducible(tmp_path: Path) -> None:
    sources = list(BUNDLE_MEMBERS.values())
    models = {sources[0]: fake_tflite(b"palm"), sources[1]: fake_tflite(b"hand")}
    wheel = fake_wheel(tmp_path / "mediapipe-0.10.21-py3-none-any.whl", models)

    first, second = tmp_path / "a.task", tmp_path / "b.task"
    write_bundle_from_wheel(wheel, first)
    write_bundle_from_wheel(wheel, second)
    assert sha256_of(first) == sha256_of(second), "the bundle should be byte-reproducible"

    with zipfile.ZipFile(first) as bundle:
        assert bundle.testzip() is None
        assert sorted(bundle.namelist()) == sorted(BUNDLE_MEMBERS)
        for member, source in BUNDLE_MEMBERS.items():
            info = bundle.getinfo(member)
            assert info.compress_type == zipfile.ZIP_STORED
            assert bundle.read(member) == models[source]
            assert member_data_offset(first, info) % 64 == 0, f"{member} data is not 64-byte aligned"


def test_builder_rejects_a_wheel_without_the_models(tmp_path: Path) -> None:
    wheel = fake_wheel(tmp_path / "mediapipe-1.0-py3-none-any.whl", {})
    with pytest.raises(RuntimeError, match="palm_detection_full.tflite"):
        write_bundle_from_wheel(wheel, tmp_path / "out.task")


def test_builder_rejects_files_that_are_not_tflite(tmp_path: Path) -> None:
    models = {source: b"not a model at all" for source in BUNDLE_MEMBERS.values()}
    wheel = fake_wheel(tmp_path / "mediapipe-0.10.21-py3-none-any.whl", models)
    with pytest.raises(RuntimeError, match="not a TFLite model"):
        write_bundle_from_wheel(wheel, tmp_path / "out.task")

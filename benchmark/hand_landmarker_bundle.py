"""Builds the MediaPipe hand-landmarker bundle (``hand_landmarker.task``) from a PyPI wheel.

Used by `hcvg assets fetch hand-landmarker` when the official file is out of reach.
The ``mediapipe`` 0.10.21 wheel still ships the two TFLite models of its legacy
Solutions API:

* ``mediapipe/modules/palm_detection/palm_detection_full.tflite`` ->
  ``hand_detector.tflite``
* ``mediapipe/modules/hand_landmark/hand_landmark_full.tflite`` ->
  ``hand_landmarks_detector.tflite``

A ``.task`` file is a plain zip of its member models; MediaPipe memory-maps the
members, so they must be stored uncompressed (``ZIP_STORED``). The built bundle holds
the float32 "full" models, not the float16 ones of the official bundle, so its
keypoints can differ from the official bundle's in the last decimals.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from handi.hands.landmarker_asset import SOURCE_WHEEL

logger = logging.getLogger(__name__)

#: bundle member name -> path inside the mediapipe wheel.
BUNDLE_MEMBERS = {
    "hand_detector.tflite": "mediapipe/modules/palm_detection/palm_detection_full.tflite",
    "hand_landmarks_detector.tflite": "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
}

# The TFLite models themselves are platform independent, so any wheel will do. pip's
# own choice (the running interpreter and platform) is tried first; the fallback names
# a wheel known to exist, for interpreters or platforms without a 0.10.21 wheel.
_FALLBACK_TARGET = ["--python-version", "3.11", "--platform", "manylinux_2_28_x86_64"]

# A fixed timestamp makes the built bundle byte-reproducible (same sha256 everywhere).
_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)

# TFLite memory-maps a bundle's members in place only if their data is aligned
# (otherwise it logs "unaligned buffer" and copies the tensors). As Android's zipalign
# does, each member's local header gets a padding "extra" field so its data starts on
# a multiple of this many bytes.
_ALIGNMENT = 64
_PAD_EXTRA_ID = 0xD935  # the extra-field id zipalign uses for padding
_LOCAL_HEADER_SIZE = 30  # fixed part of a zip local file header


def _aligned_info(name: str, offset: int) -> zipfile.ZipInfo:
    """A ZIP_STORED ZipInfo whose data will start on an ``_ALIGNMENT`` boundary.

    Args:
        name: Member name.
        offset: Byte offset in the archive where the member's local header will go.
    """
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE_TIME)
    info.compress_type = zipfile.ZIP_STORED
    data_start = offset + _LOCAL_HEADER_SIZE + len(name.encode()) + 4  # + extra-field header
    pad = -data_start % _ALIGNMENT
    info.extra = _PAD_EXTRA_ID.to_bytes(2, "little") + pad.to_bytes(2, "little") + bytes(pad)
    return info


def _download_wheel(dest_dir: Path) -> Path:
    """Download the mediapipe wheel with pip; return its path."""
    base = [sys.executable, "-m", "pip", "download", SOURCE_WHEEL, "--no-deps", "--only-binary=:all:"]
    base += ["--disable-pip-version-check", "--quiet", "-d", str(dest_dir)]
    failures = []
    for extra in ([], _FALLBACK_TARGET):
        logger.info("running: %s", " ".join(base + extra))
        proc = subprocess.run(base + extra, capture_output=True, text=True)
        wheels = sorted(dest_dir.glob("mediapipe-*.whl"))
        if proc.returncode == 0 and wheels:
            logger.info("got %s", wheels[0].name)
            return wheels[0]
        failures.append(f"`{' '.join(base[2:] + extra)}` -> exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
    raise RuntimeError(
        f"could not download the {SOURCE_WHEEL} wheel with pip (is a package index reachable?):\n"
        + "\n".join(failures)
    )


def write_bundle_from_wheel(wheel: Path, dest: Path) -> None:
    """Write a ``.task`` bundle from the TFLite models inside a mediapipe wheel.

    Args:
        wheel: Path of a ``mediapipe`` wheel that contains ``BUNDLE_MEMBERS``' sources.
        dest: Output path of the bundle.

    Raises:
        RuntimeError: If a model is missing from the wheel or is not a TFLite file.
    """
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_STORED) as out:
        available = set(src.namelist())
        for member, source in BUNDLE_MEMBERS.items():
            if source not in available:
                raise RuntimeError(f"{wheel.name} has no {source}; use the {SOURCE_WHEEL} wheel")
            data = src.read(source)
            # TFLite flatbuffers carry the identifier "TFL3" at bytes 4..8.
            if data[4:8] != b"TFL3":
                raise RuntimeError(f"{source} in {wheel.name} is not a TFLite model")
            out.writestr(_aligned_info(member, out.fp.tell()), data)


def build_hand_landmarker_bundle(dest: Path) -> None:
    """Builder for the ``hand-landmarker`` asset: pip-download the wheel, repack it.

    Args:
        dest: Where to write ``hand_landmarker.task``.
    """
    with tempfile.TemporaryDirectory(prefix="hcvg-mediapipe-wheel-") as tmp:
        wheel = _download_wheel(Path(tmp))
        write_bundle_from_wheel(wheel, dest)

"""Backbone outputs cached in the run directory, so each backbone runs once per clip and scope.

Layout: ``RUN/features/<extractor>/<fingerprint>/<scope>/<owner>/<split>/<sample>.npy``.
The fingerprint is a hash of the extractor's config and weights
(`FeatureExtractor.fingerprint`), so a resume with other weights, precision or
preprocessing finds nothing under the new fingerprint and recomputes; features of two
configurations are never mixed. The owner is ``<adapter>/seed-<k>`` for generated clips
and ``_ground_truth`` for the reference clips, which are the same for every adapter and
seed and so are computed once per split. Files are written atomically: a killed run
keeps what it finished.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np

from hcvg.atomic import atomic_write_bytes

logger = logging.getLogger(__name__)

GROUND_TRUTH = "_ground_truth"


class FeatureCache:
    """Reads and writes cached feature arrays under ``root``.

    Args:
        root: The cache folder (``RUN/features``).
        fingerprints: Extractor name → fingerprint of the instance in use; set by the
            scorer once its extractors are built.
    """

    def __init__(self, root: str | Path, fingerprints: dict[str, str] | None = None):
        self.root = Path(root)
        self.fingerprints: dict[str, str] = dict(fingerprints or {})

    def path(self, extractor: str, scope: str, owner: str, split: str, sample_id: str) -> Path:
        try:
            fingerprint = self.fingerprints[extractor]
        except KeyError:
            raise KeyError(f"feature cache: no fingerprint for extractor {extractor!r} (it was never built)") from None
        return self.root / extractor / fingerprint / scope / owner / split / f"{sample_id}.npy"

    def load(self, extractor: str, scope: str, owner: str, split: str, sample_id: str) -> np.ndarray | None:
        path = self.path(extractor, scope, owner, split, sample_id)
        if not path.is_file():
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError) as err:
            # Recomputing gives the same features; said, since a damaged cache is worth knowing about.
            logger.warning("feature cache file %s is unreadable (%s); recomputing it", path, err)
            return None

    def save(self, extractor: str, scope: str, owner: str, split: str, sample_id: str, array: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(array), allow_pickle=False)
        atomic_write_bytes(self.path(extractor, scope, owner, split, sample_id), buffer.getvalue())


def generated_owner(adapter: str, seed: int) -> str:
    """The cache owner of an adapter's clips for one seed."""
    return f"{adapter}/seed-{seed}"

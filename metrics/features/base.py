"""The feature-extractor contract shared by every backbone.

A backbone (Inception, I3D, CLIP, BLIP, EgoVLP, the hand landmarker) runs once per clip
and scope, however many metrics read its output; its features are cached in the run
store (ground truth once per split, reused for every adapter). Metrics name the
extractors they read in ``Metric.features`` and find the arrays in
``ScoredItem.features`` / ``ScoredItem.target_features``.
"""

from __future__ import annotations

import abc
import hashlib
import json
import threading
from concurrent.futures import CancelledError, Future
from typing import Any, ClassVar, Literal

import numpy as np

#: Hex characters of sha256 kept in `FeatureExtractor.fingerprint`.
FINGERPRINT_LENGTH = 16


class FeatureExtractor(abc.ABC):
    """A frozen backbone that maps clips (or texts) to arrays.

    Class attributes:
        name: Registered name, also the cache key (e.g. "inception-pool3").
        kind: "video" (clip → array) or "text" (string → vector).

    Subclasses provide ``from_pretrained(path=None, device=...)``, loading official
    weights through `hcvg.assets.resolve_asset` (explicit path → env var → asset cache →
    hub cache; a clear error naming the file otherwise), and ``from_config(config)``,
    which builds the same architecture from a (tiny) config with random weights for tests.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[Literal["video", "text"]] = "video"
    #: Config entries that say where the weights were found (a folder, a file path). The
    #: fingerprint leaves them out, at any depth: the weights' digest stands for them, so
    #: the same weights in another folder share cached features.
    location_keys: ClassVar[frozenset[str]] = frozenset({"weights", "model_path"})

    @classmethod
    def for_tests(cls) -> "FeatureExtractor":
        """A small instance for tests, never downloading (tiny config, random weights).

        The default builds the extractor with its default arguments; backbones whose
        default loads pretrained weights override this.
        """
        return cls()

    def config(self) -> dict[str, Any]:
        """Weights, preprocessing and every choice that moves numbers (for the run config).

        Precision belongs here (bf16 autocast or float32, TF32), the device does not: see
        `fingerprint`.
        """
        return {}

    def weights_digest(self) -> str:
        """A digest of the weights (and tokenizer, model bundle, ...) the extractor computes with.

        The default, ``""``, is for extractors without learned weights (a colour
        statistic); every extractor with weights overrides it, e.g. with
        `metrics.features.digests.module_digest` of its network (tests check this for
        each registered extractor).
        """
        return ""

    def fingerprint(self) -> str:
        """A short digest of the config and weights, for keying cached features.

        16 hex characters of the sha256 of the extractor's name, its `config` (as sorted
        JSON, less the `location_keys`) and `weights_digest`. Computed on the first call
        and kept: weights and settings are fixed once the extractor is built.

        The device is not part of it, on purpose. Ranks on ``cuda:0`` … ``cuda:7`` and a
        rerun on another GPU must share one cache, and float32 kernels on the CPU and on a
        GPU agree to rounding (~1e-6 relative), far below what moves a metric. What a
        device changes beyond rounding is its arithmetic, bf16 autocast or TF32 on CUDA,
        and that is in `config`, so a bf16 GPU run never reuses float32 CPU features.

        Returns:
            16 lowercase hex characters.

        Raises:
            TypeError: If `config` holds a value that is not JSON.
        """
        cached = self.__dict__.get("_fingerprint")
        if cached is None:
            config = _drop_keys(self.config(), self.location_keys)
            payload = {"extractor": self.name, "config": config, "weights": self.weights_digest()}
            try:
                text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
            except (TypeError, ValueError) as err:
                raise TypeError(f"{type(self).__name__}.config() must be plain JSON to fingerprint: {err}") from err
            cached = self.__dict__["_fingerprint"] = hashlib.sha256(text.encode()).hexdigest()[:FINGERPRINT_LENGTH]
        return cached

    def extract(self, videos: list[np.ndarray]) -> list[np.ndarray]:
        """Features of a batch of clips.

        Args:
            videos: uint8 ``[T, H, W, 3]`` RGB clips in [0, 255].

        Returns:
            One float32 array per clip, e.g. ``[T, D]`` for per-frame features or
            ``[D]`` for a clip embedding.
        """
        raise NotImplementedError(f"{self.name} does not embed videos")

    def extract_text(self, texts: list[str]) -> np.ndarray:
        """Embeddings of a batch of texts, float32 ``[N, D]``."""
        raise NotImplementedError(f"{self.name} does not embed text")

    @property
    def runs_in_background(self) -> bool:
        """True if `submit` returns before the work is done (CPU workers beside the GPU).

        The scorer submits such extractors first, then runs the others meanwhile.
        """
        return False

    def submit(self, videos: list[np.ndarray]) -> Future:
        """Start `extract` on a batch; the future's result is its list of arrays.

        The default runs `extract` now and returns a finished future (holding the
        exception if it raised); extractors with worker processes return at once.
        """
        future: Future = Future()
        try:
            future.set_result(self.extract(videos))
        except Exception as err:  # handed to whoever reads the future, as a pool would
            future.set_exception(err)
        return future


def gather_futures(futures: list[Future]) -> Future:
    """One future whose result is the list of ``futures``' results, in order.

    It fails with the first exception among them once all are done, so a caller that
    retries clip by clip never races a worker still writing.
    """
    combined: Future = Future()
    lock, left = threading.Lock(), [len(futures)]

    def finish(_: Future) -> None:
        with lock:
            left[0] -= 1
            if left[0]:
                return
        errors = [CancelledError() if f.cancelled() else f.exception() for f in futures]
        errors = [e for e in errors if e is not None]
        if errors:
            combined.set_exception(errors[0])
        else:
            combined.set_result([f.result() for f in futures])

    if not futures:
        combined.set_result([])
    for future in futures:
        future.add_done_callback(finish)
    return combined


def _drop_keys(value: Any, keys: frozenset[str]) -> Any:
    """``value`` with every mapping entry named in ``keys`` removed, at any depth."""
    if isinstance(value, dict):
        return {k: _drop_keys(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, (list, tuple)):
        return [_drop_keys(v, keys) for v in value]
    return value

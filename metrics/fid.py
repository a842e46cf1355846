"""Fréchet Inception Distance (FID), frame level.

All generated frames against all ground-truth frames, each frame a 2048-d Inception-v3
pool3 vector (extractor "inception-pool3"; its resize mode and weights are in that
extractor's config, default pytorch-fid's as LEGO used). The Gaussian fit and distance
are `metrics.frechet`; this module only holds the state.

`FrechetFeatureDistance` is the shared state of FID and FVD. Each side keeps float64
sums, ``n``, ``Σx [D]`` and ``Σx·xᵀ [D, D]`` (as torchmetrics' FID does), never the rows:
frame-level FID over the EPIC-KITCHENS test set (8,857 clips × 15 frames × 2048-d) would
otherwise hold ~2 GB. Sums merge by addition (`merge`), so shards and ranks reduce to the
single-process value, and `state` / `from_state` carry them through an ``.npz`` file
between processes. Ground truth is counted once per sample id, however many seeds or
metric passes add it; the state keeps those ids so that a merge cannot count one twice.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Iterable, Mapping

import numpy as np

from metrics.base import DistributionMetric, MetricUndefined, ScoredItem
from metrics.frechet import DEFAULT_EPS, frechet_distance, statistics_from_sums

logger = logging.getLogger(__name__)

#: Keys of `FrechetFeatureDistance.state`, each an array or a list (``np.savez(path, **state)``).
STATE_KEYS = (
    "metric", "generated_n", "generated_sum", "generated_outer", "target_n", "target_sum", "target_outer", "target_ids",
)  # fmt: skip


class FeatureSums:
    """Sum-reducible moments of one feature set: ``n``, ``Σx`` and ``Σx·xᵀ``, float64.

    The dimension D is fixed by the first rows added; until then the sums are empty,
    ``[0]`` and ``[0, 0]``.

    Args:
        n: Rows summed so far.
        total: float64 ``[D]`` sum of the rows (``[0]`` when empty).
        outer: float64 ``[D, D]`` sum of the rows' outer products (``[0, 0]`` when empty).
    """

    def __init__(self, n: int = 0, total: np.ndarray | None = None, outer: np.ndarray | None = None):
        self.n = int(n)
        self.total = np.zeros(0) if total is None else np.array(total, dtype=np.float64)
        self.outer = np.zeros((0, 0)) if outer is None else np.array(outer, dtype=np.float64)

    @property
    def dim(self) -> int | None:
        """D, or None before any rows (an empty side adopts the dimension of what is added)."""
        return None if self.n == 0 and self.total.size == 0 else self.total.shape[0]

    def add(self, rows: np.ndarray) -> None:
        """Add float64 ``[N, D]`` rows (N may be 0)."""
        if self.dim is None:
            self.total = np.zeros(rows.shape[1])
            self.outer = np.zeros((rows.shape[1], rows.shape[1]))
        self.n += len(rows)
        self.total += rows.sum(axis=0)
        self.outer += rows.T @ rows

    def add_sums(self, other: "FeatureSums") -> None:
        """Add another set's sums (the caller has checked that the dimensions agree)."""
        if other.dim is None:
            return
        if self.dim is None:
            self.total, self.outer = np.zeros_like(other.total), np.zeros_like(other.outer)
        self.n += other.n
        self.total += other.total
        self.outer += other.outer


class FrechetFeatureDistance(DistributionMetric):
    """Fréchet distance between generated and ground-truth features of one extractor.

    Subclasses set ``name``, ``features`` (one extractor) and ``unit`` ("frame": the
    extractor gives ``[T, D]`` per clip and every row counts; "clip": it gives ``[D]``).

    Args:
        eps: Diagonal offset for near-singular covariance products (see
            `metrics.frechet.frechet_distance`).
    """

    higher_is_better: ClassVar[bool] = False
    unit: ClassVar[str] = "frame"

    def __init__(self, eps: float = DEFAULT_EPS):
        self.eps = float(eps)
        self.reset()

    @property
    def feature_name(self) -> str:
        return self.features[0]

    @property
    def num_generated(self) -> int:
        """Generated rows (frames or clips) added."""
        return self._generated.n

    @property
    def num_target(self) -> int:
        """Ground-truth rows added, each sample's once."""
        return self._target.n

    @property
    def target_ids(self) -> frozenset[str]:
        """Sample ids whose ground truth is in the sums."""
        return frozenset(self._target_ids)

    def reset(self) -> None:
        self._generated = FeatureSums()
        self._target = FeatureSums()
        self._target_ids: set[str] = set()

    def update(self, item: ScoredItem) -> None:
        """Add the item's generated features and (once per sample id) its ground-truth features.

        Raises:
            ValueError: If the features are not ``[T, D]`` (frame) or ``[D]`` (clip), are
                not finite, or have another D than those added before.
        """
        generated = self._rows(item.features[self.feature_name], item.sample_id, "generated")
        target = None
        if item.sample_id not in self._target_ids:
            target = self._rows(item.target_features[self.feature_name], item.sample_id, "ground-truth")
        # Check both before adding either, so a refused item leaves the state as it was.
        for rows in (generated, target):
            if rows is not None:
                self._check_dim(rows.shape[1], f"the features of {item.sample_id!r}")
        self._generated.add(generated)
        if target is not None:
            self._target.add(target)
            self._target_ids.add(item.sample_id)

    def merge(self, other: "FrechetFeatureDistance") -> None:
        """Add another shard's or rank's state: the sums add, the ground-truth ids unite.

        Raises:
            TypeError: If ``other`` is another metric.
            ValueError: If the feature dimensions differ, or both hold the ground truth of
                a sample (disjoint shards never do; merging one shard twice would).
        """
        if type(other) is not type(self):
            raise TypeError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        if other is self:
            raise ValueError(f"cannot merge a {self.name} state into itself: it would count everything twice")
        overlap = self._target_ids & other._target_ids
        if overlap:
            shown = ", ".join(repr(i) for i in sorted(overlap)[:5])
            raise ValueError(
                f"cannot merge {self.name} states that both hold the ground truth of {len(overlap)} sample(s) "
                f"({shown}{', ...' if len(overlap) > 5 else ''}): it would be counted twice. Merge disjoint shards "
                "(each sample in one), and each shard's state once"
            )
        for side in (other._generated, other._target):
            if side.dim is not None:
                self._check_dim(side.dim, f"the {other.name} state being merged")
        self._generated.add_sums(other._generated)
        self._target.add_sums(other._target)
        self._target_ids |= other._target_ids

    def compute(self) -> float:
        """The distance between everything added since the last `reset`.

        Raises:
            MetricUndefined: With fewer than 2 generated or 2 ground-truth vectors.
        """
        num_generated, num_target = self._generated.n, self._target.n
        if num_generated < 2 or num_target < 2:
            raise MetricUndefined(
                f"{self.name} needs at least 2 {self.unit}s on each side, got {num_generated} generated "
                f"and {num_target} ground-truth"
            )
        self._check_count(num_generated, num_target)
        mu1, sigma1 = statistics_from_sums(num_generated, self._generated.total, self._generated.outer)
        mu2, sigma2 = statistics_from_sums(num_target, self._target.total, self._target.outer)
        return frechet_distance(mu1, sigma1, mu2, sigma2, eps=self.eps)

    # -- saving and loading the state ------------------------------------------------

    def state(self) -> dict[str, np.ndarray | list[str]]:
        """The sums and ground-truth ids, for another process to `merge` (``np.savez(path, **state)``).

        Returns:
            ``metric`` (0-d str array, the metric's name); per side (``generated``,
            ``target``): ``*_n`` (0-d int64), ``*_sum`` float64 ``[D]`` and ``*_outer``
            float64 ``[D, D]`` (``[0]`` and ``[0, 0]`` while empty); ``target_ids``, the
            sorted sample ids whose ground truth is summed. Arrays are copies.
        """
        state: dict[str, np.ndarray | list[str]] = {"metric": np.array(self.name)}
        for side, sums in (("generated", self._generated), ("target", self._target)):
            state[f"{side}_n"] = np.array(sums.n, dtype=np.int64)
            state[f"{side}_sum"] = sums.total.copy()
            state[f"{side}_outer"] = sums.outer.copy()
        state["target_ids"] = sorted(self._target_ids)
        return state

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Replace this metric's state with a saved one (a `state` dict, or ``np.load`` of its ``.npz``).

        Raises:
            ValueError: If a key is missing, the state is another metric's, or its arrays
                have inconsistent shapes or counts.
        """
        missing = [key for key in STATE_KEYS if key not in state]
        if missing:
            raise ValueError(f"not a {self.name} state: missing {missing}; save one with `state()`")
        saved_name = str(np.asarray(state["metric"]).item())
        if saved_name != self.name:
            raise ValueError(f"cannot load a {saved_name!r} state into {self.name!r}; load it into {saved_name!r}")
        sides = {side: _sums_from_arrays(state, side) for side in ("generated", "target")}
        dims = {sums.dim for sums in sides.values()} - {None}
        if len(dims) > 1:
            raise ValueError(f"{self.name} state: generated and ground-truth features differ in dimension ({sorted(dims)})")
        self._generated, self._target = sides["generated"], sides["target"]
        self._target_ids = _ids(state["target_ids"])

    @classmethod
    def from_state(cls, state: Mapping[str, Any], eps: float = DEFAULT_EPS) -> "FrechetFeatureDistance":
        """A metric holding a saved state (see `load_state`)."""
        metric = cls(eps=eps)
        metric.load_state(state)
        return metric

    # -- helpers -----------------------------------------------------------------------

    def _check_count(self, num_generated: int, num_target: int) -> None:
        """Hook for warnings about small sets."""

    def _check_dim(self, dim: int, what: str) -> None:
        known = self._generated.dim if self._generated.dim is not None else self._target.dim
        if known is not None and dim != known:
            raise ValueError(f"{self.name}: {what} are {dim}-d, but the {self.feature_name} features so far are {known}-d")

    def _rows(self, features: Any, sample_id: str, side: str) -> np.ndarray:
        rows = np.asarray(features, dtype=np.float64)
        rows = rows.reshape(1, -1) if self.unit == "clip" else rows
        if rows.ndim != 2:
            raise ValueError(f"{self.name}: {side} {self.feature_name} features of {sample_id!r} must be [T, D], got {rows.shape}")
        if not np.isfinite(rows).all():
            # One NaN would poison the sums for good, so it is refused here, by sample.
            raise ValueError(f"{self.name}: {side} {self.feature_name} features of {sample_id!r} contain NaN or inf")
        return rows

    def config(self) -> dict:
        return {
            "features": self.feature_name,
            "unit": self.unit,
            "sets": f"all generated {self.unit}s vs all ground-truth {self.unit}s (ground truth once per sample)",
            "state": "float64 sums per side: n, sum(x) [D], sum(x x^T) [D, D]; shards merge by addition",
            "statistics": "mean sum(x)/n, unbiased covariance (sum(x x^T) - n mu mu^T)/(n-1) (= np.cov)",
            "distance": "||mu1-mu2||^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2)), scipy.linalg.sqrtm, real part",
            "singular_eps": self.eps,
        }


def _sums_from_arrays(state: Mapping[str, Any], side: str) -> FeatureSums:
    """One side's `FeatureSums` from a saved state, checked."""
    n = np.asarray(state[f"{side}_n"])
    total = np.asarray(state[f"{side}_sum"], dtype=np.float64)
    outer = np.asarray(state[f"{side}_outer"], dtype=np.float64)
    if n.shape != () or not np.issubdtype(n.dtype, np.integer) or int(n) < 0:
        raise ValueError(f"state {side}_n must be a non-negative integer, got {n!r}")
    dim = total.shape[0] if total.ndim == 1 else -1
    if outer.shape != (dim, dim):
        raise ValueError(f"state {side}_sum must be [D] and {side}_outer [D, D], got {total.shape} and {outer.shape}")
    if int(n) > 0 and dim == 0:
        raise ValueError(f"state {side}_n is {int(n)} but its sums are empty")
    return FeatureSums(int(n), total, outer)


def _ids(saved: Iterable[Any]) -> set[str]:
    """Sample ids from a list, or from the str array ``np.load`` gives back."""
    ids = [str(i) for i in np.asarray(saved).ravel()]  # np.load gives `[]` back as an empty float array
    if len(set(ids)) != len(ids):
        raise ValueError("state target_ids repeats a sample id")
    return set(ids)


class FID(FrechetFeatureDistance):
    """FID: all generated frames vs all ground-truth frames, Inception-v3 pool3 features."""

    name: ClassVar[str] = "fid"
    features: ClassVar[tuple[str, ...]] = ("inception-pool3",)
    unit: ClassVar[str] = "frame"

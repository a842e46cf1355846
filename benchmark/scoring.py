"""Scoring generated clips: scope crops, shared backbone features, every metric.

For one batch of clips, each feature extractor that some metric reads runs once over
the batch, both scopes and both sides (generated and ground truth) in one call, so a
backbone sees each frame once per scope; its output is cached, the ground truth's once
per split, and every metric reads those features. Hand detection in CPU worker
processes runs while the device backbones do. A failing extractor or metric fails only
the samples and metrics that depend on it.

The motion-area scope is never skipped, because no metric is crop-invariant: every
frame-based input changes with the crop (the CLIP, BLIP and EgoVLP embeddings, the
Inception and I3D features, hand keypoints normalized to the crop, the pixels PSNR and
SSIM compare). What is invariant, the prompt's text embedding, is computed once per
sample for both scopes (`TEXT_SCOPE`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmark.feature_cache import GROUND_TRUTH, FeatureCache, generated_owner
from hcvg.sample import Sample
from hcvg.registry import Registry
from metrics.base import DistributionMetric, Metric, MetricUndefined, SampleMetric, ScoredItem
from metrics.features.base import FeatureExtractor
from metrics.scope import apply_scope

logger = logging.getLogger(__name__)

TEXT_SCOPE = "text"  # cache key of prompt embeddings, which no scope crop changes


Cell = tuple[str, str]  # (metric, scope): what the ledger marks finished per clip


@dataclass
class ScoredBatch:
    """Rows, ledger entries and failures from scoring one batch."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # sample id -> score rows
    ledger: list[dict[str, Any]] = field(default_factory=list)  # sample_id, metric, scope, status
    errors: list[dict[str, Any]] = field(default_factory=list)  # with "sample_id"


class Scorer:
    """Scores clips with every metric at each scope, computing only the cells asked for.

    Args:
        metrics: The metrics (per-sample ones give score rows; distribution ones have
            their per-clip features cached and are reduced by `score_distributions`).
        scopes: "full" and/or "ma".
        extractors: Registry of feature extractors; those the metrics name are built by
            `drop_unavailable`.
        cache: Where features are cached (None: not cached).
        extractor_options: Extractor name → constructor options (coerced by the registry).
    """

    def __init__(
        self,
        metrics: list[Metric],
        scopes: list[str],
        extractors: Registry | None = None,
        cache: FeatureCache | None = None,
        extractor_options: dict[str, dict[str, Any]] | None = None,
    ):
        self.metrics = [m for m in metrics if isinstance(m, SampleMetric)]
        self.distribution_metrics = [m for m in metrics if isinstance(m, DistributionMetric)]
        self.scopes = list(scopes)
        self.extractor_registry = extractors
        self.extractor_options = dict(extractor_options or {})
        self.cache = cache
        self.extractor_options = dict(extractor_options or {})
        self._extractors: dict[str, FeatureExtractor] = {}
        self.feature_names = self._needed_features()

    @property
    def all_metrics(self) -> list[Metric]:
        return [*self.metrics, *self.distribution_metrics]

    def _needed_features(self) -> list[str]:
        return sorted({name for m in self.all_metrics for name in m.features})

    def drop_unavailable(self) -> dict[str, str]:
        """Build every extractor now; drop the metrics whose extractor cannot be built.

        Returns:
            Metric name -> why it was dropped (e.g. the weights file that is missing).
        """
        dropped = {}
        for name in self.feature_names:
            try:
                if self.extractor_registry is None:
                    raise RuntimeError(f"no feature-extractor registry to build {name!r} from")
                self._extractors[name] = self.extractor_registry.create(name, **self.extractor_options.get(name, {}))
            except Exception as err:  # e.g. missing weights: the metrics reading it are skipped, with the reason
                for metric in [m for m in self.all_metrics if name in m.features]:
                    dropped[metric.name] = f"feature extractor {name!r} unavailable: {type(err).__name__}: {err}"
        self.metrics = [m for m in self.metrics if m.name not in dropped]
        self.distribution_metrics = [m for m in self.distribution_metrics if m.name not in dropped]
        self.feature_names = self._needed_features()
        if self.cache is not None:
            self.cache.fingerprints.update({n: extractor_fingerprint(self._extractors[n]) for n in self.feature_names})
        return dropped

    def extractor_configs(self) -> dict[str, Any]:
        """Configs and fingerprints of the extractors in use (for the run config)."""
        return {n: {**e.config(), "fingerprint": extractor_fingerprint(e)} for n, e in self._extractors.items()}

    def metric_keys(self) -> dict[str, str]:
        """Metric name → a hash of its config and its extractors' fingerprints.

        The ledger stores it with every finished cell: a cell counts as finished only
        under the same key, so new weights or options recompute instead of mixing.
        """
        keys = {}
        for metric in self.all_metrics:
            described = {
                "class": f"{type(metric).__module__}.{type(metric).__qualname__}",
                "config": metric.config(),
                "features": {f: extractor_fingerprint(self._extractors[f]) for f in metric.features},
            }
            keys[metric.name] = hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return keys

    def _extractor(self, name: str) -> FeatureExtractor:
        try:
            return self._extractors[name]
        except KeyError:
            raise RuntimeError(f"feature extractor {name!r} was not built; call drop_unavailable() first") from None

    def score(
        self,
        samples: list[Sample],
        videos: dict[str, np.ndarray],
        adapter: str,
        split: str,
        seed: int,
        wanted: dict[str, set[Cell]] | None = None,
    ) -> ScoredBatch:
        """Score the clips in ``videos`` (sample id -> uint8 [L,H,W,3]) of ``samples``.

        Args:
            samples: The samples (references, prompts, masks).
            videos: Their generated clips.
            adapter: Adapter label (cache owner).
            split: Split label.
            seed: Generation seed.
            wanted: Sample id → the (metric, scope) cells to compute; None: all of them.
                Only the extractors those cells read are run.
        """
        samples = [s for s in samples if s.id in videos]
        if wanted is None:
            every = {(m.name, scope) for m in self.all_metrics for scope in self.scopes}
            wanted = {s.id: every for s in samples}
        out = ScoredBatch(rows={s.id: [] for s in samples})
        # 1. Each scope's crops of the clips (decoded once, by the caller).
        staged: dict[str, _Staged] = {}
        for scope in self.scopes:
            stage = staged[scope] = _Staged(todo={s.id: {m for m, sc in wanted.get(s.id, ()) if sc == scope} for s in samples})
            for sample in samples:
                if not stage.todo[sample.id]:
                    continue
                try:
                    gen, target, context, mask = apply_scope(
                        scope, generated=videos[sample.id], target=sample.target, context=sample.context,
                        motion_area=sample.motion_area,
                    )
                except MetricUndefined as err:
                    stage.undefined[sample.id] = str(err)
                    continue
                stage.items[sample.id] = ScoredItem(sample.id, scope, gen, target, context, mask, sample.prompt)
        # 2. Each backbone once over the whole batch: both scopes, generated and ground truth.
        feature_errors = self._attach_features(staged, adapter, split, seed)
        # 3. Every metric reads the features.
        for scope, stage in staged.items():
            for sample_id, reason in stage.undefined.items():
                for metric in self._metrics_named(stage.todo[sample_id]):
                    if isinstance(metric, SampleMetric):
                        out.rows[sample_id].append(_row(metric, scope, math.nan, "undefined", reason))
                    out.ledger.append(_cell(sample_id, metric, scope, "undefined"))
            for sample_id, item in stage.items.items():
                for metric in self._metrics_named(stage.todo[sample_id]):
                    failed = [
                        feature_errors[key] for f in metric.features
                        for key in [(scope, sample_id, f, GENERATED_SIDE), (scope, sample_id, f, TARGET_SIDE)]
                        if key in feature_errors and not (key[3] == TARGET_SIDE and f in metric.generated_only)
                    ]
                    if failed:
                        message = failed[0]
                        if isinstance(metric, SampleMetric):
                            out.rows[sample_id].append(_row(metric, scope, math.nan, "error", message))
                        out.ledger.append(_cell(sample_id, metric, scope, "error"))
                        out.errors.append({"sample_id": sample_id, "metric": metric.name, "scope": scope, "error": message})
                        continue
                    if isinstance(metric, DistributionMetric):
                        # Its per-clip contribution is the cached features; reduced at the end.
                        out.ledger.append(_cell(sample_id, metric, scope, "ok"))
                        continue
                    row, error = _score_one(metric, item)
                    out.rows[sample_id].append(row)
                    out.ledger.append(_cell(sample_id, metric, scope, row["status"]))
                    if error:
                        out.errors.append({"sample_id": sample_id, **error})
        return out

    def _metrics_named(self, names: set[str]) -> list[Metric]:
        return [m for m in self.all_metrics if m.name in names]

    def _attach_features(self, staged: dict[str, "_Staged"], adapter: str, split: str, seed: int) -> dict[tuple[str, str, str, str], str]:
        """Fill ``item.features`` / ``item.target_features`` of every staged item.

        Per extractor, the inputs of both scopes and both sides (generated and ground
        truth) that the cache lacks go to the backbone in one call, so its batches are as
        full as the batch of clips allows. Extractors that run in the background (hand
        detection in CPU worker processes) are submitted first and collected last, so they
        overlap the device backbones. The ground truth's features are computed only for
        metrics that read them (not for `Metric.generated_only`), once per split (cached
        under `GROUND_TRUTH`); a prompt is embedded once per sample (cached under
        `TEXT_SCOPE`, for both scopes and sides).

        Returns:
            (scope, sample id, extractor, side) -> error message, side being
            `GENERATED_SIDE` or `TARGET_SIDE`.
        """
        names = sorted({f for stage in staged.values() for i in stage.items for m in self._metrics_named(stage.todo[i]) for f in m.features})
        names.sort(key=lambda n: not self._extractor(n).runs_in_background)  # stable: background ones first
        owner = generated_owner(adapter, seed)
        started = []
        for name in names:
            extractor = self._extractor(name)
            jobs: dict[tuple[str, str, str], _Job] = {}  # (cache scope, owner, sample id) -> job
            for scope, stage in staged.items():
                for sample_id, item in stage.items.items():
                    readers = [m for m in self._metrics_named(stage.todo[sample_id]) if name in m.features]
                    if not readers:
                        continue
                    if extractor.kind == "text":
                        # The prompt is the same for both clips, every scope and every adapter.
                        job = jobs.setdefault((TEXT_SCOPE, GROUND_TRUTH, sample_id), _Job(item.prompt))
                        job.slots += [(scope, item, GENERATED_SIDE), (scope, item, TARGET_SIDE)]
                        continue
                    jobs.setdefault((scope, owner, sample_id), _Job(item.generated)).slots.append((scope, item, GENERATED_SIDE))
                    if any(name not in m.generated_only for m in readers):
                        jobs.setdefault((scope, GROUND_TRUTH, sample_id), _Job(item.target)).slots.append((scope, item, TARGET_SIDE))
            pending = []
            for (cache_scope, cache_owner, sample_id), job in jobs.items():
                cached = self.cache.load(name, cache_scope, cache_owner, split, sample_id) if self.cache else None
                if cached is None:
                    pending.append((cache_scope, cache_owner, sample_id))
                else:
                    job.fill(name, cached)
            if pending:
                started.append((name, jobs, pending, self._submit(name, [jobs[key].input for key in pending])))
        errors: dict[tuple[str, str, str, str], str] = {}
        for name, jobs, pending, future in started:
            results = self._collect(name, future, [jobs[key].input for key in pending])
            for (cache_scope, cache_owner, sample_id), result in zip(pending, results):
                job = jobs[(cache_scope, cache_owner, sample_id)]
                if isinstance(result, Exception):
                    message = f"feature {name!r} failed: {type(result).__name__}: {result}"
                    errors.update({(scope, item.sample_id, name, side): message for scope, item, side in job.slots})
                    continue
                job.fill(name, result)
                if self.cache:
                    self.cache.save(name, cache_scope, cache_owner, split, sample_id, result)
        return errors

    def _submit(self, name: str, inputs: list[Any]) -> Future:
        """Start one extractor on a batch (`FeatureExtractor.submit`; text is embedded now)."""
        extractor = self._extractor(name)
        if extractor.kind != "text":
            return extractor.submit(list(inputs))
        future: Future = Future()
        try:
            future.set_result(list(extractor.extract_text(list(inputs))))
        except Exception as err:  # read by `_collect`, which retries text by text
            future.set_exception(err)
        return future

    def _collect(self, name: str, future: Future, inputs: list[Any]) -> list[np.ndarray | Exception]:
        """The batch's features; if the batch failed, each input again alone so only bad ones fail."""
        try:
            results = list(future.result())
            if len(results) != len(inputs):
                raise RuntimeError(f"extractor {name!r} returned {len(results)} results for {len(inputs)} inputs")
            return results
        except Exception as batch_error:  # retried one by one; each failure is returned, then recorded
            if len(inputs) == 1:
                return [batch_error]
            logger.warning("extractor %s failed on a batch (%s); retrying clip by clip", name, batch_error)
        return [self._extract(name, [one])[0] for one in inputs]

    def _extract(self, name: str, clips: list[Any]) -> list[np.ndarray | Exception]:
        """Run one extractor on a batch; on failure, one by one so only bad clips fail."""
        extractor = self._extractor(name)
        try:
            if extractor.kind == "text":
                return list(extractor.extract_text(list(clips)))
            return list(extractor.extract(clips))
        except Exception as batch_error:  # retried one by one below; each failure is returned, then recorded
            if len(clips) == 1:
                return [batch_error]
            logger.warning("extractor %s failed on a batch (%s); retrying clip by clip", name, batch_error)
        return [self._extract(name, [clip])[0] for clip in clips]


GENERATED_SIDE, TARGET_SIDE = "generated", "target"


@dataclass
class _Staged:
    """One scope of a batch: the cells to compute, the cropped items, and the undefined samples."""

    todo: dict[str, set[str]]  # sample id -> metric names
    items: dict[str, ScoredItem] = field(default_factory=dict)
    undefined: dict[str, str] = field(default_factory=dict)  # sample id -> why the scope has no crop


@dataclass
class _Job:
    """One extractor input (a clip or a prompt) and the item slots its features fill."""

    input: Any
    slots: list[tuple[str, ScoredItem, str]] = field(default_factory=list)  # (scope, item, side)

    def fill(self, name: str, features: Any) -> None:
        for _, item, side in self.slots:
            (item.features if side == GENERATED_SIDE else item.target_features)[name] = features


def extractor_fingerprint(extractor: FeatureExtractor) -> str:
    """The extractor's fingerprint: a hash of its config and weights (`FeatureExtractor.fingerprint`)."""
    return extractor.fingerprint()


def _cell(sample_id: str, metric: Metric, scope: str, status: str) -> dict[str, Any]:
    return {"sample_id": sample_id, "metric": metric.name, "scope": scope, "status": status}


def _score_one(metric: SampleMetric, item: ScoredItem) -> tuple[dict[str, Any], dict[str, Any] | None]:
    try:
        value = float(metric.score(item))
    except MetricUndefined as err:
        return _row(metric, item.scope, math.nan, "undefined", str(err)), None
    except Exception as err:  # a failing metric must not stop the run
        logger.debug("metric %s failed on %s", metric.name, item.sample_id, exc_info=True)
        message = f"{type(err).__name__}: {err}"
        return _row(metric, item.scope, math.nan, "error", message), {"metric": metric.name, "scope": item.scope, "error": message}
    if not math.isfinite(value):
        message = f"metric {metric.name} returned {value}"
        return _row(metric, item.scope, math.nan, "error", message), {"metric": metric.name, "scope": item.scope, "error": message}
    return _row(metric, item.scope, value, "ok", ""), None


def _row(metric: Metric, scope: str, value: float, status: str, note: str) -> dict[str, Any]:
    return {
        "metric": metric.name,
        "scope": scope,
        "value": value,
        "status": status,
        "note": note,
        "higher_is_better": metric.higher_is_better,
    }


def score_distributions(
    metrics: list[DistributionMetric],
    cache: FeatureCache,
    sample_ids: dict[str, list[str]],
    scope: str,
    adapter: str,
    split: str,
    seed: int,
) -> list[dict[str, Any]]:
    """Distribution-level metrics (FID, FVD) over the cached features of finished clips.

    Features are streamed into each metric's state one clip at a time (FID/FVD keep
    sums, not rows). Distribution metrics read only features, so the items carry empty
    frame arrays.

    Args:
        metrics: The distribution metrics.
        cache: The run's feature cache (with the fingerprints in use).
        sample_ids: Metric name → the samples whose cell the ledger marks finished.
        scope: The scope.
        adapter: Adapter label.
        split: Split label.
        seed: Generation seed.

    Returns:
        One row per metric with value, n (clips used), status and note.
    """
    rows = []
    owner = generated_owner(adapter, seed)
    empty = np.empty((0,), dtype=np.uint8)
    for metric in metrics:
        metric.reset()
        used, lost, bad = 0, [], []
        for sample_id in sample_ids.get(metric.name, []):
            item = ScoredItem(sample_id, scope, empty, empty, empty, None, "")
            for name in metric.features:
                generated = cache.load(name, scope, owner, split, sample_id)
                target = cache.load(name, scope, GROUND_TRUTH, split, sample_id)
                if generated is None or target is None:
                    lost.append(sample_id)
                    break
                item.features[name], item.target_features[name] = generated, target
            else:
                try:
                    metric.update(item)
                except ValueError as err:  # e.g. NaN features of one clip: that clip is left out, and said
                    bad.append(f"{sample_id}: {err}")
                    continue
                used += 1
        notes = []
        if lost:
            notes.append(f"features of {len(lost)} finished clips are missing from the cache (e.g. {lost[0]}); rerun with --resume")
        if bad:
            notes.append(f"{len(bad)} clips left out ({bad[0]})")
        note = "; ".join(notes)
        row = {**_row(metric, scope, math.nan, "undefined", note or "no clips with features"), "n": used}
        if used:
            try:
                row.update(value=float(metric.compute()), status="ok", note=note)
            except MetricUndefined as err:
                row.update(status="undefined", note=str(err))
            except Exception as err:  # recorded in the row and the failures; the run goes on
                row.update(status="error", note=f"{type(err).__name__}: {err}")
        rows.append(row)
    return rows

"""Scoring generated clips: scope crops, shared backbone features, every metric.

For one batch of clips and one scope, each feature extractor that some metric reads
runs once over the batch (its output cached, ground truth once per split), then every
metric reads those features. A failing extractor or metric fails only the samples and
metrics that depend on it.
"""

from __future__ import annotations

import logging
import math
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


@dataclass
class ScoredBatch:
    """Rows and failures from scoring one batch."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # sample id -> rows
    errors: list[dict[str, Any]] = field(default_factory=list)  # with "sample_id"


class Scorer:
    """Scores clips with per-sample metrics at each scope.

    Args:
        metrics: The metrics (per-sample ones are scored here).
        scopes: "full" and/or "ma".
        extractors: Registry of feature extractors; those the metrics name are built
            on first use.
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
        self._extractors: dict[str, FeatureExtractor | Exception] = {}
        self.feature_names = self._needed_features()

    def _needed_features(self) -> list[str]:
        return sorted({name for m in [*self.metrics, *self.distribution_metrics] for name in m.features})

    def drop_unavailable(self) -> dict[str, str]:
        """Build every extractor now; drop the metrics whose extractor cannot be built.

        Returns:
            Metric name -> why it was dropped (e.g. the weights file that is missing).
        """
        dropped = {}
        for name in self.feature_names:
            try:
                self._extractor(name)
            except Exception as err:
                for metric in [m for m in [*self.metrics, *self.distribution_metrics] if name in m.features]:
                    dropped[metric.name] = f"feature extractor {name!r} unavailable: {type(err).__name__}: {err}"
        self.metrics = [m for m in self.metrics if m.name not in dropped]
        self.distribution_metrics = [m for m in self.distribution_metrics if m.name not in dropped]
        self.feature_names = self._needed_features()
        return dropped

    def extractor_configs(self) -> dict[str, Any]:
        """Configs of the extractors built so far (for the run config)."""
        return {n: e.config() for n, e in self._extractors.items() if isinstance(e, FeatureExtractor)}

    def _extractor(self, name: str) -> FeatureExtractor:
        if name not in self._extractors:
            try:
                if self.extractor_registry is None:
                    raise RuntimeError(f"no feature-extractor registry to build {name!r} from")
                self._extractors[name] = self.extractor_registry.create(name, **self.extractor_options.get(name, {}))
            except Exception as err:  # e.g. missing weights: remembered, reported per sample
                self._extractors[name] = err
        extractor = self._extractors[name]
        if isinstance(extractor, Exception):
            raise extractor
        return extractor

    def _kind(self, name: str) -> str:
        """An extractor's kind ("video" or "text"); an unbuildable one is reported later."""
        try:
            return self._extractor(name).kind
        except Exception:
            return "video"

    def score(self, samples: list[Sample], videos: dict[str, np.ndarray], adapter: str, split: str, seed: int) -> ScoredBatch:
        """Score the clips in ``videos`` (sample id -> uint8 [L,H,W,3]) of ``samples``."""
        out = ScoredBatch(rows={s.id: [] for s in samples if s.id in videos})
        samples = [s for s in samples if s.id in videos]
        for scope in self.scopes:
            items: dict[str, ScoredItem] = {}
            for sample in samples:
                try:
                    gen, target, context, mask = apply_scope(
                        scope, generated=videos[sample.id], target=sample.target, context=sample.context,
                        motion_area=sample.motion_area,
                    )
                except MetricUndefined as err:
                    out.rows[sample.id] += [_row(m, scope, math.nan, "undefined", str(err)) for m in self.metrics]
                    continue
                items[sample.id] = ScoredItem(sample.id, scope, gen, target, context, mask, sample.prompt)
            feature_errors = self._attach_features(items, scope, adapter, split, seed)
            for sample_id, item in items.items():
                for metric in self.metrics:
                    missing = [f for f in metric.features if (sample_id, f) in feature_errors]
                    if missing:
                        message = f"feature {missing[0]!r} failed: {feature_errors[(sample_id, missing[0])]}"
                        out.rows[sample_id].append(_row(metric, scope, math.nan, "error", message))
                        out.errors.append({"sample_id": sample_id, "metric": metric.name, "scope": scope, "error": message})
                        continue
                    row, error = _score_one(metric, item)
                    out.rows[sample_id].append(row)
                    if error:
                        out.errors.append({"sample_id": sample_id, **error})
        return out

    def _attach_features(self, items: dict[str, ScoredItem], scope: str, adapter: str, split: str, seed: int) -> dict[tuple[str, str], str]:
        """Fill ``item.features`` / ``item.target_features``; returns (sample, feature) -> error."""
        errors: dict[tuple[str, str], str] = {}
        for name in self.feature_names:
            if self._kind(name) == "text":
                # The prompt is the same for both clips, every scope and every adapter:
                # embed it once per sample and hand the one vector to both sides.
                jobs = [(GROUND_TRUTH, TEXT_SCOPE, lambda i: i.prompt, ("features", "target_features"))]
            else:
                jobs = [
                    (generated_owner(adapter, seed), scope, lambda i: i.generated, ("features",)),
                    (GROUND_TRUTH, scope, lambda i: i.target, ("target_features",)),
                ]
            for owner, cache_scope, input_of, slots in jobs:
                todo = []
                for sample_id, item in items.items():
                    cached = self.cache.load(name, cache_scope, owner, split, sample_id) if self.cache else None
                    if cached is None:
                        todo.append(sample_id)
                    for slot in slots if cached is not None else ():
                        getattr(item, slot)[name] = cached
                if not todo:
                    continue
                for sample_id, result in zip(todo, self._extract(name, [input_of(items[i]) for i in todo])):
                    if isinstance(result, Exception):
                        errors[(sample_id, name)] = f"{type(result).__name__}: {result}"
                        continue
                    for slot in slots:
                        getattr(items[sample_id], slot)[name] = result
                    if self.cache:
                        self.cache.save(name, cache_scope, owner, split, sample_id, result)
        return errors

    def _extract(self, name: str, clips: list[np.ndarray]) -> list[np.ndarray | Exception]:
        """Run one extractor on a batch; on failure, one by one so only bad clips fail."""
        try:
            extractor = self._extractor(name)
        except Exception as err:
            return [err] * len(clips)
        try:
            if extractor.kind == "text":
                return list(extractor.extract_text(list(clips)))
            return list(extractor.extract(clips))
        except Exception as batch_error:
            if len(clips) == 1:
                return [batch_error]
        return [self._extract(name, [clip])[0] for clip in clips]


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
    metrics: list[DistributionMetric], cache: FeatureCache, sample_ids: list[str], scope: str, adapter: str, split: str, seed: int
) -> list[dict[str, Any]]:
    """Distribution-level metrics (FID, FVD) over the cached features of finished clips.

    Distribution metrics read only features, so the items carry empty frame arrays.

    Returns:
        One row per metric with value, n (clips used), status and note.
    """
    rows = []
    owner = generated_owner(adapter, seed)
    empty = np.empty((0,), dtype=np.uint8)
    for metric in metrics:
        metric.reset()
        used = 0
        for sample_id in sample_ids:
            item = ScoredItem(sample_id, scope, empty, empty, empty, None, "")
            for name in metric.features:
                generated = cache.load(name, scope, owner, split, sample_id)
                target = cache.load(name, scope, GROUND_TRUTH, split, sample_id)
                if generated is None or target is None:
                    break
                item.features[name], item.target_features[name] = generated, target
            else:
                metric.update(item)
                used += 1
        row = {**_row(metric, scope, math.nan, "undefined", "no clips with features"), "n": used}
        if used:
            try:
                row.update(value=float(metric.compute()), status="ok", note="")
            except Exception as err:  # recorded in the row; the run goes on
                row.update(status="error", note=f"{type(err).__name__}: {err}")
        rows.append(row)
    return rows

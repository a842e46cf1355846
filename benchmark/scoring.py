"""Scoring one generated clip with every metric at every scope."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from benchmark.sample import Sample
from metrics.base import Metric, MetricUndefined, SampleMetric, ScoredItem
from metrics.scope import apply_scope

logger = logging.getLogger(__name__)


def score_sample(
    sample: Sample, generated: np.ndarray, metrics: list[Metric], scopes: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Score one clip.

    Args:
        sample: The benchmark sample (references: context, target, motion area).
        generated: uint8 ``[L, H, W, 3]`` clip, already validated.
        metrics: Per-sample metrics to compute.
        scopes: "full" and/or "ma".

    Returns:
        (rows, errors): one row per metric and scope with ``value`` and ``status``
        ("ok", "undefined" with a ``note``, or "error"); and one dict per metric
        that raised, for the failure log.
    """
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for scope in scopes:
        try:
            gen, target, context, mask = apply_scope(
                scope, generated=generated, target=sample.target, context=sample.context, motion_area=sample.motion_area
            )
        except MetricUndefined as err:
            rows += [_row(m, scope, math.nan, "undefined", str(err)) for m in metrics]
            continue
        item = ScoredItem(sample.id, scope, gen, target, context, mask, sample.prompt)
        for metric in metrics:
            if not isinstance(metric, SampleMetric):
                continue
            try:
                value = float(metric.score(item))
            except MetricUndefined as err:
                rows.append(_row(metric, scope, math.nan, "undefined", str(err)))
                continue
            except Exception as err:  # a failing metric must not stop the run
                logger.debug("metric %s failed on %s", metric.name, sample.id, exc_info=True)
                rows.append(_row(metric, scope, math.nan, "error", f"{type(err).__name__}: {err}"))
                errors.append({"metric": metric.name, "scope": scope, "error": f"{type(err).__name__}: {err}"})
                continue
            if not math.isfinite(value):
                message = f"metric {metric.name} returned {value} at scope {scope}"
                rows.append(_row(metric, scope, math.nan, "error", message))
                errors.append({"metric": metric.name, "scope": scope, "error": message})
                continue
            rows.append(_row(metric, scope, value, "ok", ""))
    return rows, errors


def _row(metric: Metric, scope: str, value: float, status: str, note: str) -> dict[str, Any]:
    return {
        "metric": metric.name,
        "scope": scope,
        "value": value,
        "status": status,
        "note": note,
        "higher_is_better": metric.higher_is_better,
    }

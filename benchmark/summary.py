"""From per-sample scores to a summary with bootstrap confidence intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leaderboards.ranking import COMMON_COLUMNS, restrict_to_common, split_sizes

SUMMARY_KEYS = ["adapter", "split", "metric", "scope"]


def bootstrap_ci(values: np.ndarray, resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean.

    Args:
        values: float ``[n]`` per-sample values (finite).
        resamples: Number of bootstrap resamples.
        confidence: Two-sided coverage, e.g. 0.95.
        seed: RNG seed, fixed so that a summary is reproducible.

    Returns:
        (low, high); (nan, nan) for an empty input, (v, v) for a single value.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan")
    if values.size == 1:
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.size, size=(resamples, values.size))
    means = values[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def summarize(
    scores: pd.DataFrame, resamples: int = 1000, confidence: float = 0.95, distribution: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Summarize per-sample scores.

    Values are averaged over seeds per sample first, then over samples; the CI
    resamples samples (the unit the benchmark draws), not seeds.

    Args:
        scores: Rows with columns adapter, split, sample_id, seed, metric, scope,
            value, status, higher_is_better; only rows with status "ok" count.
        resamples: Bootstrap resamples.
        confidence: CI coverage.
        distribution: Distribution-level rows (adapter, split, seed, metric, scope,
            value, n, status, higher_is_better): averaged over seeds, no CI.

    Returns:
        One row per adapter, split, metric, scope with value, ci_low, ci_high, n
        (samples, or clips for distribution metrics), higher_is_better and level
        ("sample" or "distribution"), then the same over the common set of samples
        every adapter was scored on (`leaderboards.ranking`): common_value,
        common_ci_low, common_ci_high, common_n (NaN for distribution metrics, which
        need features to recompute), and n_total (the split's samples); sorted by
        the keys.
    """
    full = _summarize_full(scores, resamples, confidence, distribution)
    if scores.empty:
        return full.assign(**{column: np.nan for column in COMMON_COLUMNS})
    common = _summarize_full(restrict_to_common(scores), resamples, confidence, None)
    common = common[[*SUMMARY_KEYS, "value", "ci_low", "ci_high", "n"]].rename(
        columns={"value": "common_value", "ci_low": "common_ci_low", "ci_high": "common_ci_high", "n": "common_n"})
    merged = full.merge(common, on=SUMMARY_KEYS, how="left")
    merged["n_total"] = merged["split"].map(split_sizes(scores)).astype(float)
    merged.loc[merged["level"] == "distribution", "n_total"] = np.nan
    return merged.sort_values(SUMMARY_KEYS, kind="stable").reset_index(drop=True)


def _summarize_full(
    scores: pd.DataFrame, resamples: int, confidence: float, distribution: pd.DataFrame | None
) -> pd.DataFrame:
    """`summarize` over each adapter's own samples (no common-set columns)."""
    columns = [*SUMMARY_KEYS, "value", "ci_low", "ci_high", "n", "higher_is_better", "level"]
    rows = []
    if distribution is not None and not distribution.empty:
        ok_dist = distribution[distribution["status"] == "ok"]
        for key, group in ok_dist.groupby(SUMMARY_KEYS, sort=True):
            rows.append(dict(zip(SUMMARY_KEYS, key), value=float(group["value"].mean()), ci_low=float("nan"),
                             ci_high=float("nan"), n=int(group["n"].min()),
                             higher_is_better=bool(group["higher_is_better"].iloc[0]), level="distribution"))
    if scores.empty:
        return pd.DataFrame(rows, columns=columns).sort_values(SUMMARY_KEYS).reset_index(drop=True)
    ok = scores[scores["status"] == "ok"]
    for key, group in ok.groupby(SUMMARY_KEYS, sort=True):
        per_sample = group.groupby("sample_id", sort=True)["value"].mean().to_numpy()
        low, high = bootstrap_ci(per_sample, resamples, confidence)
        rows.append(
            dict(
                zip(SUMMARY_KEYS, key),
                value=float(per_sample.mean()),
                ci_low=low,
                ci_high=high,
                n=int(per_sample.size),
                higher_is_better=bool(group["higher_is_better"].iloc[0]),
                level="sample",
            )
        )
    return pd.DataFrame(rows, columns=columns).sort_values(SUMMARY_KEYS, kind="stable").reset_index(drop=True)

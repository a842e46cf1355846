import numpy as np
import pandas as pd

from benchmark.summary import bootstrap_ci, summarize


def test_bootstrap_ci_brackets_the_mean_and_is_reproducible():
    values = np.random.default_rng(0).normal(5.0, 1.0, size=200)
    low, high = bootstrap_ci(values)
    assert low < values.mean() < high
    assert (low, high) == bootstrap_ci(values)
    assert high - low < 0.5  # about 4 standard errors (0.07 each) wide


def test_bootstrap_ci_degenerate_inputs():
    assert np.isnan(bootstrap_ci(np.array([]))[0])
    assert bootstrap_ci(np.array([3.0])) == (3.0, 3.0)


def test_summary_averages_seeds_first_and_skips_non_ok_rows():
    rows = []
    for sample, values in {"a": (1.0, 3.0), "b": (5.0, 5.0)}.items():
        for seed, value in enumerate(values):
            rows.append(dict(adapter="m", split="s", sample_id=sample, seed=seed, metric="psnr", scope="full",
                             value=value, status="ok", higher_is_better=True))
    rows.append(dict(adapter="m", split="s", sample_id="c", seed=0, metric="psnr", scope="full",
                     value=float("nan"), status="undefined", higher_is_better=True))
    summary = summarize(pd.DataFrame(rows))
    assert len(summary) == 1
    row = summary.iloc[0]
    assert row["value"] == 3.5  # mean of per-sample means 2 and 5
    assert row["n"] == 2
    assert row["ci_low"] <= 3.5 <= row["ci_high"]

import math

import pandas as pd

from leaderboards.markdown import format_value, render_leaderboard


def summary_rows():
    rows = []
    for adapter, psnr, motion in (("a", 20.0, 0.5), ("b", 25.0, 0.0), ("c", 25.0, 0.1)):
        rows.append(dict(adapter=adapter, split="demo", metric="psnr", scope="full", value=psnr, ci_low=psnr - 1,
                         ci_high=psnr + 1, n=12, higher_is_better=True, level="sample"))
        rows.append(dict(adapter=adapter, split="demo", metric="background-motion", scope="full", value=motion,
                         ci_low=math.nan, ci_high=math.nan, n=12, higher_is_better=False, level="sample"))
    return pd.DataFrame(rows)


def test_best_per_column_is_bold_with_arrows():
    text = render_leaderboard(summary_rows())
    assert "| adapter | background-motion ↓ | psnr ↑ | n |" in text
    assert "| b | **0** | **25 [24, 26]** | 12 |" in text
    assert "| c | 0.1 | **25 [24, 26]** | 12 |" in text  # ties share the bold
    assert "| a | 0.5 | 20 [19, 21] | 12 |" in text


def test_small_distribution_sets_are_flagged():
    rows = summary_rows()
    rows.loc[rows.metric == "psnr", "level"] = "distribution"
    assert "†" in render_leaderboard(rows)


def test_format_value():
    assert format_value(math.nan) == "–"
    assert format_value(0.123456, 0.1, 0.2) == "0.1235 [0.1, 0.2]"
    assert format_value(1.0, 0.99999, 1.0) == "1"

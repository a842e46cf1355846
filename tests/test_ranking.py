"""Leaderboards rank adapters only on the samples every one of them was scored on."""

import pandas as pd

from benchmark.summary import summarize
from leaderboards.markdown import render_leaderboard
from leaderboards.ranking import common_samples, ranked_view


def _scores(values_by_adapter):
    rows = []
    for adapter, values in values_by_adapter.items():
        for index, value in enumerate(values):
            if value is None:  # this adapter failed on this sample: no score row
                continue
            rows.append(dict(adapter=adapter, split="demo", sample_id=f"demo-{index:04d}", seed=0, metric="psnr",
                             scope="full", value=value, status="ok", higher_is_better=True))
    return pd.DataFrame(rows)


def _n11_vs_n12():
    # "fragile" fails on the one hard sample; over its own 11 it looks better than "steady" over all 12.
    return _scores({"steady": [30.0] * 11 + [10.0], "fragile": [29.9] * 11 + [None]})


def test_common_set_is_the_samples_every_adapter_was_scored_on():
    common = common_samples(_n11_vs_n12())
    assert sorted(common["sample_id"]) == [f"demo-{i:04d}" for i in range(11)]


def test_leaderboard_over_n11_and_n12_ranks_on_the_common_11_and_flags_the_n11_adapter():
    summary = summarize(_n11_vs_n12())
    full = summary.set_index("adapter")
    assert full.loc["fragile", "value"] > full.loc["steady", "value"]  # the trap: full-n favours the failing model
    assert full.loc["steady", "common_n"] == 11 and full.loc["steady", "common_value"] == 30.0
    text = render_leaderboard(summary)
    assert "| steady | **30** | 12 of 12 |" in text
    assert "| fragile | 29.9 | 11 of 12 ‡ |" in text
    assert "psnr: 11 of 12" in text
    # The full-n numbers stay available, unranked, in their own table.
    own = text.split("each adapter on all its own samples")[1]
    assert "| steady | 28.33 [" in own and "**" not in own


def test_a_single_adapter_is_never_bold():
    summary = summarize(_scores({"only": [1.0, 2.0, 3.0]}))
    text = render_leaderboard(summary)
    assert "**" not in text
    assert "| only | 2 [" in text


def test_distribution_metrics_over_different_clip_counts_are_flagged_not_ranked():
    rows = [dict(adapter=a, split="demo", metric="fid", scope="full", value=v, ci_low=float("nan"), ci_high=float("nan"),
                 n=n, higher_is_better=False, level="distribution") for a, v, n in (("a", 10.0, 180), ("b", 12.0, 165))]
    summary = pd.DataFrame(rows)
    view = ranked_view(summary)
    assert set(view["basis"]) == {"unranked"} and not view["best"].any()
    text = render_leaderboard(summary)
    assert "**" not in text
    assert "fid is over different clip sets (n: a 180, b 165): not ranked" in text
    assert "needs the stored features" in text


def test_equal_distribution_clip_counts_are_ranked():
    rows = [dict(adapter=a, split="demo", metric="fid", scope="full", value=v, ci_low=float("nan"), ci_high=float("nan"),
                 n=180, higher_is_better=False, level="distribution") for a, v in (("a", 10.0), ("b", 12.0))]
    assert "| a | **10†** |" in render_leaderboard(pd.DataFrame(rows))


def test_site_table_bolds_the_common_set_winner_and_flags_missing_samples():
    from leaderboards.site.build import SiteRun, leaderboard_table, merge_runs

    merged, _ = merge_runs([SiteRun("run", summarize(_n11_vs_n12()), pd.DataFrame())])
    html = leaderboard_table(merged, {}, "lb-demo-full")
    steady = html.split('data-adapter="steady"')[1].split("</tr>")[0]
    fragile = html.split('data-adapter="fragile"')[1].split("</tr>")[0]
    assert 'class="best"' in steady and 'class="best"' not in fragile
    assert "11 of 12 ‡" in fragile and "12 of 12" in steady
    assert "psnr: 11 of 12" in html

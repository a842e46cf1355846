"""Rank adapters only on the samples every one of them was scored on (the common set).

An adapter that failed on a hard sample would otherwise be averaged over easier samples
and look better than one scored on all of them. So, per split × scope × metric, the
common set is the samples with an ``ok`` score for every adapter that has any; the
leaderboards show and rank values over it, show n, and flag adapters scored on fewer
samples than the split holds. The full-n values stay in the summary (``value``,
``ci_low``, ``ci_high``, ``n``) beside the common-set ones (``common_value``,
``common_ci_low``, ``common_ci_high``, ``common_n``; ``n_total``: the split's samples).

Pure pandas: the bootstrap lives in `benchmark.summary`, which calls this module.
"""

from __future__ import annotations

import math

import pandas as pd

BLOCK_KEYS = ["split", "scope", "metric"]

# Columns `benchmark.summary.summarize` adds beside the full-n ones.
COMMON_COLUMNS = ["common_value", "common_ci_low", "common_ci_high", "common_n", "n_total"]

# Marks shown in the tables; each is explained in a note when it appears.
MISSING_MARK = "‡"  # the adapter was scored on fewer samples than the split holds
UNRANKED_MARK = "§"  # values over different sample or clip sets: not ranked


def common_samples(scores: pd.DataFrame, entity: str = "adapter") -> pd.DataFrame:
    """The common set of each split × scope × metric.

    Args:
        scores: Per-sample rows (``entity``, split, sample_id, metric, scope, status, ...);
            only ``status == "ok"`` rows count.
        entity: The column naming what is compared (an adapter label).

    Returns:
        Rows of split, scope, metric, sample_id: the samples scored ``ok`` for every
        ``entity`` that has any ``ok`` score in that split, scope and metric.
    """
    columns = [*BLOCK_KEYS, "sample_id"]
    ok = scores[scores["status"] == "ok"] if "status" in scores else scores
    if ok.empty:
        return pd.DataFrame(columns=columns)
    pairs = ok[[entity, *columns]].drop_duplicates()
    per_sample = pairs.groupby(columns, sort=True)[entity].nunique().rename("entities").reset_index()
    compared = pairs.groupby(BLOCK_KEYS, sort=True)[entity].nunique().rename("compared").reset_index()
    merged = per_sample.merge(compared, on=BLOCK_KEYS)
    return merged[merged["entities"] == merged["compared"]][columns].reset_index(drop=True)


def restrict_to_common(scores: pd.DataFrame, entity: str = "adapter") -> pd.DataFrame:
    """The ``ok`` rows of ``scores`` whose sample is in its block's common set."""
    ok = scores[scores["status"] == "ok"] if "status" in scores else scores
    common = common_samples(scores, entity)
    return ok.merge(common, on=[*BLOCK_KEYS, "sample_id"], how="inner")


def split_sizes(scores: pd.DataFrame) -> pd.Series:
    """Samples per split: every sample id with any score row (any adapter, metric, status).

    A sample every adapter failed to generate has no score row at all, so it is not
    counted; the run's ``failures.jsonl`` names it.
    """
    if scores.empty:
        return pd.Series(dtype=int, name="n_total")
    return scores.groupby("split")["sample_id"].nunique().rename("n_total")


def ranked_view(block: pd.DataFrame, entity: str = "adapter") -> pd.DataFrame:
    """What a leaderboard shows and bolds for one split and scope.

    Per metric column: with common-set columns from one run, the common-set values are
    shown and ranked. Otherwise (a summary without them, distribution metrics such as
    FID/FVD, entries merged from several runs) the column is ranked only when every
    entry's value is over the same number of samples or clips, and otherwise marked
    unranked. A column with fewer than two values has no best.

    Args:
        block: Summary rows of one split and scope (``entity``, metric, value, ci_low,
            ci_high, n, higher_is_better, optionally level, run and `COMMON_COLUMNS`).
        entity: The column naming the compared rows.

    Returns:
        One row per entity and metric with: value, ci_low, ci_high (its own), shown_value, shown_low, shown_high, n
        (its own samples), shown_n (samples behind the shown value), n_total (NaN if
        unknown), basis ("common", "same-n" or "unranked"), best (bool) and missing
        (bool: scored on fewer samples than the split holds, or than another entry).
    """
    rows = []
    several_runs = "run" in block and block["run"].nunique() > 1
    for metric, column in block.groupby("metric", sort=True):
        column = column[column["value"].notna()]
        if column.empty:
            continue
        higher = bool(column["higher_is_better"].iloc[0])
        level = column["level"].iloc[0] if "level" in column else "sample"
        totals = column["n_total"] if "n_total" in column else pd.Series(math.nan, index=column.index)
        use_common = (
            not several_runs
            and level != "distribution"
            and "common_value" in column
            and column["common_value"].notna().all()
        )
        if use_common:
            shown = column[["common_value", "common_ci_low", "common_ci_high", "common_n"]].to_numpy()
            basis = "common"
        else:
            shown = column[["value", "ci_low", "ci_high", "n"]].to_numpy()
            basis = "same-n" if column["n"].nunique() == 1 else "unranked"
        ranked = basis != "unranked" and len(column) >= 2
        values = pd.Series(shown[:, 0], index=column.index, dtype=float)
        target = (values.max() if higher else values.min()) if ranked else math.nan
        most = column["n"].max()
        for (index, row), (value, low, high, shown_n), total in zip(column.iterrows(), shown, totals):
            known_total = not pd.isna(total)
            rows.append(
                {
                    entity: row[entity], "metric": metric, "value": float(row["value"]),
                    "ci_low": float(row["ci_low"]), "ci_high": float(row["ci_high"]), "shown_value": float(value), "shown_low": float(low),
                    "shown_high": float(high), "n": int(row["n"]), "shown_n": int(shown_n),
                    "n_total": float(total), "basis": basis, "level": level, "higher_is_better": higher,
                    "best": bool(ranked and value == target),
                    "missing": bool(row["n"] < total if known_total and level != "distribution" else row["n"] < most),
                }
            )
    columns = [entity, "metric", "value", "ci_low", "ci_high", "shown_value", "shown_low", "shown_high", "n", "shown_n", "n_total", "basis", "level",
               "higher_is_better", "best", "missing"]
    return pd.DataFrame(rows, columns=columns)


def entry_n(view: pd.DataFrame, entry: str, entity: str = "adapter") -> tuple[int, float, bool]:
    """(own samples, split size or NaN, missing) of one entry, over its sample-level metrics.

    An entry with only distribution metrics (FID/FVD) reports their clip counts instead.
    """
    rows = view[view[entity] == entry]
    sample = rows[rows["level"] != "distribution"]
    rows = sample if not sample.empty else rows
    n = int(rows["n"].max())
    total = rows["n_total"].max()
    return n, float(total), bool(rows["missing"].any())


def n_text(n: int, total: float, missing: bool) -> str:
    """``12``, ``12 of 12`` or ``11 of 12 ‡`` for an n column."""
    text = str(n) if pd.isna(total) else f"{n} of {int(total)}"
    return f"{text} {MISSING_MARK}" if missing else text


def basis_notes(view: pd.DataFrame, entity: str = "adapter") -> list[str]:
    """Sentences saying which samples each column of a block is ranked on."""
    notes = []
    common = view[view["basis"] == "common"]
    if not common.empty:
        by_n: dict[str, list[str]] = {}
        for metric, rows in common.groupby("metric", sort=True):
            total = rows["n_total"].iloc[0]
            key = f"{int(rows['shown_n'].iloc[0])}" + ("" if pd.isna(total) else f" of {int(total)}")
            by_n.setdefault(key, []).append(metric)
        parts = "; ".join(f"{', '.join(metrics)}: {key}" for key, metrics in by_n.items())
        notes.append(f"Shown and ranked on the common set, the samples every adapter was scored on ({parts}).")
    same_n = view[(view["basis"] == "same-n") & (view["level"] != "distribution")]
    if not same_n.empty:
        notes.append(
            f"{', '.join(sorted(same_n['metric'].unique()))}: ranked on each adapter's own samples, as many for each "
            "but not known to be the same ones (the summary has no common-set columns; `hcvg run ... --resume` "
            "rewrites it with them)."
        )
    unranked = view[view["basis"] == "unranked"]
    for metric, rows in unranked.groupby("metric", sort=True):
        counts = ", ".join(f"{entry} {n}" for entry, n in zip(rows[entity], rows["n"]))
        if (rows["level"] == "distribution").any():
            notes.append(
                f"{UNRANKED_MARK} {metric} is over different clip sets (n: {counts}): not ranked; recomputing it on "
                "the common set needs the stored features (not done here)."
            )
        else:
            notes.append(f"{UNRANKED_MARK} {metric} is over different sample sets (n: {counts}) and no common set is "
                         "known here: not ranked.")
    if view["missing"].any():
        notes.append(
            f"{MISSING_MARK} scored on fewer samples than the split holds in at least one column: a value that is "
            "undefined for a sample (e.g. hand-precision where no hand was detected; scores.parquet says which) or a "
            "failure (failures.jsonl says why)."
        )
    return notes

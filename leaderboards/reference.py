"""Published reference numbers: the paper's tables as data, with provenance and flags.

Each file in ``leaderboards/data/`` holds one printed table, one row per cell:

=============  ===============================================================
paper          the paper ("HANDI")
table          "1", "2", "3", or the text passage for numbers quoted in prose
row, column    1-based position in the printed table body (row empty for a
               cell the paper does not print at all)
benchmark      EpicKitchens, Ego4D or Motion Intensive
scope          Full or MA (Table 2's "Scope")
method         as printed, without its citation (``ref`` holds that)
mask, hrl      Table 2's configuration, as printed (×, Stage 1, Prior, GT; ×, ✓)
metric         the paper's label (see `leaderboards.metric_names`)
printed        the cell's text as printed ("" when missing)
value          the printed text parsed as a float (empty when missing)
marker         "underline" / "bold" when the text extraction shows one
flag, note     a short code and an explanation where the paper is missing,
               implausible or inconsistent; the value is kept as printed
source_line    line of ``paper/HANDI.txt`` the cell comes from
=============  ===============================================================

``handi_notes.csv`` records table-level notes and the prose claims that were checked
against the tables.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / "data"

# One file per printed table.
REFERENCE_FILES = {
    "table1": "handi_table1.csv",
    "table2": "handi_table2.csv",
    "table3": "handi_table3.csv",
    "timings": "handi_timings.csv",
}
NOTES_FILE = "handi_notes.csv"

# Flags that mean "do not rank this printed value" (it would win or lose by a typo).
UNRANKED_FLAGS = frozenset({"implausible-value"})


@lru_cache(maxsize=None)
def _read(path: Path) -> pd.DataFrame:
    # Everything as text first, so "0.9590" keeps its trailing zero in `printed`.
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    frame["value"] = pd.to_numeric(frame["value"].replace("", None), errors="raise").astype(float)
    return frame


def load_reference(table: str, data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """The published cells of one table.

    Args:
        table: One of `REFERENCE_FILES` ("table1", "table2", "table3", "timings").
        data_dir: Where the CSV files live.

    Returns:
        One row per cell with the columns described in this module's docstring;
        ``value`` is float (NaN where the paper prints nothing), the rest strings.

    Raises:
        KeyError: For an unknown table name.
    """
    try:
        name = REFERENCE_FILES[table]
    except KeyError:
        raise KeyError(f"no published data for {table!r}; known: {sorted(REFERENCE_FILES)}") from None
    return _read(data_dir / name).copy()


def load_notes(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """Table-level notes and checked prose claims (paper, table, location, source_line, quote, flag, note)."""
    return pd.read_csv(data_dir / NOTES_FILE, dtype=str, keep_default_na=False, encoding="utf-8")


def all_flags(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """Every flagged cell of every table, in file order (table, benchmark, scope, method, mask, hrl, metric, flag, note)."""
    frames = [load_reference(table, data_dir) for table in REFERENCE_FILES]
    cells = pd.concat(frames, ignore_index=True)
    return cells[cells["flag"] != ""].reset_index(drop=True)

"""`hcvg tables`: a run's leaderboard, or the paper's tables (published, ours, or both)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.cli.base import Subcommand
from hcvg.atomic import atomic_write_text
from hcvg.errors import InputNotFoundError, InvalidInputError


def paper_table_names() -> list[str]:
    """The choices of ``--paper``: the paper-table registry's names."""
    from leaderboards.specs import PAPER_TABLES

    return PAPER_TABLES.names()


def table_format_names() -> list[str]:
    """The choices of ``--format``: the table-format registry's names (no renderer is imported)."""
    from leaderboards.formats import TABLE_FORMATS

    return TABLE_FORMATS.names()


def parse_split_map(items: list[str]) -> dict[str, str]:
    """``PAPER_SPLIT=RUN_SPLIT`` items to a dict (parsed once, at the CLI edge).

    Raises:
        InvalidInputError: On an item without ``=``.
    """
    mapping = {}
    for item in items:
        paper, sep, run = item.partition("=")
        if not sep or not paper or not run:
            raise InvalidInputError(f"--split-as wants PAPER_SPLIT=RUN_SPLIT (e.g. ek100-test=demo), got {item!r}")
        mapping[paper.strip()] = run.strip()
    return mapping


def parse_adapter_map(items: list[str]) -> dict[str, str]:
    """``PAPER_METHOD=RUN_LABEL`` items (``--as``) to a dict, parsed once at the CLI edge.

    The split is at the first ``=`` outside brackets, so variant labels on either side
    (``handi[mask=gt,hrl=off]=mine``) stay whole.

    Raises:
        InvalidInputError: On an item without such an ``=`` or with an empty side.
    """
    mapping = {}
    for item in items:
        depth, cut = 0, -1
        for index, char in enumerate(item):
            depth += {"[": 1, "]": -1}.get(char, 0)
            if char == "=" and depth == 0:
                cut = index
                break
        method, label = (item[:cut].strip(), item[cut + 1:].strip()) if cut >= 0 else ("", "")
        if not method or not label:
            raise InvalidInputError(f"--as wants PAPER_METHOD=RUN_LABEL (e.g. handi=my-label), got {item!r}")
        mapping[method] = label
    return mapping


def _summary_path(run: Path) -> Path:
    """``RUN/summary.parquet``; raises `InputNotFoundError` saying how to make it."""
    path = run / "summary.parquet"
    if not path.is_file():
        raise InputNotFoundError(f"{path} not found; run `hcvg run ... --out {run}` first")
    return path


def summary_with_timings(run: Path):
    """A run's summary plus one ``seconds-per-clip`` row per adapter and split (from timings).

    Generation time is not a scored metric, but the paper tabulates it; adding it as
    rows lets the `timings` table spec read it like any other metric.
    """
    import pandas as pd

    summary = pd.read_parquet(run / "summary.parquet")
    timings_path = run / "timings.parquet"
    if not timings_path.is_file():
        return summary
    timings = pd.read_parquet(timings_path)
    if timings.empty or "stage" not in timings:
        return summary
    from leaderboards.markdown import generation_seconds

    generated = generation_seconds(timings)
    rows = [
        {"adapter": adapter, "split": split, "metric": "seconds-per-clip", "scope": scope, "value": float(group["clip_seconds"].mean()),
         "ci_low": float("nan"), "ci_high": float("nan"), "n": int(group["sample_id"].nunique()), "higher_is_better": False}
        for (adapter, split), group in generated.groupby(["adapter", "split"])
        for scope in ("full", "ma")
    ]
    return pd.concat([summary, pd.DataFrame(rows)], ignore_index=True) if rows else summary


class TablesCommand(Subcommand):
    name = "tables"
    help = "Render a run's leaderboard, or the paper's tables (published numbers, ours, or both)."
    epilog = """examples:
  hcvg tables --run runs/demo                         # the run's leaderboard (Markdown)
  hcvg tables --run runs/demo --format csv --out lb.csv   # ... as CSV (ranked and full-n values), latex or html
  hcvg tables --paper table1                          # the published Table 1, every number as printed
  hcvg tables --paper table2 --format latex --out table2.tex
  hcvg tables --paper table1 --run runs/full          # our numbers in Table 1's layout
  hcvg tables --paper table1 --run runs/full --compare --format html --out t1.html
  hcvg tables --paper table1 --run runs/demo --split-as ek100-test=demo
  hcvg tables --paper table1 --run runs/mine --compare --as handi=my-model

A run's leaderboard ranks adapters on the samples every one of them was scored on (the
common set) and flags those with missing samples (n = 11 of 12 ‡).

Paper tables: table1 (EpicKitchens → ek100-test, Ego4D → ego4d-test, Motion Intensive →
ek100-motion-intensive), table2 (ablation; rows are adapter labels such as
handi[mask=stage1,hrl=on]), table3 (BLIP large/base), timings (seconds per clip).
Bold is the best value per column and benchmark, underline the second best."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--run", type=Path, default=None, help="run directory holding summary.parquet")
        parser.add_argument("--paper", choices=paper_table_names(), default=None, help="render this paper table (without --run: the published numbers)")
        parser.add_argument("--compare", action="store_true", help="with --paper and --run: show the published number and the difference beside ours")
        parser.add_argument("--format", choices=table_format_names(), default="md", help="output format (default: md)")
        parser.add_argument("--marks", choices=("computed", "printed"), default="computed",
                            help="published tables: bold/underline from the values (default) or as the text extraction prints them")
        parser.add_argument("--split-as", nargs="+", default=[], metavar="PAPER_SPLIT=RUN_SPLIT", help="read a paper split from another split of the run")
        parser.add_argument("--as", dest="adapter_map", action="append", default=[], metavar="PAPER_METHOD=RUN_LABEL",
                            help="with --paper and --run: fill a paper method's row from this run adapter (repeatable)")
        parser.add_argument("--out", type=Path, default=None, help="also write the output here")

    def run(self, args: argparse.Namespace) -> int:
        if args.paper is None:
            if args.run is None:
                print("error: pass --run DIR (a run's leaderboard) and/or --paper TABLE (a paper table)", file=sys.stderr)
                return 2
            if args.compare or args.adapter_map or args.split_as:
                print("error: --compare, --as and --split-as apply to --paper tables (add --paper TABLE)", file=sys.stderr)
                return 2
            return self._run_leaderboard(args)
        return self._paper_table(args)

    def _run_leaderboard(self, args: argparse.Namespace) -> int:
        import pandas as pd

        from benchmark.run_store import RunStore
        from leaderboards.leaderboard_formats import render_run_leaderboard

        summary_path = _summary_path(args.run)
        timings = RunStore(args.run).read_table("timings")
        text = render_run_leaderboard(pd.read_parquet(summary_path), args.format, timings=timings)
        sys.stdout.write(text)
        if args.out:
            atomic_write_text(args.out, text)
        return 0

    def _paper_table(self, args: argparse.Namespace) -> int:
        from leaderboards.formats import render
        from leaderboards.paper_tables import published_table, run_table
        from leaderboards.specs import get_table_spec

        spec = get_table_spec(args.paper)
        if args.run is None:
            if args.adapter_map:
                print("error: --as needs --run DIR (it maps a run's adapter onto a paper method)", file=sys.stderr)
                return 2
            if args.compare:
                print("error: --compare needs --run DIR (the published numbers are compared with a run's)", file=sys.stderr)
                return 2
            table = published_table(spec, marks=args.marks)
        else:
            _summary_path(args.run)
            summary = summary_with_timings(args.run)
            table = run_table(spec, summary, parse_split_map(args.split_as), compare=args.compare, source=f"run {args.run}",
                              adapter_map=parse_adapter_map(args.adapter_map))
        text = render(table, args.format)
        sys.stdout.write(text)
        if args.out:
            atomic_write_text(args.out, text)
        return 0

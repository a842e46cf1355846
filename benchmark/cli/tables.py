"""`hcvg tables`: render a run's summary as tables."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.cli.base import Subcommand


class TablesCommand(Subcommand):
    name = "tables"
    help = "Render a run's summary.parquet as a Markdown leaderboard."
    epilog = """examples:
  hcvg tables --run runs/demo
  hcvg tables --run runs/demo --out leaderboard.md"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--run", type=Path, required=True, help="run directory holding summary.parquet")
        parser.add_argument("--out", type=Path, default=None, help="also write the Markdown here")

    def run(self, args: argparse.Namespace) -> int:
        import pandas as pd

        from benchmark.run_store import RunStore
        from leaderboards.markdown import render_leaderboard

        summary_path = args.run / "summary.parquet"
        if not summary_path.is_file():
            print(f"error: {summary_path} not found; run `hcvg run ... --out {args.run}` first", file=sys.stderr)
            return 2
        timings = RunStore(args.run).read_table("timings")
        text = render_leaderboard(pd.read_parquet(summary_path), timings=timings)
        print(text)
        if args.out:
            args.out.write_text(text)
        return 0

"""`hcvg leaderboard build`: a static leaderboard site from one or more run directories."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.cli.base import Subcommand
from hcvg.errors import InputNotFoundError


class LeaderboardCommand(Subcommand):
    name = "leaderboard"
    help = "Build a static leaderboard site (sortable tables, charts, gallery) from run directories."
    epilog = """examples:
  hcvg leaderboard build --runs runs/demo --out site
  hcvg leaderboard build --runs runs/ek100 runs/ego4d --out site --gallery-samples 6
  python -m http.server -d site      # optional: the site also opens straight from disk

The site holds: sortable tables per split and scope with 95% CIs, per-metric bar charts
with CI error bars, speed (timings.parquet) vs quality, a gallery showing each sample
across every run and adapter side by side (context, ground truth, each run's each model,
captioned with run and adapter; motion-area outline; optical flow), and the
paper's published tables. Nothing is loaded from the network."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action", choices=["build"], help="what to do")
        parser.add_argument("--runs", nargs="+", type=Path, required=True, metavar="DIR", help="run directories (each with summary.parquet)")
        parser.add_argument("--out", type=Path, required=True, help="output folder for the site")
        parser.add_argument("--gallery-samples", type=int, default=3, help="samples per split in the gallery; 0 for none (default: 3)")
        parser.add_argument("--title", default="handi-bench leaderboard", help="page title")

    def run(self, args: argparse.Namespace) -> int:
        import pandas as pd

        from benchmark.run_gallery import collect_gallery, distinct_run_names
        from leaderboards.site.build import SiteRun, build_site

        names = distinct_run_names(args.runs)
        runs = []
        for name, run_dir in zip(names, args.runs):
            summary_path = run_dir / "summary.parquet"
            if not summary_path.is_file():
                raise InputNotFoundError(f"{summary_path} not found; run `hcvg run ... --out {run_dir}` first")
            timings_path = run_dir / "timings.parquet"
            timings = pd.read_parquet(timings_path) if timings_path.is_file() else pd.DataFrame()
            runs.append(SiteRun(name, pd.read_parquet(summary_path), timings))
        # One gallery over all runs: each sample side by side across every run and adapter.
        collected = collect_gallery(dict(zip(names, args.runs)), max_samples=args.gallery_samples) if args.gallery_samples > 0 else None
        index = build_site(runs, args.out, collected.samples if collected else [], title=args.title)
        print(f"Site written: {index}")
        for entry in collected.missing if collected else []:  # the page says it too, beside the clips
            print(f"  gallery: {entry}")
        return 0

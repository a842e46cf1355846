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
with CI error bars, speed (timings.parquet) vs quality, a gallery of clips side by side
(context, ground truth, each adapter; motion-area outline; optical flow), and the
paper's published tables. Nothing is loaded from the network."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action", choices=["build"], help="what to do")
        parser.add_argument("--runs", nargs="+", type=Path, required=True, metavar="DIR", help="run directories (each with summary.parquet)")
        parser.add_argument("--out", type=Path, required=True, help="output folder for the site")
        parser.add_argument("--gallery-samples", type=int, default=3, help="samples per split in the gallery; 0 for none (default: 3)")
        parser.add_argument("--title", default="handi-bench leaderboard", help="page title")

    def run(self, args: argparse.Namespace) -> int:
        import pandas as pd

        from benchmark.run_gallery import collect_gallery
        from leaderboards.site.build import SiteRun, build_site

        runs, gallery, missing = [], [], []
        for run_dir in args.runs:
            summary_path = run_dir / "summary.parquet"
            if not summary_path.is_file():
                raise InputNotFoundError(f"{summary_path} not found; run `hcvg run ... --out {run_dir}` first")
            timings_path = run_dir / "timings.parquet"
            timings = pd.read_parquet(timings_path) if timings_path.is_file() else pd.DataFrame()
            runs.append(SiteRun(run_dir.resolve().name, pd.read_parquet(summary_path), timings))
            if args.gallery_samples > 0:
                collected = collect_gallery(run_dir, max_samples=args.gallery_samples)
                gallery += collected.samples
                missing += [f"{run_dir}: {entry}" for entry in collected.missing]
        index = build_site(runs, args.out, gallery, title=args.title)
        print(f"Site written: {index}")
        for line in missing:  # the page says it too, beside the clips
            print(f"  gallery: {line}")
        return 0

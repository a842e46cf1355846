"""`hcvg merge`: combine the run directories of `hcvg run --shard I/N` jobs into one."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.cli.base import Subcommand

SHOWN = 5  # missing cells listed on the console; all are counted


class MergeCommand(Subcommand):
    name = "merge"
    help = "Merge the run directories of --shard jobs into one run (scores, summary, leaderboard, videos)."
    description = """Merge finished run directories of one matrix, run as `hcvg run --shard I/N` jobs, into
a new run directory that holds what one run of the whole matrix would have written:
scores.parquet, ledger, timings, failures.jsonl, summary.parquet, leaderboard.md, the
videos (hard-linked, or copied across file systems) and the feature cache. FID/FVD are
recomputed from the shards' sum states (n, Σx, ΣxxT), as one run reduces them.

Refused, naming what differs: runs of another matrix (adapters and options, splits,
metrics and their keys, scopes, seeds, num_frames), two runs of the same shard, a cell
two runs scored differently, and runs of other package versions or git commits (unless
--allow-version-mismatch). Reported: missing cells (samples no given run finished,
including those of shards not given) and cells two runs scored alike (one kept)."""
    epilog = """examples:
  hcvg merge runs/x/shard-0 runs/x/shard-1 runs/x/shard-2 runs/x/shard-3 --out runs/x/merged
  hcvg merge runs/x/shard-* --out runs/x/merged --no-videos
  hcvg merge runs/x/shard-* --out runs/x/merged --allow-version-mismatch

exit status: 0 when every cell of every split's samples is scored; 1 when some are
missing (listed); 2 when the runs cannot be merged."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories of `hcvg run --shard I/N`")
        parser.add_argument("--out", type=Path, required=True, help="the merged run directory (must not hold a run)")
        parser.add_argument("--allow-version-mismatch", action="store_true", help="merge runs of other package versions or git commits (recorded in the run config)")
        parser.add_argument("--no-videos", action="store_true", help="leave the videos and previews out of the merged directory")

    def run(self, args: argparse.Namespace) -> int:
        from benchmark.run_merge import merge_runs

        result = merge_runs(args.runs, args.out, allow_version_mismatch=args.allow_version_mismatch, videos=not args.no_videos)
        print(result.leaderboard)
        print(f"Merged {len(args.runs)} runs into {result.out}")
        print(f"  summary: {result.out / 'summary.parquet'} ({len(result.summary)} rows)")
        print(f"  scores:  {result.out / 'scores.parquet'} ({len(result.scores)} rows)")
        print("  files:   " + ", ".join(f"{count} {how}" for how, count in result.files.items()))
        for line in result.version_differences:
            print(f"  version differs (allowed): {line}")
        if result.duplicated_cells:
            print(f"  {result.duplicated_cells} cells were scored by two runs with equal values; one copy kept")
        if result.missing_shards:
            print(f"  shards not given: {', '.join(map(str, result.missing_shards))}")
        for split, count in result.unassigned_samples.items():
            if count:
                print(f"  {count} samples of split {split!r} belong to no given run (their shards are missing)")
        if result.missing_cells:
            print(f"  {len(result.missing_cells)} cells of the given runs' samples are missing, e.g.:")
            for cell in result.missing_cells[:SHOWN]:
                print("    - " + " ".join(f"{k}={v}" for k, v in zip(("adapter", "split", "seed", "sample", "metric", "scope"), cell)))
            print("    resume the shard that owns them (`hcvg run --resume --shard I/N --out ...`), then merge again")
        return 0 if result.complete else 1

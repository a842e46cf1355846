"""`hcvg run` and `hcvg demo`: run a benchmark matrix into a run directory."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from benchmark.cli.base import Subcommand
from benchmark.run_config import ComponentSpec, RunConfig
from benchmark.run_matrix import read_matrix_file, run_config_from_dict
from benchmark.runner import STAGES, Runner, RunResult, refuse_existing_run
from benchmark.sharding import Shard
from hcvg.asset_pins import ALLOW_MISMATCH_ENV
from hcvg.errors import InvalidInputError
from metrics.base import SCOPES

DEFAULT_DEMO_ADAPTERS = ["static", "oracle", "handi-tiny"]
# Metrics that need no downloaded weights (the hand model is built from PyPI) and run in
# seconds on a CPU; the full-size backbones (FID, FVD, CLIP, BLIP, EgoVLP) join with --metrics.
DEFAULT_DEMO_METRICS = [
    "psnr", "ssim", "background-fidelity", "background-motion", "hs-err", "hand-recall", "hand-precision",
]


# Failures listed on the console; the rest are counted, and all are in failures.jsonl.
SHOWN_FAILURES = 5


def _report_generated(result: RunResult) -> int:
    """What ``--stage generate`` produced; exit 1 when a clip of the matrix has no stored video."""
    root = result.store.root
    print(f"Run directory: {root}")
    print(f"  clips generated now: {result.generated}")
    others = result.new_failures
    for failure in others[-SHOWN_FAILURES:]:
        where = " ".join(f"{k}={failure[k]}" for k in ("adapter", "split", "sample", "stage") if k in failure)
        print(f"    - {where}: {(str(failure.get('error') or '').splitlines() or [''])[0]}")
    print(f"{result.scored_cells} of {result.matrix_cells} clips stored; {len(others)} failures (see failures.jsonl)")
    print(f"  score them with: hcvg run --stage score --out {root} (the same matrix flags)")
    return 0 if result.complete else 1


def _report(result: RunResult) -> int:
    """Print what the run produced; exit 1 when a cell of the matrix has no score."""
    if result.stage == "generate":
        return _report_generated(result)
    print(result.leaderboard)
    root = result.store.root
    print(f"Run directory: {root}")
    print(f"  summary:     {root / 'summary.parquet'} ({len(result.summary)} rows)")
    print(f"  scores:      {root / 'scores.parquet'} ({len(result.scores)} rows)")
    print(f"  leaderboard: {root / 'leaderboard.md'}")
    print(f"  clips generated now: {result.generated}; cells scored now: {result.computed_cells}")
    # This invocation's skips, once per reason and on one line (metrics sharing a missing
    # backbone share it); the full text is in failures.jsonl.
    by_reason: dict[str, list[str]] = {}
    for metric, reason in result.skipped_metrics.items():
        by_reason.setdefault((reason.splitlines() or [""])[0], []).append(metric)
    for reason, names in by_reason.items():
        print(f"  skipped {'metric' if len(names) == 1 else 'metrics'} {', '.join(names)}: {reason}")
    if by_reason:
        print(f"    (full text in {root / 'failures.jsonl'}; `hcvg assets list` says which weights are missing and how to get them)")
    others = [f for f in result.new_failures if f.get("stage") != "metric-setup"]
    if others:
        print(f"  failures recorded now: {len(others)}" + (f" (the last {SHOWN_FAILURES}:)" if len(others) > SHOWN_FAILURES else ""))
    for failure in others[-SHOWN_FAILURES:]:
        where = " ".join(f"{k}={failure[k]}" for k in ("adapter", "split", "sample", "stage") if k in failure)
        first_line = (str(failure.get("error") or "").splitlines() or [""])[0]
        print(f"    - {where}: {first_line}")
    if len(others) > SHOWN_FAILURES:
        print(f"    ... and {len(others) - SHOWN_FAILURES} more failures (all in {root / 'failures.jsonl'})")
    print(
        f"{result.scored_cells} of {result.matrix_cells} cells scored; "
        f"{len(result.new_failures)} failures (see failures.jsonl)"
    )
    nothing_at_all = result.matrix_cells == 0 and result.new_failures
    return 0 if result.complete and not nothing_at_all else 1


# Everything the demo may download (the README lists it; tests/test_readme.py checks both).
DEMO_ASSETS = ("hand-landmarker",)


def _ensure_demo_assets() -> None:
    """The demo scores HS-Err: get the hand model once (a download, or a local build)."""
    from benchmark.asset_fetch import fetch_asset
    from hcvg.assets import AssetNotFoundError, resolve_asset

    for name in DEMO_ASSETS:
        try:
            resolve_asset(name)
        except AssetNotFoundError:
            print(f"Fetching {name} once (needed by the demo's hand metrics)...", file=sys.stderr)
            try:
                print(f"  -> {fetch_asset(name)}", file=sys.stderr)
            except AssetNotFoundError as err:  # the run still goes on; the metrics that need it are skipped
                print(f"  could not get it; the metrics that need it will be skipped: {err}", file=sys.stderr)


# The flags of `hcvg run` that are matrix keys (argparse dest = key).
MATRIX_FLAGS = ("out", "adapters", "splits", "metrics", "extractors", "scopes", "seeds", "batch_size", "previews", "generate_timeout")


class RunCommand(Subcommand):
    name = "run"
    help = "Run adapters × splits × seeds, score every clip, write summary and leaderboard."
    epilog = """examples:
  hcvg run --adapters static oracle --splits demo --out runs/demo
  hcvg run --adapters 'folder:root=outputs/my_model,label=my-model' --splits demo --out runs/mine
  hcvg run --adapters static --splits 'demo:num_samples=40' --metrics psnr ssim --seeds 0 1 2 --out runs/x
  hcvg run --adapters static --metrics 'hs-err:missing=penalize' fid --extractors 'inception-pool3:mode=clean' --out runs/y
  hcvg run --config matrix.yaml                 # the whole matrix in a YAML file
  hcvg run --config matrix.yaml --seeds 0 1     # the file, with its seeds replaced
  hcvg run ... --out runs/x --resume      # continue a killed run, or score what was added
  hcvg run ... --out runs/x --stage generate     # videos only (e.g. on the GPU that fits the model)
  hcvg run ... --out runs/x --stage score        # then metrics over the stored videos only
  hcvg run ... --shard 0/4 --out runs/x/shard-0  # one of 4 independent jobs; then `hcvg merge`
  hcvg run --stage score --out runs/x            # score with the matrix stored in runs/x
  hcvg run --check-reproduce runs/x              # re-score 3 samples per split of a finished run, compare
  hcvg run --check-reproduce runs/x --regenerate --check-samples 5   # generate them again too

Components (adapters, splits, metrics, extractors) take options as NAME:key=value,key=value;
values are checked against the component's constructor (true/false for booleans, a|b|c
for lists, none for None), and a misspelt option or value is an error naming what is
accepted. `label=` names the adapter in tables (so one adapter, e.g. `folder`, can
appear twice); a label may hold brackets with commas: label=handi[mask=stage1,hrl=on].

--config FILE reads a YAML matrix with the keys out, adapters, splits, metrics,
extractors, scopes, seeds, batch_size, previews, num_frames, size, bootstrap_resamples,
confidence and generate_timeout; a component there is a NAME:key=value string or a mapping
{name: folder, label: my-model, options: {root: outputs/my_model}}, and extractors map
a name to its options ({inception-pool3: {mode: clean}}). Flags given beside --config
replace the file's value of that key; the run is the same as the one the flags alone
describe. Failures (an adapter that errors, a corrupt video, a metric that raises) go
to RUN/failures.jsonl; the run goes on.

--resume computes exactly the cells (adapter, split, seed, sample, metric, scope) that
RUN/ledger.parquet does not mark finished: those of a killed run, of a metric whose
weights appeared since (`hcvg assets list`), of a metric, scope, seed, adapter or split
added to the matrix, or of a metric whose options or weights changed. Stored clips are
scored again, never regenerated; a run directory only grows. Reusing an adapter or
split label with other options is refused, naming each differing key (its clips were
made with the old ones). Without --resume, a directory that holds scores is refused,
and one that never scored anything (e.g. a `folder` that was empty) is started afresh
in place: fix the cause and run the same command again.

--stage generate stores the missing clips only: no metric backbone is built and nothing
is scored (a clip whose cells the ledger marks finished is not generated again).
--stage score scores stored clips only: no adapter is built or loaded, and a clip with
no stored video is a failure of that sample. Give both the same matrix; the directory
may move between machines (its paths are relative). --stage score continues the
directory without --resume; --stage all (the default) does both. With --stage score and
neither --config nor --adapters, the matrix stored in --out is used (flags given replace
its keys).

--check-reproduce RUN_DIR redoes a few samples of a finished run in a scratch folder
(--check-samples per split, chosen by a stable hash; features recomputed, none reused)
from the matrix in its run_config.json, and compares every sample-level score, each
metric's backbone key and the sha256 of every weight file used; --regenerate also
generates the clips again and compares their frames. Exit 0 when everything is equal
(within --tolerance, default 0: CPU runs are bit-identical), 1 otherwise; the full
report is written to the scratch folder (--check-dir, default a temporary one).

Weight files whose asset pins a sha256 are checked once on first use (the digest is
cached beside the asset cache) and every file used is recorded in run_config.json
under "weights". A file that does not match its pin stops the run with an error;
--allow-weight-mismatch NAME (or all) accepts it, and the run config records that.

--shard I/N (0-based) computes only the samples whose stable hash of (split label,
sample id) modulo N is I (benchmark/sharding.py documents the hash); the selection
does not depend on order or on resume. Give each shard its own --out and combine them
with `hcvg merge RUN_DIR... --out DIR` (examples/slurm_matrix.sh: a SLURM job array).

One process at a time writes a run directory: it holds RUN/.lock (pid, host, start
time) while it runs, and a second `hcvg run` on the same --out is refused, naming the
holder. A lock left by a killed process on this host is taken over on its own; one held
on another host (a shared file system) is never, since this host cannot see that
process: if it is gone, --break-lock takes the lock over.

Under torchrun or accelerate launch (WORLD_SIZE > 1 in the environment), e.g.
`torchrun --nproc-per-node 4 -m benchmark.cli.main run ... --out runs/x`, rank r runs
the matrix as shard r/N into runs/x/ranks/rank-r-of-N/ and rank 0 merges the ranks into
runs/x (the same scores and summary as one process; benchmark/distributed.py). A rank
silent for --dist-timeout seconds (no heartbeat: it died or hangs) stops the others
with an error naming it; --resume needs the same number of ranks.

exit status: 0 when every cell of the matrix (adapters × splits × seeds × samples ×
metrics × scopes) has a score; 1 when some have none (a failure, or a metric skipped
for missing weights), after the line "N of M cells scored; K failures (see
failures.jsonl)", K counting the failures this invocation recorded; 2 for a usage error."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        # Every matrix flag defaults to None ("not given"), so it overrides --config only when given.
        parser.add_argument("--config", type=Path, default=None, metavar="MATRIX.yaml", help="read the run matrix from a YAML file; flags given beside it override its keys")
        parser.add_argument("--adapters", nargs="+", default=None, metavar="ADAPTER", help="adapters to run (see `hcvg adapters list`); required unless in --config")
        parser.add_argument("--splits", nargs="+", default=None, metavar="SPLIT", help="splits to run on (default: demo)")
        parser.add_argument("--metrics", nargs="+", default=None, metavar="METRIC", help="metrics, with options as NAME:key=value (default: every registered metric)")
        parser.add_argument("--extractors", nargs="+", default=None, metavar="EXTRACTOR", help="feature-extractor options as NAME:key=value, e.g. inception-pool3:mode=clean (default: each extractor's defaults)")
        parser.add_argument("--scopes", nargs="+", default=None, choices=list(SCOPES), help="full frame and/or motion-area crop (default: both)")
        parser.add_argument("--seeds", nargs="+", type=int, default=None, help="one generation per seed (default: 0)")
        parser.add_argument("--out", type=Path, default=None, help="run directory; required unless in --config")
        parser.add_argument("--resume", action="store_true", help="continue an existing run directory")
        parser.add_argument("--break-lock", action="store_true", help="take over RUN/.lock even if its holder (on another host) may still run")
        parser.add_argument("--batch-size", type=int, default=None, help="largest batch passed to an adapter (default: 8)")
        parser.add_argument("--previews", action="store_true", default=None, help="also write MP4 previews of generated clips")
        parser.add_argument("--stage", choices=list(STAGES), default="all", help="generate (videos only), score (stored videos only) or all (default)")
        parser.add_argument("--shard", type=_shard, default=None, metavar="I/N", help="compute only shard I of N (0-based, e.g. 0/4); merge the shards with `hcvg merge`")
        parser.add_argument(
            "--generate-timeout", type=float, default=None, metavar="SECONDS",
            help="seconds one adapter batch may take; a batch past it is recorded as failed and that adapter is "
                 "abandoned for this invocation (default: wait forever)",
        )
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
        parser.add_argument(
            "--allow-weight-mismatch", nargs="+", default=None, metavar="ASSET",
            help="accept these assets' weight files (or 'all') although their sha256 differs from the pin; recorded in the run config",
        )
        check = parser.add_argument_group("reproducibility check (see above)")
        check.add_argument("--check-reproduce", type=Path, default=None, metavar="RUN_DIR", help="redo a few samples of a finished run and compare")
        check.add_argument("--check-samples", type=int, default=3, metavar="N", help="samples per split to redo (default: 3)")
        check.add_argument("--regenerate", action="store_true", help="also generate the clips again and compare their frames")
        check.add_argument("--tolerance", type=float, default=0.0, help="largest absolute score difference counted as equal (default: 0)")
        check.add_argument("--check-dir", type=Path, default=None, metavar="DIR", help="scratch folder of the check (default: a new temporary one)")
        parser.add_argument(
            "--dist-timeout", type=float, default=None, metavar="SECONDS",
            help="under torchrun / accelerate launch: seconds after which a silent rank counts as dead and the others stop, naming it (default: 1800)",
        )

    def config_from(self, args: argparse.Namespace) -> RunConfig:
        """The run: the --config file's matrix, with the flags given written over it."""
        data = read_matrix_file(args.config) if args.config is not None else {}
        if args.stage == "score" and args.config is None and args.adapters is None and args.out is not None:
            data = stored_matrix(args.out)
        flags = {key: getattr(args, key) for key in MATRIX_FLAGS}
        data.update({key: value for key, value in flags.items() if value is not None})
        return run_config_from_dict(data)

    def run(self, args: argparse.Namespace) -> int:
        if args.allow_weight_mismatch:
            # The environment, not an argument: worker ranks and adapters' own loaders see it too.
            os.environ[ALLOW_MISMATCH_ENV] = ",".join(args.allow_weight_mismatch)
        if args.check_reproduce is not None:
            return self.check_reproduce(args)
        # Checking the options loads every component's module (torch among them, seconds):
        # a directory that must be refused is refused before that.
        out = args.out if args.out is not None else (read_matrix_file(args.config).get("out") if args.config else None)
        if out is not None:
            refuse_existing_run(Path(out), args.resume or args.stage == "score")
        config = self.config_from(args)
        # Lazy: `hcvg run --help` must not import torch, which the process group needs.
        from benchmark.distributed import DEFAULT_TIMEOUT_S, DistributedContext, run_distributed

        context = DistributedContext.from_environ()
        if context is None:
            result = Runner(
                config, resume=args.resume, progress=not args.no_progress, stage=args.stage, shard=args.shard, break_lock=args.break_lock
            ).run()
            return _report(result)
        if args.shard is not None:
            raise InvalidInputError(
                f"--shard {args.shard} under a launcher of {context.world_size} processes: the ranks are the shards; "
                "give one or the other"
            )
        timeout = DEFAULT_TIMEOUT_S if args.dist_timeout is None else args.dist_timeout
        result = run_distributed(config, context, resume=args.resume, stage=args.stage, progress=not args.no_progress, timeout=timeout)
        if context.rank != 0:  # rank 0 reports for the group; the exit status is the same on every rank
            print(f"rank {context.rank}: done ({result.store.root})")
            return 0 if result.complete else 1
        return _report(result)


    def check_reproduce(self, args: argparse.Namespace) -> int:
        given = [f"--{key.replace('_', '-')}" for key in MATRIX_FLAGS if getattr(args, key) is not None]
        if given or args.config is not None or args.resume or args.shard is not None or args.stage != "all":
            raise InvalidInputError(
                f"--check-reproduce reads the matrix from {args.check_reproduce}/run_config.json; drop "
                f"{', '.join(given + (['--config'] if args.config else []) + (['--resume'] if args.resume else []) + (['--shard'] if args.shard else []) + (['--stage'] if args.stage != 'all' else []))}"
            )
        if args.check_samples < 1:
            raise InvalidInputError(f"--check-samples must be at least 1; got {args.check_samples}")
        from benchmark.reproduce_check import check_reproduce, format_report

        report = check_reproduce(
            args.check_reproduce, per_split=args.check_samples, regenerate=args.regenerate,
            tolerance=args.tolerance, work_dir=args.check_dir, progress=not args.no_progress,
        )
        print(format_report(report))
        return 0 if report.reproduced else 1


def stored_matrix(out: Path) -> dict:
    """The matrix a run directory was made with (its run_config.json), for `--stage score`."""
    from benchmark.run_store import RunStore

    store = RunStore(out)
    if not store.has_config():
        return {}  # the runner says that nothing there can be scored
    return dict(store.read_config().get("matrix", {}))


def _shard(text: str) -> Shard:
    """argparse type of --shard: a usage error (exit 2) naming the accepted form."""
    try:
        return Shard.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


class DemoCommand(Subcommand):
    name = "demo"
    help = "Run the built-in demo: static, oracle and the tiny HANDI on the generated demo split."
    description = """Generate the `demo` split (synthetic egocentric clips with drawn hands; nothing is
downloaded), run the `static` (lower bound) and `oracle` (upper bound) adapters and
`handi-tiny` (HANDI's two stages at 64², trained on other demo clips on a CPU; its weights
ship in the package) on it,
score them at scopes full and ma (fidelity, background, hand metrics), and write summary.parquet and
leaderboard.md. The numbers exercise the pipeline; they are not comparable with the
paper's, which come from real EPIC-KITCHENS / Ego4D clips and full-size trained models."""
    epilog = """examples:
  hcvg demo --out runs/demo
  hcvg demo --out runs/demo --num-samples 24 --resume
  hcvg demo --out runs/demo-full --metrics psnr hs-err fid fvd clip-gt clip-tx   # with weights on disk"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="run directory (default: runs/demo)")
        parser.add_argument("--num-samples", type=int, default=12, help="demo clips to generate (default: 12)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the demo generator (default: 0)")
        parser.add_argument("--adapters", nargs="+", default=DEFAULT_DEMO_ADAPTERS, help="adapters (default: static oracle handi-tiny)")
        parser.add_argument(
            "--metrics", nargs="+", default=DEFAULT_DEMO_METRICS,
            help="metrics (default: the ones needing no downloaded weights: " + " ".join(DEFAULT_DEMO_METRICS) + ")",
        )
        parser.add_argument("--resume", action="store_true", help="continue an existing demo run")
        parser.add_argument("--previews", action="store_true", help="also write MP4 previews")
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def run(self, args: argparse.Namespace) -> int:
        refuse_existing_run(args.out, args.resume)
        _ensure_demo_assets()
        config = run_config_from_dict({
            "out": args.out,
            "adapters": args.adapters,
            "splits": [ComponentSpec("demo", {"num_samples": args.num_samples, "seed": args.seed})],
            "metrics": args.metrics,
            "previews": args.previews,
        })  # fmt: skip
        result = Runner(config, resume=args.resume, progress=not args.no_progress).run()
        return _report(result)

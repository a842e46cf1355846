"""Entry point of the `hcvg` console script."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from importlib.metadata import PackageNotFoundError, version

from benchmark.cli.adapters import AdaptersCommand
from benchmark.cli.assets import AssetsCommand
from benchmark.cli.base import Subcommand
from benchmark.cli.bench import BenchCommand
from benchmark.cli.data import DataCommand
from benchmark.cli.export import ExportCommand
from benchmark.cli.leaderboard import LeaderboardCommand
from benchmark.cli.masks import MasksCommand
from benchmark.cli.merge import MergeCommand
from benchmark.cli.metrics import MetricsCommand
from benchmark.cli.run import DemoCommand, RunCommand
from benchmark.cli.tables import TablesCommand
from benchmark.cli.train import TrainCommand
from hcvg.errors import UserError
from hcvg.native_logs import native_logs_shown_within

COMMANDS: list[Subcommand] = [DemoCommand(), RunCommand(), AdaptersCommand(), MetricsCommand(), TablesCommand(), AssetsCommand(), MasksCommand(), DataCommand(), LeaderboardCommand(), ExportCommand(), TrainCommand(), MergeCommand(), BenchCommand()]


# The distribution that installs the `hcvg` console script (pyproject.toml [project] name).
DISTRIBUTION = "handi-bench"


def _package_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed: said, not guessed
        return f"unknown ({DISTRIBUTION} is not installed; `pip install -e .`)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hcvg",
        description="handi-bench: benchmark hand-centric text-and-image conditioned video generation.",
        epilog="Run `hcvg COMMAND --help` for a command's options. Start with `hcvg demo --out runs/demo`.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0,
        help="more logging (-v info and the native libraries' own log lines, -vv debug)",
    )
    parser.add_argument("--version", action="version", version=f"hcvg {_package_version()}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for command in COMMANDS:
        command.add_to(subparsers)
    return parser


class Terminated(BaseException):
    """SIGTERM (a SLURM time limit or preemption, `kill`, torchrun stopping its workers).

    Raised in the main thread by the signal handler, so every ``with``/``finally``
    on the way out runs: the run lock is released and no write is left half-done
    (writes are atomic; their temporaries are removed by the next run).
    """

    def __init__(self, signal_number: int):
        super().__init__(signal_number)
        self.signal_number = signal_number
        self.signal_name = signal.Signals(signal_number).name


@contextlib.contextmanager
def terminated_as_exit():
    """Turn SIGTERM into `Terminated` while the command runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signal_number, frame):
        raise Terminated(signal_number)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not hasattr(args, "command"):
        parser.print_help()
        return 2
    # MediaPipe's C++ log lines are held back unless asked for (hcvg.native_logs).
    try:
        with terminated_as_exit():
            if args.verbose:
                with native_logs_shown_within(True):
                    return args.command.run(args)
            return args.command.run(args)
    except Terminated as stop:
        print(f"hcvg: stopped by {stop.signal_name}; finished work is kept, continue with --resume", file=sys.stderr)
        return 128 + stop.signal_number
    except UserError as err:
        # Something the user can fix: one clear line, no traceback (-vv shows one). Any
        # other exception is a bug and keeps its traceback.
        if args.verbose >= 2:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

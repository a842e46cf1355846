"""The subcommand shape shared by every `hcvg` command."""

from __future__ import annotations

import abc
import argparse


class Subcommand(abc.ABC):
    """One `hcvg` subcommand: declares its arguments and runs with the parsed namespace."""

    name: str = ""
    help: str = ""
    description: str = ""
    epilog: str = ""

    def add_to(self, subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
        parser = subparsers.add_parser(
            self.name,
            help=self.help,
            description=self.description or self.help,
            epilog=self.epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        self.add_arguments(parser)
        parser.set_defaults(command=self)
        return parser

    @abc.abstractmethod
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the subcommand's arguments."""

    @abc.abstractmethod
    def run(self, args: argparse.Namespace) -> int:
        """Run; return the process exit code."""


def aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows of text cells as lines whose columns start at the same offset (the last column unpadded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip() for row in rows]

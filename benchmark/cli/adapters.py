"""`hcvg adapters list`: what adapters exist and what they need."""

from __future__ import annotations

import argparse
import dataclasses

from benchmark.cli.base import Subcommand


class AdaptersCommand(Subcommand):
    name = "adapters"
    help = "List registered adapters (built-in and from the `hcvg.adapters` entry points)."
    epilog = """examples:
  hcvg adapters list
  hcvg adapters list 'fold*'

Third-party packages register adapters with an entry point:
  [project.entry-points."hcvg.adapters"]
  my-model = "my_package.adapter:MyModelAdapter\""""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action", choices=["list"], help="what to do")
        parser.add_argument("pattern", nargs="?", default="*", help="shell-style name filter (default: *)")

    def run(self, args: argparse.Namespace) -> int:
        from adapters.registry import ADAPTERS

        for name in ADAPTERS.names(args.pattern):
            try:
                cls = ADAPTERS.get(name)
            except Exception as err:  # a broken third-party adapter must not hide the others
                print(f"{name:<16} (cannot be loaded: {type(err).__name__}: {err})")
                continue
            caps = dataclasses.asdict(cls.capabilities)
            needs = [k.removeprefix("needs_") for k, v in caps.items() if k.startswith("needs_") and v]
            summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            print(f"{name:<16} {summary}")
            print(f"{'':<16} needs: {', '.join(needs) or 'nothing'}; max batch {caps['max_batch_size']}; module {cls.__module__}")
        return 0

"""`hcvg adapters list`: what adapters exist and what they need."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from benchmark.cli.base import Subcommand

if TYPE_CHECKING:
    from hcvg.registry import Registry


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

    def __init__(self, registry: "Registry | None" = None):
        # None: the global adapter registry, imported when the command runs.
        self.registry = registry

    def run(self, args: argparse.Namespace) -> int:
        if self.registry is None:
            from adapters.registry import ADAPTERS as registry
        else:
            registry = self.registry
        for name in registry.names(args.pattern):
            try:
                cls = registry.get(name)
            except Exception as err:  # a broken third-party adapter must not hide the others
                print(f"{name:<16} (cannot be loaded: {type(err).__name__}: {err})")
                continue
            for line in describe_adapter(name, cls):
                print(line)
        return 0


def describe_adapter(name: str, cls: type) -> list[str]:
    """The lines `adapters list` prints for one adapter class (read from its declarations, nothing built)."""
    caps = dataclasses.asdict(cls.capabilities)
    needs = [k.removeprefix("needs_") for k, v in caps.items() if k.startswith("needs_") and v]
    summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
    lines = [
        f"{name:<16} {summary}",
        f"{'':<16} needs: {', '.join(needs) or 'nothing'}; max batch {caps['max_batch_size']}; module {cls.__module__}",
    ]
    native = _native_summary(getattr(cls, "native", None))
    if native:
        lines.append(f"{'':<16} native: {native}")
    return lines


def _native_summary(native) -> str:
    """``"480x720 (HxW), 49 frames, 8 fps, 50 steps, guidance 6.0"``: only the declared settings."""
    if native is None:
        return ""
    parts = []
    if native.size is not None:
        parts.append(f"{native.size[0]}x{native.size[1]} (HxW)")
    if native.frames is not None:
        parts.append(f"{native.frames} frames")
    if native.fps is not None:
        parts.append(f"{native.fps:g} fps")
    if native.steps is not None:
        parts.append(f"{native.steps} steps")
    if native.guidance is not None:
        parts.append(f"guidance {native.guidance:g}")
    return ", ".join(parts)

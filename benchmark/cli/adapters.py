"""`hcvg adapters list | check`: what adapters exist, what they need, and whether they conform."""

from __future__ import annotations

import argparse
import dataclasses
import time
import traceback
from typing import TYPE_CHECKING, Any, Callable

from benchmark.cli.base import Subcommand
from hcvg.errors import UserError

if TYPE_CHECKING:
    from hcvg.adapter import Adapter
    from hcvg.registry import Registry


class AdaptersCommand(Subcommand):
    name = "adapters"
    help = "List registered adapters (built-in and from the `hcvg.adapters` entry points), or check one."
    description = """list: each adapter's name, capabilities, native settings and whether its weights are
present (found locally as `hcvg assets list` finds them; nothing is loaded or downloaded).

check NAME: run the conformance kit (`adapters.testing.check_adapter`) on one adapter,
printing each lifecycle stage, then PASS or the rule that failed. Without --option it
checks the small instance the adapter's `for_tests()` builds (what the test suite
checks); with --option KEY=VALUE it builds the adapter with exactly those options
instead (its real weights, the device you name), as `hcvg run` would. Exit status: 0
PASS, 1 FAIL, 2 for an unknown name or a misspelt option."""
    epilog = """examples:
  hcvg adapters list
  hcvg adapters list 'handi*'
  hcvg adapters check static
  hcvg adapters check handi-tiny --option steps=2 --option device=cpu

Third-party packages register adapters with an entry point (docs/adding-an-adapter.md):
  [project.entry-points."hcvg.adapters"]
  my-model = "my_package.adapter:MyModelAdapter\""""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action", choices=["list", "check"], help="list adapters, or check one")
        parser.add_argument(
            "pattern", nargs="?", default=None, metavar="NAME|PATTERN",
            help="list: shell-style name filter (default: *); check: the adapter's name (required)",
        )
        parser.add_argument(
            "--option", action="append", default=[], metavar="KEY=VALUE", dest="options",
            help="check: build the adapter with these options instead of its for_tests() instance (repeatable)",
        )

    def __init__(self, registry: "Registry | None" = None):
        # None: the global adapter registry, imported when the command runs.
        self.registry = registry

    def _registry(self) -> "Registry":
        if self.registry is not None:
            return self.registry
        from adapters.registry import ADAPTERS

        return ADAPTERS

    def run(self, args: argparse.Namespace) -> int:
        if args.action == "check":
            if not args.pattern:
                raise UserError("`hcvg adapters check` needs an adapter name, e.g. `hcvg adapters check static` (`hcvg adapters list` names them)")
            return check_command(self._registry(), args.pattern, parse_options(getattr(args, "options", [])))
        if getattr(args, "options", None):
            raise UserError("--option is for `hcvg adapters check NAME`; `list` takes none")
        registry = self._registry()
        for name in registry.names(args.pattern or "*"):
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
    determinism = "deterministic" if caps.get("deterministic", True) else "not deterministic"
    lines = [
        f"{name:<16} {summary}",
        f"{'':<16} needs: {', '.join(needs) or 'nothing'}; max batch {caps['max_batch_size']}; {determinism}; module {cls.__module__}",
    ]
    native = _native_summary(getattr(cls, "native", None))
    if native:
        lines.append(f"{'':<16} native: {native}")
    lines.append(f"{'':<16} weights: {weights_status(cls)}")
    return lines


def weights_status(cls: type) -> str:
    """Whether the assets an adapter loads with its default options are on this machine.

    Each of ``cls.required_assets()`` is found with ``cls.locate_asset`` (local look-ups
    only: no download, no checksum of a large file, no model library imported).

    Returns:
        ``"none needed"``; ``"present (PATH; ...)"``; or ``"missing: NAME (hcvg assets
        fetch NAME); ..."`` naming every missing asset (the present ones follow).
    """
    from hcvg.assets import AssetNotFoundError

    names = tuple(cls.required_assets())
    if not names:
        return "none needed"
    found, missing = [], []
    for asset in names:
        try:
            found.append(str(cls.locate_asset(asset)))
        except AssetNotFoundError:
            missing.append(f"{asset} (hcvg assets fetch {asset})")
        except UserError as err:  # e.g. an asset name no package declares: say so, keep listing
            missing.append(f"{asset} ({err})")
    if missing:
        return "missing: " + "; ".join(missing) + (f"; present: {'; '.join(found)}" if found else "")
    return f"present ({'; '.join(found)})"


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


# -- check -----------------------------------------------------------------------------
def parse_options(items: list[str]) -> dict[str, str]:
    """``["steps=2", "device=cpu"]`` → ``{"steps": "2", "device": "cpu"}`` (coerced later, by the registry).

    Raises:
        UserError: On an item without ``=`` or with an empty key, or a key given twice.
    """
    options: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--option {item!r}: write KEY=VALUE, e.g. --option steps=2")
        if key in options:
            raise UserError(f"--option {key} is given twice ({options[key]!r} and {value!r}); give it once")
        options[key] = value
    return options


def check_command(registry: "Registry", name: str, options: dict[str, str]) -> int:
    """Build adapter ``name`` and run `check_adapter` on it, printing each stage.

    Args:
        registry: The adapter registry.
        name: The registered name.
        options: CLI option strings; empty = ``cls.for_tests()``.

    Returns:
        0 when the adapter passes, 1 when a rule fails or the adapter raises.

    Raises:
        UnknownNameError: If ``name`` is not registered (a usage error: exit 2).
        OptionError: If an option is not accepted or its value is not allowed.
    """
    from adapters.testing import check_adapter, conformance_samples

    try:
        cls = registry.get(name)
    except UserError:  # an unknown name, with close matches (exit 2)
        raise
    except Exception as err:  # e.g. an entry point naming a module that does not import
        print(f"FAIL {name}: the adapter cannot be imported: {type(err).__name__}: {err}")
        print(f"  at {_where(err)}")
        return 1
    print(f"check {name}: {cls.__module__}.{cls.__qualname__}")
    if options:
        built_with = f"{cls.__name__}({', '.join(f'{k}={v}' for k, v in options.items())})"
        build = lambda: registry.create(name, **options)  # noqa: E731
    else:
        built_with = f"{cls.__name__}.for_tests()"
        build = cls.for_tests
    try:
        adapter = build()
    except UserError:  # a misspelt option, a missing asset: the user's to fix (exit 2)
        raise
    except Exception as err:
        print(f"FAIL {name}: {built_with} raised {type(err).__name__}: {err}")
        print(f"  at {_where(err)}")
        return 1
    print(f"  built:    {built_with}")
    print(f"  weights:  {weights_status(cls)}" + ("" if not options else "  (default options; yours may differ)"))
    samples = conformance_samples()
    first = samples[0]
    print(f"  samples:  {len(samples)} conformance samples, {first.size[0]}x{first.size[1]}, L = {first.num_frames}")
    _trace_lifecycle(adapter)
    started = time.perf_counter()
    try:
        check_adapter(adapter, samples)
    except AssertionError as err:
        print(f"FAIL {name}: {err or 'an assertion failed'}")
        print(f"  at {_where(err)}")
        return 1
    except Exception as err:  # the adapter raised: the check could not finish, which is a failure too
        print(f"FAIL {name}: the adapter raised {type(err).__name__}: {err}")
        print(f"  at {_where(err)}")
        return 1
    print(f"PASS {name}: check_adapter passed ({time.perf_counter() - started:.1f} s)")
    return 0


def _trace_lifecycle(adapter: "Adapter") -> None:
    """Print each load / generate / close call the kit makes, with its duration.

    The wrappers are instance attributes: the class's own methods (which `check_adapter`
    inspects to see whether an adapter holds resources) stay as they are.
    """

    closed = [False]  # the kit calls generate() once after close(), expecting a RuntimeError

    def traced(method_name: str, describe: Callable[..., str]) -> None:
        method = getattr(adapter, method_name)

        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            label = f"{method_name}({describe(*args, **kwargs)})"
            try:
                result = method(*args, **kwargs)
            except Exception as err:
                expected = " (as required once closed)" if closed[0] and isinstance(err, RuntimeError) else ""
                print(f"  stage:    {label} raised {type(err).__name__}{expected} ({time.perf_counter() - started:.2f} s)")
                raise
            if method_name in ("load", "close"):
                closed[0] = method_name == "close"
            print(f"  stage:    {label} ok ({time.perf_counter() - started:.2f} s)")
            return result

        setattr(adapter, method_name, call)

    traced("load", lambda: "")
    traced("generate", lambda requests: f"{len(requests)} request{'s' if len(requests) != 1 else ''}")
    traced("close", lambda: "")


def _where(err: BaseException) -> str:
    """``file:line in function`` of the innermost frame of ``err``'s traceback."""
    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return "(no traceback)"
    last = frames[-1]
    return f"{last.filename}:{last.lineno} in {last.name}"

"""`hcvg bench speed`: seconds per clip of generation and evaluation, per optimization, as JSON."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Iterator

from benchmark.cli.base import Subcommand
from hcvg.errors import InvalidInputError

SIZE_CHOICES = ("auto", "tiny", "reduced", "full")
DEVICE_CHOICES = ("auto", "cpu", "cuda")


class BenchCommand(Subcommand):
    name = "bench"
    help = "Measure speed: generation (HANDI, AnimateAnything) and evaluation seconds per clip, per optimization."
    description = """speed: time each section (`benchmark.speed.SPEED_SECTIONS`: generation, evaluation) per
clip with published-size networks and random weights (speed does not depend on the
weights), under the reference path and each optimization, and report seconds per clip,
clips per second, peak device memory, model FLOPs per clip, the achieved fraction of the
device's dense bf16 peak (known GPUs), the speed-up against the reference measured in the
same run, and compile time apart.

--size full runs the published networks at the paper's settings (256², 15 + 1 frames, 25
DPM-Solver++ steps per stage, CFG): a GPU's job. --size reduced runs smaller networks a
CPU finishes in minutes: read its speed-ups, not its seconds. --size tiny is the tests'.

The JSON goes to --out FILE and/or RUN_DIR/speed.json (--run), beside the run's scores,
for the leaderboard site's speed-against-quality plot."""
    epilog = """examples:
  hcvg bench speed --size full --device cuda --run runs/ek100
  hcvg bench speed --size reduced --device cpu --only generation --out speed-cpu.json
  hcvg bench speed --size tiny --only generation --repeats 1 --out /tmp/speed.json

exit status: 0 when every section asked for was measured; 1 when one was not available
(named in the output and in the JSON's missing_sections); 2 on a usage error."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action", choices=["speed"], help="speed: the speed benchmark")
        parser.add_argument("--size", choices=SIZE_CHOICES, default="auto",
                            help="network size: full (published), reduced (CPU), tiny (tests); auto: full on CUDA, else reduced")
        parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="auto: cuda when available, else cpu")
        parser.add_argument("--only", default=None, metavar="SECTION", help="measure one section: generation or evaluation")
        parser.add_argument("--repeats", type=int, default=2, help="timed clips per configuration after a warm-up one (default 2)")
        parser.add_argument("--threads", type=int, default=None,
                            help="torch CPU threads (default: torch's own; on a shared machine 1 avoids threads waiting on each other)")
        parser.add_argument("--out", type=Path, default=None, help="write the JSON report to FILE")
        parser.add_argument("--run", type=Path, default=None, metavar="RUN_DIR", help="write RUN_DIR/speed.json beside the run")

    def run(self, args: argparse.Namespace) -> int:
        from benchmark.speed import SPEED_SECTIONS, SectionUnavailableError, section_measure
        from benchmark.speed.report import SPEED_FILE, format_rows, speed_document, write_speed_json

        if args.repeats < 1:
            raise InvalidInputError(f"--repeats must be >= 1; got {args.repeats}")
        if args.run is not None and not args.run.is_dir():
            raise InvalidInputError(f"--run {args.run}: no such run directory; pass the folder `hcvg run --out` wrote")
        sections = SPEED_SECTIONS.names()
        if args.only is not None:
            if args.only not in sections:
                raise InvalidInputError(f"--only {args.only!r}: choose one of {', '.join(sections)}")
            sections = [args.only]
        if args.threads is not None and args.threads < 1:
            raise InvalidInputError(f"--threads must be >= 1; got {args.threads}")
        device, device_name = _device(args.device)
        size = args.size if args.size != "auto" else ("full" if device == "cuda" else "reduced")

        rows, missing = [], {}
        with _torch_threads(args.threads):
            for section in sections:
                try:
                    measure = section_measure(section)
                except SectionUnavailableError as err:
                    if args.only is not None:
                        raise
                    missing[section] = str(err)
                    print(f"warning: {err}")
                    continue
                print(f"measuring {section} at size {size} on {device_name or device} ...", flush=True)
                rows.extend(measure(size, device, args.repeats))

        document = speed_document(rows, size=size, device=device, device_name=device_name, repeats=args.repeats,
                                  missing_sections=missing, environment=_environment())
        if rows:
            print("\n".join(format_rows(rows)))
        for target in [p for p in (args.out, args.run / SPEED_FILE if args.run else None) if p is not None]:
            write_speed_json(target, document)
            print(f"wrote {target}")
        return 1 if missing else 0


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` torch CPU threads (None: as set), restoring the count after."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _device(choice: str) -> tuple[str, str | None]:
    """The device to measure on and its name (the GPU's, for the peak table)."""
    import torch

    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda":
        if not torch.cuda.is_available():
            raise InvalidInputError("--device cuda, but torch sees no CUDA device; use --device cpu (and --size reduced)")
        return "cuda", torch.cuda.get_device_name()
    return "cpu", None


def _environment() -> dict[str, object]:
    import platform

    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cuda": torch.version.cuda, "processor": platform.processor() or platform.machine()}

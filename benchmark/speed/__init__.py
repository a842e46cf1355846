"""Speed benchmark sections: generation and evaluation, each measured per clip.

`SPEED_SECTIONS` is the one list of sections; each entry is a lazy
``"module:measure"`` string whose ``measure(size, device, repeats) -> list[dict]`` returns
rows of the `benchmark.speed.report.SpeedRow` schema. Nothing is imported until a
section is measured, so ``hcvg --help`` stays free of torch.
"""

from __future__ import annotations

from typing import Any, Callable

from hcvg.errors import UserError
from hcvg.registry import Registry

#: Sizes every section understands: ``full`` = the published architectures (a GPU's
#: job), ``reduced`` = smaller ones a CPU runs in minutes (ratios only), ``tiny`` = the
#: tests' (seconds; numbers mean nothing).
SIZES: tuple[str, ...] = ("tiny", "reduced", "full")
DEVICES: tuple[str, ...] = ("cpu", "cuda")

SPEED_SECTIONS: Registry[Callable[..., list[dict[str, Any]]]] = Registry("speed section")
SPEED_SECTIONS.register("generation", "benchmark.speed.generation:measure")
SPEED_SECTIONS.register("evaluation", "benchmark.speed.evaluation:measure")


class SectionUnavailableError(UserError, ModuleNotFoundError):
    """A registered section's module is not in this checkout; the message says which and what to do."""


def section_measure(name: str) -> Callable[..., list[dict[str, Any]]]:
    """The ``measure`` function of section ``name``.

    Raises:
        UnknownNameError: If ``name`` is not a section.
        SectionUnavailableError: If the section's own module is absent (a missing
            dependency inside it keeps its own error).
    """
    try:
        return SPEED_SECTIONS.get(name)
    except ModuleNotFoundError as err:
        # Only a section module of this package being absent is "unavailable"; anything
        # else (a dependency the module imports) is a real error and keeps its message.
        if not (err.name or "").startswith(__name__ + "."):
            raise
        path = err.name.replace(".", "/") + ".py"
        raise SectionUnavailableError(
            f"the {name!r} speed section's module {err.name} ({path}) is not in this checkout (it is written "
            f"separately); run `hcvg bench speed --only generation`, or add {path} with "
            f"measure(size, device, repeats) returning benchmark.speed.report.SpeedRow dicts"
        ) from err

"""What a run is: the matrix of adapters × splits × seeds × metrics × scopes."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hcvg import FRAME_SIZE, NUM_FRAMES
from hcvg.errors import InvalidInputError

# Packages whose versions change numbers; recorded with every run.
RECORDED_PACKAGES = (
    "handi-bench", "numpy", "torch", "torchvision", "torchmetrics", "av", "opencv-python-headless",
    "opencv-contrib-python", "mediapipe", "pandas", "pyarrow", "diffusers", "transformers",
    "open-clip-torch", "clean-fid",
)


@dataclass(frozen=True)
class ComponentSpec:
    """A registered component (adapter or split) with its options.

    Attributes:
        name: Registered name.
        options: Keyword options for its constructor (parsed at the CLI edge).
        label: Name used in the run store and tables; lets one adapter class appear
            twice (e.g. two `folder` adapters for two models).
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.name)

    @classmethod
    def parse(cls, text: str) -> "ComponentSpec":
        """Parse ``NAME[:key=value,key=value]``; the option ``label`` sets the label.

        Raises:
            ValueError: On an option without ``=``.
        """
        name, _, rest = text.partition(":")
        options: dict[str, Any] = {}
        for item in filter(None, rest.split(",")):
            key, sep, value = item.partition("=")
            if not sep:
                raise InvalidInputError(f"{text!r}: option {item!r} must look like key=value")
            options[key.strip()] = value.strip()
        label = options.pop("label", "")
        return cls(name=name.strip(), options=options, label=label)


@dataclass
class RunConfig:
    """One benchmark run.

    Attributes:
        out: The run directory.
        adapters: Models to run.
        splits: Sample sets to run them on.
        metrics: Registered metric names.
        scopes: "full" and/or "ma" (motion-area crop).
        seeds: One generation per seed and sample.
        num_frames: L, generated frames per clip (paper: 15).
        size: Frame side in pixels (paper: 256).
        batch_size: Upper bound on an adapter's batch (its own maximum also applies).
        previews: Also write lossy MP4 previews of generated clips.
        bootstrap_resamples: Resamples for the confidence intervals.
        confidence: CI coverage.
    """

    out: Path
    adapters: list[ComponentSpec]
    splits: list[ComponentSpec]
    metrics: list[str]
    scopes: list[str] = field(default_factory=lambda: ["full", "ma"])
    seeds: list[int] = field(default_factory=lambda: [0])
    num_frames: int = NUM_FRAMES
    size: int = FRAME_SIZE
    batch_size: int = 8
    previews: bool = False
    bootstrap_resamples: int = 1000
    confidence: float = 0.95

    def matrix(self) -> dict[str, Any]:
        """The fields that define the results; a resumed run must match them."""
        data = dataclasses.asdict(self)
        for key in ("out", "previews", "batch_size"):
            data.pop(key)
        return data


def environment() -> dict[str, Any]:
    """Versions, platform and git commit, for the run config."""
    versions = {}
    for package in RECORDED_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "git": git_state(Path(__file__).resolve().parent.parent),
        "command": sys.argv,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def git_state(path: Path) -> dict[str, Any]:
    """The commit of the source tree at ``path`` and whether it has local changes."""

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, timeout=10, check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}

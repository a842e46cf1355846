"""What a run is: the matrix of adapters × splits × seeds × metrics × scopes."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib
import importlib.metadata
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from hcvg import FRAME_SIZE, NUM_FRAMES
from hcvg.errors import InvalidInputError
from hcvg.sample import check_path_component
from metrics.base import SCOPES, Scope

# Packages whose versions change numbers; recorded with every run.
RECORDED_PACKAGES = (
    "handi-bench", "numpy", "torch", "torchvision", "torchmetrics", "av", "opencv-python-headless",
    "opencv-contrib-python", "mediapipe", "pandas", "pyarrow", "diffusers", "transformers",
    "open-clip-torch", "clean-fid", "huggingface-hub",
)
# Modules whose imported copy is recorded (version, file, the distribution that installed
# it): what ran, which can differ from what pip lists when two distributions install the
# same package (opencv-python-headless and opencv-contrib-python both install cv2).
IMPORTED_MODULES = (
    "numpy", "torch", "torchvision", "torchmetrics", "cv2", "mediapipe", "av", "pandas", "pyarrow",
    "transformers", "diffusers", "open_clip", "cleanfid", "huggingface_hub",
)
# Imported here if no one has yet: every run uses them. The others are recorded when
# the run has imported them by the time its config is written (metrics build their
# backbones before that), so a run that needs no transformers does not pay its import.
ALWAYS_IMPORTED = ("numpy", "torch", "cv2")


@dataclass(frozen=True)
class ComponentSpec:
    """A registered component (adapter, split or metric) with its options.

    Attributes:
        name: Registered name.
        options: Keyword options for its constructor: CLI strings or YAML values, coerced
            to the constructor's annotated types by the registry (`hcvg.options`).
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

        Options are split on commas outside brackets, so a label may carry its own
        options: ``handi:mask=stage1,label=handi[mask=stage1,hrl=on]``.

        Raises:
            ValueError: On an option without ``=``, an empty name, or unbalanced brackets.
        """
        name, _, rest = text.partition(":")
        if not name.strip():
            raise ValueError(f"{text!r}: a component must start with its registered name (NAME:key=value,...)")
        options: dict[str, Any] = {}
        for item in _split_outside_brackets(rest, text):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise InvalidInputError(f"{text!r}: option {item!r} must look like key=value")
            options[key.strip()] = value.strip()
        label = options.pop("label", "")
        return cls(name=name.strip(), options=options, label=label)

    @classmethod
    def of(cls, value: "str | ComponentSpec | Mapping[str, Any]") -> "ComponentSpec":
        """A spec from any of its written forms.

        Args:
            value: A spec; a string ``NAME:key=value,...`` (see `parse`); or a mapping
                ``{name: NAME, label: LABEL, options: {key: value}}`` (label and
                options optional), as written in a matrix file.

        Raises:
            ValueError: On a mapping without ``name`` or with other keys, or text
                `parse` refuses.
        """
        if isinstance(value, ComponentSpec):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - SPEC_KEYS)
            if unknown or "name" not in value:
                problem = f"unknown key(s) {unknown}" if unknown else "no 'name'"
                raise ValueError(f"component {dict(value)!r}: {problem}; a component mapping takes {sorted(SPEC_KEYS)}")
            options = value.get("options") or {}
            if not isinstance(options, Mapping):
                raise ValueError(f"component {value['name']!r}: options must be a mapping of key: value, got {options!r}")
            return cls(name=str(value["name"]), options=dict(options), label=str(value.get("label") or ""))
        raise ValueError(f"a component is NAME:key=value,... or a mapping with a name, got {value!r}")


SPEC_KEYS = frozenset({"name", "label", "options"})  # the keys of a component mapping


def _split_outside_brackets(text: str, whole: str) -> list[str]:
    """``text`` split on the commas that are not inside ``[...]``; empty items dropped."""
    items, current, depth = [], [], 0
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"{whole!r}: ']' without a matching '['")
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth:
        raise ValueError(f"{whole!r}: '[' without a matching ']'")
    items.append("".join(current))
    return [item for item in items if item.strip()]


@dataclass
class RunConfig:
    """One benchmark run.

    Components may be given as `ComponentSpec`, as ``NAME:key=value`` strings or as
    mappings (`ComponentSpec.of`); they are stored as specs.

    Attributes:
        out: The run directory.
        adapters: Models to run.
        splits: Sample sets to run them on.
        metrics: Metrics with their options (``hs-err:missing=penalize``); each at most once.
        extractors: Feature-extractor name → constructor options (e.g.
            ``{"inception-pool3": {"mode": "clean"}}``); extractors not named here are
            built with their defaults.
        scopes: "full" and/or "ma" (motion-area crop).
        seeds: One generation per seed and sample.
        num_frames: L, generated frames per clip (paper: 15).
        size: Frame side in pixels (paper: 256).
        batch_size: Upper bound on an adapter's batch (its own maximum also applies).
        previews: Also write lossy MP4 previews of generated clips.
        bootstrap_resamples: Resamples for the confidence intervals.
        confidence: CI coverage.
        generate_timeout: Seconds one ``adapter.generate`` call (one batch) may take;
            None waits forever. A batch past it fails, every sample of it recorded, and
            the adapter is abandoned for the rest of the invocation (see
            `benchmark.runner.Runner`); ``--resume`` retries what it did not generate.
    """

    out: Path
    adapters: list[ComponentSpec]
    splits: list[ComponentSpec]
    metrics: list[ComponentSpec]
    extractors: dict[str, dict[str, Any]] = field(default_factory=dict)
    scopes: list[Scope] = field(default_factory=lambda: list(SCOPES))
    seeds: list[int] = field(default_factory=lambda: [0])
    num_frames: int = NUM_FRAMES
    size: int = FRAME_SIZE
    batch_size: int = 8
    previews: bool = False
    bootstrap_resamples: int = 1000
    confidence: float = 0.95
    generate_timeout: float | None = None

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.adapters = [ComponentSpec.of(a) for a in self.adapters]
        self.splits = [ComponentSpec.of(s) for s in self.splits]
        # Labels name folders of the run store: refused here, before anything is written.
        for spec in self.adapters:
            check_path_component(spec.label, "adapter label")
        for spec in self.splits:
            check_path_component(spec.label, "split label")
        if self.generate_timeout is not None and not self.generate_timeout > 0:
            raise InvalidInputError(f"generate_timeout must be > 0 seconds (or None to wait forever); got {self.generate_timeout}")
        self.metrics = [ComponentSpec.of(m) for m in self.metrics]
        self.extractors = {str(name): dict(options or {}) for name, options in self.extractors.items()}
        names = [m.name for m in self.metrics]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"metric(s) {repeated} are listed more than once; scores are keyed by metric name")
        relabelled = [m.label for m in self.metrics if m.label != m.name]
        if relabelled:
            raise ValueError(f"metrics cannot take a label (got {relabelled}); they are named by their registered name")

    def matrix(self) -> dict[str, Any]:
        """The fields that define the results; a resumed run must match them."""
        data = dataclasses.asdict(self)
        for key in ("out", "previews", "batch_size", "generate_timeout"):
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
        "imported": imported_modules(),
        "git": git_state(Path(__file__).resolve().parent.parent),
        "command": sys.argv,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def imported_modules(names: tuple[str, ...] = IMPORTED_MODULES) -> dict[str, dict[str, Any]]:
    """The copies of ``names`` this process runs: version, file and providing distribution.

    `ALWAYS_IMPORTED` modules are imported if needed; the others are recorded only if
    already imported. A module that fails to import is recorded with its error.

    Returns:
        Module name -> ``{"version", "file", "distribution", "distribution_version"}``,
        plus ``"also_installed_by"`` (other distributions that installed the same
        top-level package, whose files were overwritten) where there are any.
    """
    recorded: dict[str, dict[str, Any]] = {}
    claims = importlib.metadata.packages_distributions()  # one scan of site-packages for all
    for name in names:
        module = sys.modules.get(name)
        if module is None and name in ALWAYS_IMPORTED:
            try:
                module = importlib.import_module(name)
            except Exception as err:  # recorded: a run config says what was missing
                recorded[name] = {"error": f"{type(err).__name__}: {err}"}
                continue
        if module is None:
            continue
        entry: dict[str, Any] = {"version": getattr(module, "__version__", None), "file": getattr(module, "__file__", None)}
        entry.update(providing_distribution(name, claims))
        recorded[name] = entry
    return recorded


def providing_distribution(top_level: str, claims: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    """Which installed distribution's files a top-level package's folder holds.

    When several distributions install the same package (mediapipe's
    opencv-contrib-python beside opencv-python-headless), the files on disk are those
    of the last one installed: the one whose RECORD matches the package's native
    binaries (size, then sha256).

    Args:
        top_level: An importable top-level package name, e.g. ``"cv2"``.
        claims: `importlib.metadata.packages_distributions()`, if already computed.

    Returns:
        ``{"distribution", "distribution_version"}`` (None when no distribution claims
        the package or none matches), and ``"also_installed_by"`` for the others.
    """
    if claims is None:
        claims = importlib.metadata.packages_distributions()
    candidates = list(dict.fromkeys(claims.get(top_level, [])))
    if len(candidates) > 1:
        matching = [c for c in candidates if _record_matches_disk(c, top_level)]
        chosen = matching[0] if len(matching) == 1 else None
    else:
        chosen = candidates[0] if candidates else None
    result: dict[str, Any] = {
        "distribution": chosen,
        "distribution_version": importlib.metadata.version(chosen) if chosen else None,
    }
    others = [c for c in candidates if c != chosen]
    if others:
        result["also_installed_by"] = {c: importlib.metadata.version(c) for c in others}
    return result


def _record_matches_disk(distribution: str, top_level: str) -> bool:
    """Whether the native binaries ``distribution`` installed under ``top_level`` are the files on disk."""
    files = importlib.metadata.distribution(distribution).files or []
    binaries = [f for f in files if f.parts and f.parts[0] == top_level and f.suffix in (".so", ".pyd") and f.hash]
    if not binaries:
        return False
    for record in binaries:
        path = Path(record.locate())
        if not path.is_file() or (record.size is not None and path.stat().st_size != record.size):
            return False
    for record in binaries:
        digest = hashlib.new(record.hash.mode)
        with open(record.locate(), "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        if base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode() != record.hash.value:
            return False
    return True


def git_state(path: Path) -> dict[str, Any]:
    """The commit of the source tree at ``path`` and whether it has local changes."""

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, timeout=10, check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}

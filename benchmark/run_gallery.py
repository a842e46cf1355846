"""Gather runs' clips for the leaderboard gallery: one sample across all runs and adapters.

A gallery sample is a split label and a sample id; every run that stored clips of it
contributes each adapter's clip, keyed by run and adapter (`ClipSource`), so runs that
share adapter labels and sample ids stay apart. Runs are named by `distinct_run_names`.

The ground truth (context, target clip, motion area) comes from rebuilding each split
from the spec each run recorded: ``run_config.json`` → ``matrix`` → ``splits``, a list of
``{name, options, label}`` that `benchmark.splits.load_split` takes back as it is
(``hands=DIR`` included). Runs whose ground truth for a sample is the same (same clip,
context, motion area and prompt) share one block; runs that disagree (the same label
over different data) get one block each, with a note saying so. Where rebuilding fails
here (the dataset or its clip cache is not on this machine), the gallery says so:
`collect_gallery` returns the reason, logs it as a warning, and the page shows "ground
truth unavailable: <reason>". The `oracle` adapter's clips are always shown as the
oracle's, never in place of the ground truth. Flow is `metrics.optical_flow.dense_flow`,
the same as the motion metrics use.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.run_store import CONFIG_FILE
from benchmark.splits import Split, load_split
from hcvg.errors import UserError
from hcvg.video_io import VideoReadError, read_video
from leaderboards.site.gallery import ClipSource, GallerySample
from metrics.optical_flow import dense_flow

logger = logging.getLogger(__name__)

# What rebuilding a split or loading one of its samples may meet on another machine: an
# absent dataset, cache or annotation folder, a missing extra, a corrupt or unreadable
# file. Anything else is a bug and propagates.
_UNAVAILABLE = (UserError, VideoReadError, OSError)


@dataclass(frozen=True)
class MissingGroundTruth:
    """Why the gallery shows no ground truth for a run's split, or for one of its samples.

    Attributes:
        run: The run's name on the site.
        split: Split label in the run.
        reason: What went wrong, e.g. the missing cache and the command that makes it.
        sample_id: The sample concerned; None when the whole split could not be rebuilt.
    """

    run: str
    split: str
    reason: str
    sample_id: str | None = None

    def __str__(self) -> str:
        where = f"run {self.run}, split {self.split}" + (f", sample {self.sample_id}" if self.sample_id else "")
        return f"ground truth unavailable for {where}: {self.reason}"


@dataclass
class RunGallery:
    """The gallery's samples and what could not be shown.

    Attributes:
        samples: One `GallerySample` per shown block (a sample id over the runs that agree on it).
        missing: Each run's split (or sample) whose ground truth could not be loaded here.
    """

    samples: list[GallerySample] = field(default_factory=list)
    missing: list[MissingGroundTruth] = field(default_factory=list)


def distinct_run_names(run_dirs: Sequence[Path]) -> list[str]:
    """A short, distinct name per run directory: its name, or as many parent folders as tell it apart.

    Args:
        run_dirs: The runs, in order.

    Returns:
        Each run's fewest trailing path parts that no other run ends with:
        ``runs/a/demo``, ``runs/b/demo`` and ``runs/c`` become ``a/demo``, ``b/demo``
        and ``c``.

    Raises:
        UserError: If one directory is listed twice.
    """
    resolved = [path.resolve() for path in run_dirs]
    seen: dict[Path, Path] = {}
    for given, path in zip(run_dirs, resolved):
        if path in seen:
            raise UserError(f"--runs lists the run {path} twice ({seen[path]} and {given}); give each run once")
        seen[path] = given

    def tail(path: Path, depth: int) -> str:
        return "/".join(path.parts[-depth:])

    names = []
    for path in resolved:
        # The fewest trailing parts that no other run ends with; names of different
        # depths can never be equal, so the names are distinct.
        depth = 1
        while depth < len(path.parts) and any(tail(other, depth) == tail(path, depth) for other in resolved if other != path):
            depth += 1
        names.append(tail(path, depth))
    return names


def recorded_split_specs(run_dir: Path) -> dict[str, dict[str, Any]]:
    """The run's split specs by label, from ``run_config.json`` → ``matrix`` → ``splits`` ({} without one)."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        return {}
    matrix = json.loads(path.read_text(encoding="utf-8")).get("matrix") or {}
    return {spec["label"] or spec["name"]: spec for spec in matrix.get("splits", [])}


def rebuild_split(spec: dict[str, Any]) -> Split:
    """Build the split a run recorded, with the options it was run with.

    Args:
        spec: One entry of the run config's ``matrix.splits``: ``{"name", "options", "label"}``.

    Raises:
        UserError: If it cannot be built here (e.g. `InputNotFoundError` for an absent
            clip cache, naming the command that prepares it).
    """
    # JSON turned tuple options into lists; the split registry coerces them back.
    options = dict(spec.get("options") or {})
    return load_split(spec["name"], **options)


def _read(path: Path) -> np.ndarray | None:
    try:
        return read_video(path)
    except VideoReadError as err:
        logger.warning("gallery skips a clip: %s", err)
        return None


def _flow(clip: np.ndarray | None) -> np.ndarray | None:
    if clip is None or len(clip) < 2:
        return None
    return dense_flow(clip)


def _reason(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if not isinstance(err, UserError) else str(err)


@dataclass
class _RunClips:
    """One run's stored clips of one split: the seed shown and each sample's clip files by adapter."""

    name: str
    run_dir: Path
    seed: int
    clips: dict[str, dict[str, Path]]  # sample id → adapter → file


@dataclass
class _Truth:
    """A sample's ground truth as one run's split gives it, or why there is none."""

    sample: Any = None  # hcvg Sample
    reason: str = ""

    def key(self, fallback: str) -> str:
        """Equal for runs whose ground truth is the same data (or, without any, the same failing spec)."""
        if self.sample is None:
            return "unavailable:" + fallback
        digest = hashlib.sha256()
        for array in (self.sample.context, self.sample.target, self.sample.motion_area):
            if array is not None:
                digest.update(repr((array.shape, str(array.dtype))).encode())
                digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(self.sample.prompt.encode())
        return digest.hexdigest()


def _stored_clips(name: str, run_dir: Path, seed: int | None) -> dict[str, _RunClips]:
    """The run's clips by split label, at ``seed`` or the split's lowest stored seed."""
    videos_root = run_dir / "videos"
    if not videos_root.is_dir():
        return {}
    by_split: dict[str, _RunClips] = {}
    adapters = sorted(p for p in videos_root.iterdir() if p.is_dir())
    labels = sorted({p.name for adapter in adapters for p in adapter.iterdir() if p.is_dir()})
    for label in labels:
        seeds = sorted({int(p.name.removeprefix("seed-")) for adapter in adapters for p in (adapter / label).glob("seed-*")})
        if not seeds:
            continue
        chosen = seed if seed is not None else seeds[0]
        clips: dict[str, dict[str, Path]] = {}
        for adapter in adapters:
            for path in sorted((adapter / label / f"seed-{chosen}").glob("*.mkv")):
                clips.setdefault(path.stem, {})[adapter.name] = path
        if clips:
            by_split[label] = _RunClips(name, run_dir, chosen, clips)
    return by_split


class _GroundTruths:
    """Rebuilds each distinct recorded split once and loads each of its samples once, over all runs."""

    def __init__(self, gallery: RunGallery) -> None:
        self._gallery = gallery
        self._splits: dict[str, tuple[Split | None, str]] = {}
        self._samples: dict[tuple[str, str], _Truth] = {}
        self._specs: dict[Path, dict[str, dict[str, Any]]] = {}

    def spec_key(self, run: _RunClips, label: str) -> str:
        spec = self._spec(run, label)
        return "run:" + str(run.run_dir) if spec is None else json.dumps({"name": spec["name"], "options": spec.get("options") or {}}, sort_keys=True, default=str)

    def _spec(self, run: _RunClips, label: str) -> dict[str, Any] | None:
        if run.run_dir not in self._specs:
            self._specs[run.run_dir] = recorded_split_specs(run.run_dir)
        return self._specs[run.run_dir].get(label)

    def split(self, run: _RunClips, label: str) -> tuple[Split | None, str]:
        """The rebuilt split, or None and why not (reported once per run and split)."""
        key = self.spec_key(run, label)
        spec = self._spec(run, label)
        if key not in self._splits:
            if spec is None:
                where = run.run_dir / CONFIG_FILE
                why = "is missing" if not where.is_file() else "records no split with this label in matrix.splits"
                self._splits[key] = (None, f"{where} {why}, so the split cannot be rebuilt")
            else:
                try:
                    self._splits[key] = (rebuild_split(spec), "")
                except _UNAVAILABLE as err:
                    reason = f"cannot rebuild {spec['name']} with options {spec.get('options') or {}} here: {_reason(err)}"
                    self._splits[key] = (None, reason)
        split, reason = self._splits[key]
        if reason:
            self._report(MissingGroundTruth(run.name, label, reason))
        return split, reason

    def sample(self, run: _RunClips, label: str, split: Split | None, split_reason: str, sample_id: str) -> _Truth:
        key = (self.spec_key(run, label), sample_id)
        if key not in self._samples:
            self._samples[key] = self._load(split, split_reason, sample_id)
        truth = self._samples[key]
        if split is not None and truth.reason:
            self._report(MissingGroundTruth(run.name, label, truth.reason, sample_id))
        return truth

    @staticmethod
    def _load(split: Split | None, split_reason: str, sample_id: str) -> _Truth:
        if split is None:
            return _Truth(reason=split_reason)
        if sample_id not in set(split.ids()):
            return _Truth(reason="the split as rebuilt here has no sample with this id")
        try:
            return _Truth(sample=split.get(sample_id))
        except _UNAVAILABLE as err:
            return _Truth(reason=f"cannot load it: {_reason(err)}")

    def _report(self, missing: MissingGroundTruth) -> None:
        if missing not in self._gallery.missing:
            logger.warning("gallery: %s", missing)
            self._gallery.missing.append(missing)


def collect_gallery(runs: Mapping[str, Path], max_samples: int = 3, seed: int | None = None) -> RunGallery:
    """Up to ``max_samples`` samples of every split label, each across all runs and adapters.

    Args:
        runs: Run name (as the site shows it; see `distinct_run_names`) → run directory.
        max_samples: Samples per split label. The ids that most runs stored come first
            (then in id order), so the gallery compares runs wherever they overlap.
        seed: Generation seed to show (default: each run's lowest stored for the split).

    Returns:
        The samples (none when no run stored videos) in split and id order, and, for every
        run's split or sample whose ground truth could not be loaded here, the reason
        (also logged as a warning).
    """
    gallery = RunGallery()
    truths = _GroundTruths(gallery)
    stored = {name: _stored_clips(name, Path(run_dir), seed) for name, run_dir in runs.items()}
    labels = sorted({label for by_split in stored.values() for label in by_split})
    for label in labels:
        present = [by_split[label] for by_split in stored.values() if label in by_split]
        splits = {run.name: truths.split(run, label) for run in present}
        coverage: dict[str, int] = {}
        for run in present:
            for sample_id in run.clips:
                coverage[sample_id] = coverage.get(sample_id, 0) + 1
        shown = sorted(sorted(coverage, key=lambda i: (-coverage[i], i))[:max_samples])
        for sample_id in shown:
            gallery.samples += _blocks(label, sample_id, [run for run in present if sample_id in run.clips], splits, truths)
    return gallery


def _blocks(label: str, sample_id: str, runs: list[_RunClips], splits: dict[str, tuple[Split | None, str]], truths: _GroundTruths) -> list[GallerySample]:
    """One block per group of runs that agree on the sample's ground truth."""
    blocks: dict[str, GallerySample] = {}
    for run in runs:
        split, reason = splits[run.name]
        truth = truths.sample(run, label, split, reason, sample_id)
        key = truth.key(truths.spec_key(run, label))
        if key not in blocks:
            block = GallerySample(split=label, sample_id=sample_id, ground_truth_unavailable=truth.reason)
            if truth.sample is not None:
                found = truth.sample
                block.prompt, block.context, block.ground_truth = found.prompt, found.context, found.target
                block.motion_area, block.ground_truth_source = found.motion_area, "split"
                block.ground_truth_flow = _flow(found.target)
            blocks[key] = block
        block = blocks[key]
        block.runs.append(run.name)
        for adapter, path in run.clips[sample_id].items():
            clip = _read(path)
            if clip is not None:
                source = ClipSource(run.name, adapter, run.seed)
                block.videos[source] = clip
                flow = _flow(clip)
                if flow is not None:
                    block.flows[source] = flow
    if len(blocks) > 1:
        groups = "; ".join(", ".join(block.runs) for block in blocks.values())
        for block in blocks.values():
            block.note = (
                f"The runs' split {label!r} does not hold the same ground truth for {sample_id} in all of them "
                f"(groups: {groups}), so each group is shown as its own block."
            )
    return list(blocks.values())

"""The matrix runner: adapters × splits × seeds → videos → scores → summary, cell by cell.

A **cell** is one (adapter, split, seed, sample, metric, scope). The run store's ledger
records every finished cell with the metric's key (a hash of its config and of its
feature extractors' config and weights), so ``resume=True`` computes exactly the cells
that are missing: a metric whose weights appeared since, a metric or scope added to
the matrix, or a metric whose weights changed — from the stored videos, which are
never regenerated. A run directory only grows: resuming with fewer adapters or metrics
keeps what was finished.

Per adapter the runner loads the model once, generates every clip it still lacks,
closes it, then scores, so a large model and the metric backbones do not share the
device's memory (DESIGN.md, "Adapter lifecycle").

**Stages.** ``stage="generate"`` stores the missing clips and nothing else (no metric
backbone is built, nothing is scored); ``stage="score"`` scores stored clips and never
builds an adapter (a clip with no stored video is a failure of that sample). The same
run directory goes generate → score, on another machine if need be: every path in it is
relative to it. ``stage="all"`` (the default) does both.

**Shards.** With ``shard=Shard(i, n)`` the runner takes only the samples that
`benchmark.sharding.sample_bucket` puts in shard ``i``; each shard writes its own run
directory, and `benchmark.run_merge` combines them. Every finalize also writes the sum
state of each distribution metric (``distribution_states/``) so a merge reduces FID/FVD
exactly as one run would.

Bad inputs fail their sample, not the run: each is a line of ``failures.jsonl`` naming
adapter, split, seed and sample, and every other sample is scored. A sample id that
would leave the run directory (``../x``) is refused before anything is written; a
sample whose prompt is empty or blank is refused before generation (no model can
condition on it, and CLIP_Tx would score nothing). With ``generate_timeout``, a batch
that does not return in time fails, each of its samples recorded; since a thread
cannot be stopped from within the process, the hung call is left running in a daemon
thread and its adapter is abandoned: its remaining batches of this invocation are
recorded as not generated (``--resume`` retries them) and the run goes on with the next
adapter. A full disk stops the run with `hcvg.atomic.DiskFullError` ("disk full while
writing X; ... --resume"); every write is atomic, so nothing is half-written.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from adapters.registry import ADAPTERS, create_adapter
from benchmark.device_timer import DeviceTimer
from benchmark.feature_cache import FeatureCache
from benchmark.run_config import ComponentSpec, RunConfig, environment
from benchmark.run_lock import RunLock
from benchmark.run_store import CONFIG_FILE, RunExistsError, RunStore
from benchmark.scoring import Cell, Scorer, score_distributions
from benchmark.sharding import Shard
from benchmark.splits import SPLITS, Split, load_split
from benchmark.summary import summarize
from hcvg.adapter import Adapter, AdapterOutputError, GenerationRequest, SampleFailure, make_request, validate_video
from hcvg.asset_pins import used_assets
from hcvg.atomic import atomic_write_bytes, is_disk_full
from hcvg.errors import InvalidInputError, UserError
from hcvg.registry import Registry
from hcvg.sample import Sample, UnsafeNameError, check_path_component
from hcvg.video_io import VideoReadError, read_video, write_video_lossless, write_video_preview
from leaderboards.markdown import render_leaderboard
from metrics.base import Metric
from metrics.features.registry import FEATURES
from metrics.registry import METRICS
from metrics.scope import SCOPE_CONFIG

logger = logging.getLogger(__name__)

SCORE_KEYS = ["adapter", "split", "seed", "sample_id", "metric", "scope"]
CLIP_KEYS = ["adapter", "split", "seed", "sample_id"]
# Cells with these outcomes are finished; "error" cells are retried on resume.
FINISHED = ("ok", "undefined")
STAGES = ("all", "generate", "score")
DISTRIBUTION_STATES = "distribution_states"  # RUN/<this>/<metric>/<adapter>/<split>/seed-<k>/<scope>.npz


class RunConfigMismatch(UserError, RuntimeError):
    """`--resume` was asked for a run directory whose stored clips were made differently."""


class NothingToScoreError(UserError, FileNotFoundError):
    """`--stage score` was asked for a directory that holds no run."""


class GenerateTimeout(RuntimeError):
    """An ``adapter.generate`` call did not return within ``RunConfig.generate_timeout`` seconds."""


@dataclass
class RunResult:
    """What a run produced (also on disk in the run directory)."""

    store: RunStore
    scores: pd.DataFrame
    summary: pd.DataFrame
    failures: list[dict[str, Any]]
    generated: int = 0  # clips generated by this invocation (not read back)
    leaderboard: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    computed_cells: int = 0  # cells scored by this invocation
    matrix_cells: int = 0  # cells of this invocation's matrix (adapters × splits × seeds × samples × metrics × scopes)
    scored_cells: int = 0  # of those, the ones finished in the ledger under their metric's current key
    new_failures: list[dict[str, Any]] = field(default_factory=list)  # recorded by this invocation
    skipped_metrics: dict[str, str] = field(default_factory=dict)  # metric -> why it was not run (missing weights)
    stage: str = "all"  # "generate": matrix_cells / scored_cells count clips and stored videos instead

    @property
    def complete(self) -> bool:
        """Every cell of the matrix has a score (or a recorded undefined value); for ``generate``, every clip a video."""
        return self.scored_cells == self.matrix_cells


class Runner:
    """Runs a `RunConfig`.

    Args:
        config: The run.
        resume: Continue an existing run directory instead of refusing it.
        adapters: Adapter registry (tests pass a fresh one).
        metrics: Metric registry.
        splits: Split registry.
        features: Feature-extractor registry.
        progress: Show a progress bar.
        stage: "all", "generate" (clips only) or "score" (stored clips only); see the module docstring.
        shard: Compute only this shard's samples (None: all of them).
        break_lock: Take over the run directory's lock even if its holder cannot be
            proved gone (it ran on another host); see `benchmark.run_lock`.
        samples: Per split label, the only sample ids to run (None: every sample of the
            split, or of the shard); `benchmark.reproduce_check` re-runs a few this way.

    Raises:
        InvalidInputError: On an unknown ``stage``.
    """

    def __init__(
        self,
        config: RunConfig,
        resume: bool = False,
        adapters: Registry = ADAPTERS,
        metrics: Registry = METRICS,
        splits: Registry = SPLITS,
        features: Registry = FEATURES,
        progress: bool = True,
        stage: str = "all",
        shard: Shard | None = None,
        break_lock: bool = False,
        samples: Mapping[str, Sequence[str]] | None = None,
    ):
        if stage not in STAGES:
            raise InvalidInputError(f"stage {stage!r} is not one of {', '.join(STAGES)}")
        self.stage = stage
        self.shard = shard
        self.break_lock = break_lock
        self.only_samples = {label: set(ids) for label, ids in samples.items()} if samples is not None else None
        self.config = config
        self.resume = resume
        self.adapter_registry = adapters
        self.metric_registry = metrics
        self.split_registry = splits
        self.feature_registry = features
        self.progress = progress
        self.store = RunStore(config.out)
        self.generated = 0
        self.computed_cells = 0
        self.skipped: dict[str, str] = {}  # metric -> reason, this invocation
        self.scorer: Scorer | None = None
        self.metric_keys: dict[str, str] = {}
        self.matrix: set[tuple] = set()  # every (adapter, split, seed, sample, metric, scope) of this invocation
        self._failures_before = 0
        self._hung: set[str] = set()  # adapter labels abandoned after a generate timeout

    # -- setup -----------------------------------------------------------------
    def _prepare_store(self, metrics: list[Metric], splits: dict[str, Split], selected: dict[str, list[str]], totals: dict[str, int]) -> None:
        matrix = _jsonable(self.config.matrix())
        previous: dict[str, Any] = {}
        if self.store.has_config():  # a resume: `_check_existing` allowed it
            previous = self.store.read_config()
            matrix = merge_matrices(previous.get("matrix", {}), matrix)
        described = {m.name: {"class": type(m).__qualname__, "higher_is_better": m.higher_is_better, "level": m.level,
                              "key": self.metric_keys.get(m.name), **m.config()} for m in metrics}
        if self.stage == "generate":
            # No extractor was built, so no metric key is known: a key recorded by an
            # earlier scoring invocation is kept, never replaced by None.
            described = {name: entry for name, entry in described.items() if name not in previous.get("metrics", {})}
        config = {
            "matrix": matrix,
            "metrics": {**previous.get("metrics", {}), **described},
            "scope": SCOPE_CONFIG.to_dict(),
            "features": {**previous.get("features", {}), **self.scorer.extractor_configs()},
            "splits": {**previous.get("splits", {}), **{label: split.describe() for label, split in splits.items()}},
            "adapters": previous.get("adapters", {}),
            "video_storage": {"codec": "ffv1", "container": "matroska", "pix_fmt": "bgr0", "lossless": True},
            "environment": environment(),
            "stages": [*previous.get("stages", []), self.stage],  # every invocation's stage, in order
            # Not part of the matrix (a resume may change it), but a batch can move an
            # adapter's last bits (batch-dependent kernels): the reproduce check reuses it.
            "runner": {"batch_size": self.config.batch_size},
            "weights": previous.get("weights", {}),
            "shard": self.shard.to_dict() if self.shard else None,
            # Per split: the samples this run directory owns and the split's size, so that a
            # merge can say which samples no shard ran without loading the split.
            "selection": {
                **previous.get("selection", {}),
                **{label: {"samples": selected[label], "split_size": totals[label]} for label in splits},
            },
        }
        if previous:
            config["resumed_from"] = previous.get("environment")
        self.store.write_config(config)

    def _record_adapter(self, label: str, adapter: Adapter) -> None:
        """Write the adapter's `describe()` (options, native settings, fitting) into the run config."""
        config = self.store.read_config()
        config.setdefault("adapters", {})[label] = _jsonable(adapter.describe())
        self.store.write_config(config)

    def _build_adapter(self, spec: ComponentSpec) -> Adapter | None:
        try:
            adapter = create_adapter(spec.name, registry=self.adapter_registry, **spec.options)
        except Exception as err:  # recorded; the other adapters run
            self.store.record_failure(adapter=spec.label, stage="load", error=f"{type(err).__name__}: {err}")
            logger.error("adapter %s could not be built: %s", spec.label, err)
            return None
        self._record_adapter(spec.label, adapter)
        return adapter

    def _check_existing(self) -> None:
        """Refuse or allow an existing run directory, before anything slow is built.

        A directory that holds a run is continued only with ``resume``, and only if its
        stored clips were made with this matrix's adapters and splits. One whose ledger
        has no finished cell (it never scored anything: an empty folder, a wrong root)
        is started afresh in place when ``resume`` is not asked for.

        Raises:
            RunExistsError: The directory holds scores and ``resume`` is not set.
            RunConfigMismatch: ``resume`` is set and the stored clips were made differently.
        """
        if not self.store.has_config():
            if self.stage == "score":
                raise NothingToScoreError(
                    f"{self.store.root} holds no run to score; run `hcvg run --stage generate --out {self.store.root} ...` "
                    "first (or --stage all to do both)"
                )
            return
        stored_config = self.store.read_config()
        stored_shard = stored_config.get("shard")
        now_shard = self.shard.to_dict() if self.shard else None
        if (self.resume or self.stage == "score") and stored_shard != now_shard:
            def shown(shard: dict[str, Any] | None) -> str:
                return "none (every sample)" if not shard else f"{shard['index']}/{shard['count']}"

            raise RunConfigMismatch(
                f"{self.store.root} was run as shard {shown(stored_shard)}, not {shown(now_shard)}: a shard keeps its "
                "samples for good; pass the same --shard, or choose another --out"
            )
        if not self.resume and self.stage != "score":
            refuse_existing_run(self.store.root, resume=False)
            if "generate" in stored_config.get("stages", []):
                # Clips of a generate stage are hours of GPU time: never cleared as "scored nothing".
                raise RunExistsError(
                    f"{self.store.root} holds clips of `--stage generate`; pass --resume to continue it, "
                    "--stage score to score it, or choose another --out"
                )
            logger.warning("%s holds a run that scored nothing; starting it afresh", self.store.root)
            _clear_run(self.store)
            return
        scored = run_holds_scores(self.store.root)
        stored = stored_config.get("matrix", {})
        hint = "" if scored else " (it scored nothing yet: run without --resume to start it afresh)"
        check_resumable(stored, _jsonable(self.config.matrix()), self.store.root, hint=hint)

    # -- main loop ---------------------------------------------------------------
    def run(self) -> RunResult:
        """Compute every missing cell of the matrix and write scores, summary and leaderboard.

        Raises:
            RunLockedError: Another process is writing the run directory.
        """
        with RunLock.acquire(self.store.root, break_lock=self.break_lock):
            return self._run()

    def _run(self) -> RunResult:
        cfg = self.config
        self._check_existing()
        self._failures_before = len(self.store.read_failures())
        for spec in cfg.adapters:  # unknown names are user errors: fail before any work
            if spec.name not in self.adapter_registry:
                self.adapter_registry.get(spec.name)  # raises, suggesting close names
        metrics = [self.metric_registry.create(spec.name, **spec.options) for spec in cfg.metrics]
        splits = {spec.label: load_split(spec.name, registry=self.split_registry, **spec.options) for spec in cfg.splits}
        self.scorer = Scorer(
            metrics, cfg.scopes, self.feature_registry, FeatureCache(self.store.root / "features"), cfg.extractors
        )
        # The generate stage builds no backbone, so it knows no metric key: it reads the
        # ledger under any key (a clip whose cells are all finished needs no video).
        dropped = self.scorer.drop_unavailable() if self.stage != "generate" else {}
        self.metric_keys = self.scorer.metric_keys() if self.stage != "generate" else {}
        split_ids = {label: list(split.ids()) for label, split in splits.items()}
        selected = {
            label: [
                i for i in ids
                if (self.shard is None or self.shard.owns(label, i))
                and (self.only_samples is None or i in self.only_samples.get(label, ()))
            ]
            for label, ids in split_ids.items()
        }
        self._prepare_store(metrics, splits, selected, {label: len(ids) for label, ids in split_ids.items()})
        self.store.remove_temporaries()
        recorded = {(f.get("metric"), f.get("error")) for f in self.store.read_failures() if f.get("stage") == "metric-setup"}
        for metric, reason in dropped.items():
            # Missing weights skip the metric, not the run; its cells stay missing, so a
            # resume once the weights are there computes them. Said once, short, in the
            # report (RunResult.skipped_metrics); the full text is logged at -v and recorded once
            # per run directory and reason, so resuming does not pile up copies.
            logger.info("skipping metric %s: %s", metric, reason)
            if (metric, f"skipped: {reason}") not in recorded:
                self.store.record_failure(metric=metric, stage="metric-setup", error=f"skipped: {reason}")
        self.skipped = dict(dropped)

        finished = self._finished_cells()
        if self.stage == "generate":
            finished = {cell[:-1] for cell in finished}
        matrix_cells = [(m.name, scope) for m in self.scorer.all_metrics for scope in cfg.scopes]
        # Every metric asked for counts, skipped ones too: a cell without a score is a cell not done.
        every_cell = [(m.name, scope) for m in metrics for scope in cfg.scopes]
        work: dict[tuple[str, str, int], dict[str, set[Cell]]] = {}
        for spec in cfg.adapters:
            for split_label in splits:
                for seed in cfg.seeds:
                    todo = {}
                    for sample_id in self._safe_ids(selected[split_label], spec.label, split_label, seed):
                        self.matrix.update((spec.label, split_label, seed, sample_id, m, sc) for m, sc in every_cell)
                        missing = {
                            (metric, scope) for metric, scope in matrix_cells
                            if (spec.label, split_label, seed, sample_id, metric, scope,
                                *([self.metric_keys[metric]] if self.stage != "generate" else [])) not in finished
                        }
                        if missing or not matrix_cells:
                            todo[sample_id] = missing
                    work[(spec.label, split_label, seed)] = todo

        total = sum(len(todo) for todo in work.values())
        bar = tqdm(total=total, desc=f"hcvg run ({self.stage})", unit="clip", disable=not self.progress, dynamic_ncols=True)
        for spec in cfg.adapters:
            jobs = [(split_label, seed, work[(spec.label, split_label, seed)]) for split_label in splits for seed in cfg.seeds]
            if self.stage != "score":
                self._generate_missing(spec, splits, jobs, bar)
            if self.stage == "generate":
                bar.update(sum(len(todo) for _, _, todo in jobs))
                continue
            for split_label, seed, todo in jobs:
                bar.set_postfix_str(f"score {spec.label} / {split_label} / seed {seed}")
                for batch in _batches(list(todo), cfg.batch_size):
                    self._score_batch(spec.label, splits[split_label], split_label, seed, {i: todo[i] for i in batch})
                    bar.update(len(batch))
        bar.close()
        if self.stage == "generate":
            return self._finalize_generated(splits, selected)
        return self._finalize()

    def _safe_ids(self, sample_ids: list[str], label: str, split_label: str, seed: int) -> list[str]:
        """The ids that can name a file; the others are recorded and left out, before any write."""
        ids = []
        for sample_id in sample_ids:
            try:
                ids.append(check_path_component(sample_id, "sample id"))
            except UnsafeNameError as err:
                self.store.record_failure(adapter=label, split=split_label, seed=seed, sample=str(sample_id),
                                          stage="sample-id", error=f"split {split_label!r}: {err}")
        return ids

    # -- generation --------------------------------------------------------------
    def _generate_missing(self, spec: ComponentSpec, splits: dict[str, Split], jobs: list, bar: tqdm) -> None:
        """Generate and store every clip of ``spec`` that has missing cells but no stored video.

        The adapter is built and loaded only if something must be generated, and closed
        before scoring starts.
        """
        missing = [
            (split_label, seed, sample_id)
            for split_label, seed, todo in jobs
            for sample_id in todo
            if not self._has_readable_video(spec.label, split_label, seed, sample_id)
        ]
        if not missing:
            return
        adapter = self._build_adapter(spec)
        if adapter is None:
            return
        try:
            adapter.load()
        except Exception as err:  # e.g. out of memory: recorded, the other adapters run
            self.store.record_failure(adapter=spec.label, stage="load", error=f"{type(err).__name__}: {err}")
            logger.error("adapter %s could not be loaded: %s", spec.label, err)
            return
        try:
            batch_size = max(1, min(self.config.batch_size, adapter.capabilities.max_batch_size))
            for split_label in splits:
                for seed in self.config.seeds:
                    ids = [i for s, k, i in missing if s == split_label and k == seed]
                    bar.set_postfix_str(f"generate {spec.label} / {split_label} / seed {seed}")
                    for batch in _batches(ids, batch_size):
                        if spec.label in self._hung:
                            self._record_abandoned(spec.label, split_label, seed, batch)
                            continue
                        samples = self._load_samples(splits[split_label], spec.label, split_label, seed, batch, "generate")
                        self._generate_batch(adapter, spec.label, split_label, seed, samples)
            self._record_adapter(spec.label, adapter)  # again: with the notes it made while generating (`folder` conversions)
        finally:
            self._close(adapter, spec.label)

    def _close(self, adapter: Adapter, label: str) -> None:
        """Close the adapter.

        An adapter whose `generate` hung is still in use by that call's thread: it is
        closed under the same deadline, so a close that blocks on it cannot hang the run.
        """
        if label not in self._hung:
            adapter.close()
            return
        try:
            _call_with_deadline(adapter.close, self.config.generate_timeout)
        except Exception as err:  # the thread still holds it: said, and the run goes on
            logger.error("adapter %s could not be closed after its timeout: %s", label, err)

    def _record_abandoned(self, label: str, split_label: str, seed: int, ids: list[str]) -> None:
        for sample_id in ids:
            self.store.record_failure(
                adapter=label, split=split_label, seed=seed, sample=sample_id, stage="generate",
                error=f"GenerateTimeout: adapter {label!r}, sample {sample_id!r}: not generated, since the adapter timed out "
                      f"on an earlier batch of this run (--generate-timeout {self.config.generate_timeout:g} s) and was "
                      "abandoned; run again with --resume to retry",
            )

    def _has_readable_video(self, label: str, split_label: str, seed: int, sample_id: str) -> bool:
        path = self.store.video_path(label, split_label, seed, sample_id)
        if not path.is_file():
            return False
        try:
            read_video(path, max_frames=1)
        except VideoReadError as err:
            logger.warning("regenerating unreadable stored video: %s", err)
            return False
        return True

    def _load_samples(self, split: Split, label: str, split_label: str, seed: int, ids: list[str], stage: str) -> list[Sample]:
        samples = []
        for sample_id in ids:
            try:
                samples.append(split.get(sample_id))
            except Exception as err:  # recorded; the other samples go on
                if is_disk_full(err):
                    raise  # a clip cache that cannot be written: the run stops cleanly, resumable
                self.store.record_failure(
                    adapter=label, split=split_label, seed=seed, sample=sample_id, stage=f"load-sample ({stage})",
                    error=f"{type(err).__name__}: {err}",
                )
        return samples

    def _generate_batch(self, adapter: Adapter, label: str, split_label: str, seed: int, samples: list[Sample]) -> None:
        for sample in [s for s in samples if not s.prompt.strip()]:
            self.store.record_failure(
                adapter=label, split=split_label, seed=seed, sample=sample.id, stage="generate",
                error=f"EmptyPrompt: adapter {label!r}, sample {sample.id!r}: the sample's prompt is {sample.prompt!r}, "
                      f"so there is no action text to condition on or score against; fix split {split_label!r}'s annotation",
            )
        samples = [s for s in samples if s.prompt.strip()]
        if not samples:
            return
        requests = [make_request(sample, adapter.capabilities, seed, self.config.num_frames) for sample in samples]
        timing_rows, finished = [], []
        for sample, request, (video, timing, error, batch) in zip(samples, requests, self._generate(adapter, label, requests)):
            if error is None and isinstance(video, SampleFailure):
                error = f"SampleFailure: adapter {label!r}, sample {sample.id!r}: {video}"
            elif error is None:
                try:
                    video = validate_video(video, request, label)
                except AdapterOutputError as err:
                    error = f"{type(err).__name__}: {err}"
            if error is not None:
                self.store.record_failure(adapter=label, split=split_label, seed=seed, sample=sample.id, stage="generate", error=error)
                continue
            finished.append((sample.id, video))
            timing_rows.append({"adapter": label, "split": split_label, "seed": seed, "sample_id": sample.id, "stage": "generate",
                                **timing, "batch_size": batch})
        # Timings before videos: a kill in between regenerates the clips, whose new rows
        # replace these; the other order would keep a clip and lose its time for good.
        self.store.append_rows("timings", timing_rows)
        for sample_id, video in finished:
            write_video_lossless(self.store.video_path(label, split_label, seed, sample_id), video)
            if self.config.previews:
                write_video_preview(self.store.preview_path(label, split_label, seed, sample_id), video)
            self.generated += 1

    def _generate(
        self, adapter: Adapter, label: str, requests: list[GenerationRequest]
    ) -> list[tuple[Any, dict[str, Any] | None, str | None, int]]:
        """Generate a batch; if it fails, retry one by one so one bad sample fails alone.

        A model generates a batch at once, so a clip's time is its batch's time divided
        by the batch's clips; the batch size is returned beside it (and recorded).

        Returns:
            Per request: (video or None, timing columns per clip (`DeviceTimer.per_clip`:
            wall seconds, CUDA-synchronized seconds, peak device bytes) or None, error
            message or None, clips in the call that made it).
        """
        timer = DeviceTimer()
        try:
            with timer:
                videos = _call_with_deadline(lambda: adapter.generate(requests), self.config.generate_timeout)
            if len(videos) != len(requests):
                raise AdapterOutputError(f"adapter {label!r} returned {len(videos)} videos for {len(requests)} requests")
            per_clip = timer.per_clip(len(requests))
            return [(video, per_clip, None, len(requests)) for video in videos]
        except GenerateTimeout as err:  # not retried one by one: each would hang again
            self._hung.add(label)
            logger.error("adapter %s: %s; abandoning it for this run", label, err)
            ids = ", ".join(repr(r.sample_id) for r in requests)
            return [(None, None, f"GenerateTimeout: adapter {label!r}, sample {r.sample_id!r}: {err} (batch {ids}); "
                     "the adapter was abandoned for this run", len(requests)) for r in requests]
        except Exception as batch_error:  # each request is retried alone; its own failure is recorded
            if is_disk_full(batch_error):
                raise  # not the adapter's fault: the run stops cleanly (see `hcvg.atomic.DiskFullError`)
            if len(requests) == 1:
                where = f"adapter {label!r}, sample {requests[0].sample_id!r}"
                return [(None, None, f"{type(batch_error).__name__}: {where}: {batch_error}", 1)]
            logger.warning("adapter %s failed on a batch (%s); retrying one by one", label, batch_error)
        return [self._generate(adapter, label, [request])[0] for request in requests]

    # -- scoring -----------------------------------------------------------------
    def _score_batch(self, label: str, split: Split, split_label: str, seed: int, todo: dict[str, set[Cell]]) -> None:
        """Score the missing cells of a batch of stored clips; scores, then the ledger, are appended."""
        wanted = {i: cells for i, cells in todo.items() if cells}
        if not wanted:
            return
        videos: dict[str, np.ndarray] = {}
        for sample_id in wanted:
            path = self.store.video_path(label, split_label, seed, sample_id)
            if not path.is_file():
                if self.stage == "score":  # nothing generates it in this stage: said per sample
                    self.store.record_failure(
                        adapter=label, split=split_label, seed=seed, sample=sample_id, stage="score",
                        error=f"no stored video {path.relative_to(self.store.root)}; generate it first "
                              "(`hcvg run --stage generate --resume` on this run directory)",
                    )
                continue  # generation failed (recorded) or the adapter could not be built
            try:
                videos[sample_id] = read_video(path)
            except VideoReadError as err:
                self.store.record_failure(adapter=label, split=split_label, seed=seed, sample=sample_id, stage="read-video", error=str(err))
        if not videos:
            return
        samples = self._load_samples(split, label, split_label, seed, list(videos), "score")
        start = time.perf_counter()
        scored = self.scorer.score(samples, videos, label, split_label, seed, wanted)
        per_clip = (time.perf_counter() - start) / max(1, len(samples))
        key = {"adapter": label, "split": split_label, "seed": seed}
        score_rows = [{**key, "sample_id": sample_id, **row} for sample_id, rows in scored.rows.items() for row in rows]
        ledger_rows = [{**key, **cell, "metric_key": self.metric_keys[cell["metric"]]} for cell in scored.ledger]
        timing_rows = [{**key, "sample_id": s.id, "stage": "score", "seconds": per_clip} for s in samples]
        for error in scored.errors:
            sample_id = error.pop("sample_id")
            self.store.record_failure(adapter=label, split=split_label, seed=seed, sample=sample_id, stage="metric", **error)
        # Scores and timings first, then the ledger that marks their cells finished: a kill
        # before the ledger redoes those cells, and consolidation keeps one row per cell.
        self.store.append_rows("scores", score_rows)
        self.store.append_rows("timings", timing_rows)
        self.store.append_rows("ledger", ledger_rows)
        self.computed_cells += len(ledger_rows)

    # -- results -----------------------------------------------------------------
    def _finished_cells(self) -> set[tuple]:
        done = _finished_ledger(self.store)
        if done.empty:
            return set()
        return {
            (a, s, int(k), i, m, sc, key)
            for a, s, k, i, m, sc, key in done[[*SCORE_KEYS, "metric_key"]].itertuples(index=False)
        }

    def _current_cells(self, ledger: pd.DataFrame) -> pd.DataFrame:
        """Finished ledger rows under each metric's current key (the latest one it was scored with).

        A metric scored in this invocation uses this invocation's key; a metric that was
        not (dropped now, or not in this matrix) keeps the key of its latest cells, so
        a summary never mixes values computed with two configurations.
        """
        if ledger.empty:
            return ledger
        ledger = ledger.drop_duplicates(subset=SCORE_KEYS, keep="last")
        latest = ledger.groupby("metric")["metric_key"].last().to_dict()
        latest.update(self.metric_keys)
        current = ledger["metric_key"] == ledger["metric"].map(latest)
        return ledger[current & ledger["status"].isin(FINISHED)]

    def _distribution_scores(self, cells: pd.DataFrame) -> pd.DataFrame:
        """FID/FVD-style metrics per adapter, split, seed and scope, from cached features."""
        metrics = self.scorer.distribution_metrics if self.scorer else []
        if not metrics or cells.empty:
            return pd.DataFrame()
        rows = []
        names = [m.name for m in metrics]
        ok = cells[cells["metric"].isin(names) & (cells["status"] == "ok")]
        for (adapter, split, seed, scope), group in ok.groupby(["adapter", "split", "seed", "scope"], sort=True):
            ids = {m: sorted(g["sample_id"]) for m, g in group.groupby("metric")}
            for metric, row in zip(metrics, score_distributions(metrics, self.scorer.cache, ids, scope, adapter, split, int(seed))):
                if row["metric"] not in ids:
                    continue
                # score_distributions leaves each metric holding this group's sums: kept for merges.
                self._save_distribution_state(metric, adapter, split, int(seed), scope)
                rows.append({"adapter": adapter, "split": split, "seed": int(seed), **row})
                if row["status"] == "error" or row["note"]:
                    # A set-level value that failed or left clips out is worth a failure line.
                    self.store.record_failure(adapter=adapter, split=split, seed=int(seed), metric=row["metric"],
                                              scope=scope, stage="distribution", error=row["note"])
        return pd.DataFrame(rows)

    def _keep_stored_distribution(self, distribution: pd.DataFrame) -> pd.DataFrame:
        """Add the stored rows of distribution metrics this invocation does not compute.

        They were reduced by an earlier invocation (whose metric may be unavailable or
        outside this matrix now); like every finished cell, they are kept.
        """
        path = self.store.root / "distribution.parquet"
        if not path.is_file():
            return distribution
        stored = pd.read_parquet(path)
        if stored.empty:
            return distribution
        computed = {m.name for m in self.scorer.distribution_metrics} if self.scorer else set()
        kept = stored[~stored["metric"].isin(computed)]
        return pd.concat([distribution, kept], ignore_index=True) if not kept.empty else distribution

    def _finalize_generated(self, splits: dict[str, Split], selected: dict[str, list[str]]) -> RunResult:
        """End of ``stage="generate"``: timings consolidated; no score, summary or leaderboard is touched.

        The result counts clips, not cells: ``matrix_cells`` is the clips of this
        invocation's matrix and ``scored_cells`` those with a stored video.
        """
        timing_keys = [*CLIP_KEYS, "stage"]
        self.store.consolidate("timings", timing_keys, unique=timing_keys)
        self._record_weights()
        clips = [
            (spec.label, label, seed, sample_id)
            for spec in self.config.adapters for label in splits for seed in self.config.seeds for sample_id in selected[label]
        ]
        stored = sum(self.store.video_path(*clip).is_file() for clip in clips)
        failures = self.store.read_failures()
        return RunResult(
            self.store, pd.DataFrame(), pd.DataFrame(), failures, self.generated, matrix_cells=len(clips),
            scored_cells=stored, new_failures=failures[self._failures_before:], stage="generate",
        )

    def _save_distribution_state(self, metric: Metric, adapter: str, split: str, seed: int, scope: str) -> None:
        """Write a distribution metric's sum state (`FrechetFeatureDistance.state`) for `benchmark.run_merge`.

        A metric that keeps no such state writes nothing; a merge of shards then refuses it
        by name.
        """
        state = getattr(metric, "state", None)
        if not callable(state):
            return
        buffer = io.BytesIO()
        np.savez(buffer, **state())
        atomic_write_bytes(distribution_state_path(self.store.root, metric.name, adapter, split, seed, scope), buffer.getvalue())

    def finalize(self) -> RunResult:
        """Consolidate tables, compute the summary and write the leaderboard.

        Raises:
            RunLockedError: Another process is writing the run directory.
        """
        with RunLock.acquire(self.store.root, break_lock=self.break_lock):
            return self._finalize()

    def _record_weights(self) -> None:
        """Write every asset this process resolved (path, sha256, pin status) into the run config.

        An asset whose digest changed since an earlier invocation of this run directory
        is a failure record (its earlier clips were made with other bytes) and both
        digests are kept.
        """
        used = used_assets()
        if not used or not self.store.has_config():
            return
        config = self.store.read_config()
        weights = config.setdefault("weights", {})
        for name, use in sorted(used.items()):
            before = weights.get(name)
            if before is not None and before.get("sha256") != use.get("sha256"):
                self.store.record_failure(
                    stage="weights", asset=name,
                    error=f"{name} changed between invocations of this run: sha256 {before.get('sha256')} "
                          f"({before.get('path')}) then {use.get('sha256')} ({use.get('path')})",
                )
                use = {**use, "earlier": [*before.get("earlier", []), {k: before.get(k) for k in ("path", "sha256", "status")}]}
            weights[name] = use
        self.store.write_config(config)

    def _finalize(self) -> RunResult:
        self._record_weights()
        scores = self.store.consolidate("scores", SCORE_KEYS, unique=SCORE_KEYS)
        ledger = self.store.consolidate("ledger", SCORE_KEYS, unique=SCORE_KEYS)
        timing_keys = [*CLIP_KEYS, "stage"]
        timings = self.store.consolidate("timings", timing_keys, unique=timing_keys)
        cells = self._current_cells(ledger)
        if not scores.empty and not cells.empty:
            current = scores.merge(cells[SCORE_KEYS], on=SCORE_KEYS, how="inner")
        else:
            current = scores.iloc[0:0]
        distribution = self._distribution_scores(cells)
        distribution = self._keep_stored_distribution(distribution)
        self.store.write_table("distribution", distribution)
        summary = summarize(current, self.config.bootstrap_resamples, self.config.confidence, distribution=distribution)
        self.store.write_table("summary", summary)
        leaderboard = render_leaderboard(summary, timings=timings)
        atomic_write_bytes(self.store.root / "leaderboard.md", leaderboard.encode())
        failures = self.store.read_failures()
        scored = set() if cells.empty else {
            (a, s, int(k), i, m, sc) for a, s, k, i, m, sc in cells[SCORE_KEYS].itertuples(index=False)
        }
        return RunResult(
            self.store, scores, summary, failures, self.generated, leaderboard, computed_cells=self.computed_cells,
            matrix_cells=len(self.matrix), scored_cells=len(self.matrix & scored),
            new_failures=failures[self._failures_before:], skipped_metrics=dict(self.skipped), stage=self.stage,
        )


def distribution_state_path(root: str | Path, metric: str, adapter: str, split: str, seed: int, scope: str) -> Path:
    """Where a run keeps one distribution metric's sum state (an ``.npz`` of its ``state()``)."""
    return Path(root) / DISTRIBUTION_STATES / metric / adapter / split / f"seed-{seed}" / f"{scope}.npz"


def run_holds_scores(root: str | Path) -> bool:
    """Whether ``root`` holds a run with at least one finished cell in its ledger."""
    root = Path(root)
    return (root / CONFIG_FILE).is_file() and not _finished_ledger(RunStore(root)).empty


def refuse_existing_run(root: str | Path, resume: bool) -> None:
    """Refuse a run directory that holds scores unless ``resume``; cheap, so callers check first.

    Raises:
        RunExistsError: ``root`` holds finished cells and ``resume`` is not set.
    """
    if not resume and run_holds_scores(root):
        raise RunExistsError(f"{root} already holds a run; pass --resume to continue it, or choose another --out")


def _finished_ledger(store: RunStore) -> pd.DataFrame:
    ledger = store.read_table("ledger")
    return ledger if ledger.empty else ledger[ledger["status"].isin(FINISHED)]


def check_resumable(stored: dict[str, Any], now: dict[str, Any], root: Any, hint: str = "") -> None:
    """Refuse to resume when stored clips would be reused under a different definition.

    An adapter or split label present in both matrices must have the same name and
    options, and the clip geometry must match; metrics, scopes and seeds may change
    freely (their cells are computed or kept).

    Args:
        stored: The matrix in the run directory's run config.
        now: The matrix asked for now.
        root: The run directory (named in the message).
        hint: Appended to the message (e.g. how to start the directory afresh).

    Raises:
        RunConfigMismatch: Naming every key that differs, each with its stored and new value.
    """
    differences = matrix_differences(stored, now)
    if differences:
        raise RunConfigMismatch(
            f"{root} was run with a different matrix: {'; '.join(differences)}. Its stored clips were made with "
            f"the old values: give a changed adapter or split another label=..., or choose another --out{hint}"
        )


def matrix_differences(stored: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The keys that make stored clips unusable now, one short line each ("split 'demo' option seed: 0 → 1")."""
    differences = [
        f"{key}: {_short(stored[key])} → {_short(now.get(key))}"
        for key in ("num_frames", "size") if key in stored and stored[key] != now.get(key)
    ]
    for kind in ("adapters", "splits"):
        before = {c["label"]: c for c in stored.get(kind, [])}
        for component in now.get(kind, []):
            old = before.get(component["label"])
            if old is None:
                continue
            what = f"{kind[:-1]} {component['label']!r}"
            if old.get("name") != component.get("name"):
                differences.append(f"{what} name: {_short(old.get('name'))} → {_short(component.get('name'))}")
                continue  # another component altogether: its options are not comparable
            old_options, new_options = old.get("options") or {}, component.get("options") or {}
            for option in sorted(set(old_options) | set(new_options)):
                if old_options.get(option, _UNSET) != new_options.get(option, _UNSET):
                    was, is_now = old_options.get(option, _UNSET), new_options.get(option, _UNSET)
                    differences.append(f"{what} option {option}: {_short(was)} → {_short(is_now)}")
    return differences


_UNSET = "(not set)"


def _short(value: Any, limit: int = 60) -> str:
    text = value if value is _UNSET else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clear_run(store: RunStore) -> None:
    """Remove what a run that scored nothing left (config, failures, parts, clips, features)."""
    for path in (store.config_path, store.failures_path):
        path.unlink(missing_ok=True)
    for name in ("parts", "videos", "previews", "features", DISTRIBUTION_STATES):
        if (store.root / name).is_dir():
            shutil.rmtree(store.root / name)


def merge_matrices(stored: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """The matrix a resumed run directory holds: everything stored plus what was added now.

    Components are matched by label (adapters, splits) or name (metrics); the entry given
    now wins, so a metric's new options are recorded beside its new ledger key.
    """
    merged = dict(now)
    for kind, key in (("adapters", "label"), ("splits", "label"), ("metrics", "name")):
        given = {_component_key(c, key) for c in now.get(kind, [])}
        merged[kind] = [*now.get(kind, []), *(c for c in stored.get(kind, []) if _component_key(c, key) not in given)]
    for kind in ("scopes", "seeds"):
        merged[kind] = list(dict.fromkeys([*stored.get(kind, []), *now.get(kind, [])]))
    merged["extractors"] = {**stored.get("extractors", {}), **now.get("extractors", {})}
    return merged


def _component_key(component: Any, key: str) -> str:
    return component[key] if isinstance(component, dict) else str(component)


def _call_with_deadline(call: Any, timeout: float | None) -> Any:
    """``call()``, or `GenerateTimeout` once ``timeout`` seconds pass (None: no deadline).

    The call runs in a daemon thread, so a call that never returns neither blocks this
    one nor keeps the process alive at exit. Python cannot stop a thread, so a timed-out
    call keeps running: the caller must not use what it was using again.

    Raises:
        GenerateTimeout: The call did not return in time.
        Exception: Whatever ``call`` raised.
    """
    if timeout is None:
        return call()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as err:  # handed to the waiting thread, which raises it
            outcome["error"] = err

    worker = threading.Thread(target=target, name="hcvg-generate", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise GenerateTimeout(f"did not return within {timeout:g} s (--generate-timeout); a thread cannot be stopped, "
                              "so the call was left running")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    size = max(1, size)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda o: o.__dict__ if hasattr(o, "__dict__") else str(o)))

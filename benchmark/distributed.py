"""Data-parallel `hcvg run` on one node: ``torchrun`` / ``accelerate launch`` ranks as shards of one run.

Launched as ``torchrun --nproc-per-node N -m benchmark.cli.main run ... --out RUN`` (or
``accelerate launch --num_processes N -m benchmark.cli.main run ...``), every process
reads its place from the environment the launcher sets (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``). With ``WORLD_SIZE > 1``:

1. Each rank joins a ``torch.distributed`` process group (gloo on CPU; nccl when every
   rank has a GPU, with ``cuda:LOCAL_RANK`` as its device) plus a gloo group for
   control, so that ``monitored_barrier`` (gloo only) can name a missing rank.
2. Rank ``r`` runs the matrix as ``--shard r/N`` (`benchmark.sharding`: a stable hash of
   split label and sample id, so a resume with the same N sees the same samples) into
   its own run directory ``RUN/ranks/rank-r-of-N/``.
3. When all ranks are done, rank 0 alone merges those directories into ``RUN`` with
   `benchmark.run_merge.merge_runs` — per-sample scores copied, FID/FVD reduced from
   the ranks' sum states — and writes summary and leaderboard; the others wait.

**Why one directory per rank** rather than every rank writing into ``RUN``: each rank
then owns its directory alone — its run config, failures.jsonl, ledger parts, feature
cache and (once the run store has one) its run lock — so no two processes ever write
one file and no rank waits on another's lock. The rank directories are exactly the
directories of ``--shard r/N`` jobs, so one node and a cluster share one code path and
one merge (the videos are hard-linked into ``RUN``, not copied). ``RUN`` itself is a
complete run directory; it is rebuilt from the rank directories by every invocation.

**A rank that dies must not hang the others.** A rank that finishes waits for the
others' status files (``RUN/ranks/status/<attempt>/``) while watching their heartbeats
(a counter each rank rewrites every few seconds): a rank whose heartbeat has not moved
for ``timeout`` seconds is dead, and every survivor stops with `DistributedRunError`
naming it. A live rank that is merely slower (more or larger samples) is waited for as
long as it works. The barriers themselves use ``monitored_barrier`` with the same
timeout, and the process group is created with it, so no collective waits forever.
A rank that raises (a usage error, a mismatched resume) writes its error as its status,
so the others stop at once, quoting it. Note that ``torchrun`` (and so ``accelerate
launch``) also tears the whole group down as soon as one worker exits non-zero; the
heartbeat covers the cases it does not see: a rank that exits 0 too early, or a group
started by hand or by another launcher.

Resuming: ``--resume`` with the same number of ranks resumes every rank directory and
merges again; another number of ranks is refused (a shard keeps its samples for good).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Mapping

from benchmark.run_config import RunConfig
from benchmark.run_store import CONFIG_FILE, FAILURES_FILE, RunStore
from benchmark.runner import DISTRIBUTION_STATES, Runner, RunResult
from benchmark.sharding import Shard
from hcvg.atomic import atomic_write_bytes
from hcvg.errors import InvalidInputError, UserError

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 1800.0  # the longest a rank waits for a peer that stopped showing signs of life
RANKS_DIR = "ranks"  # RUN/ranks/rank-<r>-of-<N>/ : one shard run directory per rank
STATUS_DIR = "status"  # RUN/ranks/status/<attempt>/{rank-<r>.json, rank-<r>.alive, merged.json}
CONFIG_KEY = "distributed"  # the key of RUN's run config that marks it as a merge of ranks
# What a merge (benchmark.run_merge) writes into RUN, removed before merging again.
MERGED_FILES = (CONFIG_FILE, FAILURES_FILE, "leaderboard.md",
                *(f"{t}.parquet" for t in ("scores", "ledger", "timings", "distribution", "summary")))
MERGED_TREES = ("parts", "videos", "previews", "features", DISTRIBUTION_STATES)


class DistributedRunError(UserError, RuntimeError):
    """A rank failed, died or stopped answering; the message names it."""


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in a launcher's group, read from the environment.

    Attributes:
        rank: Global rank, 0 … world_size - 1 (``RANK``).
        world_size: Number of processes (``WORLD_SIZE``).
        local_rank: Rank on this node, the index of its GPU (``LOCAL_RANK``).
        local_world_size: Processes on this node (``LOCAL_WORLD_SIZE``; default: all of them).
    """

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int = 0

    def __post_init__(self) -> None:
        if not self.local_world_size:
            object.__setattr__(self, "local_world_size", self.world_size)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> "DistributedContext | None":
        """The context torchrun / accelerate launch set, or None outside a group of more than one process.

        Raises:
            InvalidInputError: ``WORLD_SIZE > 1`` but ``RANK``, ``MASTER_ADDR`` or
                ``MASTER_PORT`` is missing or malformed.
        """
        env = os.environ if environ is None else environ
        if int(_integer(env, "WORLD_SIZE", "1")) <= 1:
            return None
        world = _integer(env, "WORLD_SIZE")
        rank = _integer(env, "RANK")
        local = _integer(env, "LOCAL_RANK", str(rank))
        local_world = _integer(env, "LOCAL_WORLD_SIZE", str(world))
        missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not env.get(name)]
        if missing:
            raise InvalidInputError(
                f"WORLD_SIZE={world} but {', '.join(missing)} is not set; launch with "
                "`torchrun --nproc-per-node N -m benchmark.cli.main run ...` (it sets them)"
            )
        if not 0 <= rank < world:
            raise InvalidInputError(f"RANK={rank} is outside 0 … WORLD_SIZE-1 = {world - 1}")
        return cls(rank, world, local, local_world)

    @property
    def shard(self) -> Shard:
        """The samples this rank computes."""
        return Shard(self.rank, self.world_size)


def _integer(env: Mapping[str, str], name: str, default: str | None = None) -> int:
    text = env.get(name, default)
    try:
        return int(str(text))
    except ValueError:
        raise InvalidInputError(f"environment variable {name}={text!r} is not an integer") from None


def rank_dir(out: str | Path, rank: int, world_size: int) -> Path:
    """Rank ``rank``'s own run directory inside the run directory ``out``."""
    return Path(out) / RANKS_DIR / f"rank-{rank}-of-{world_size}"


# -- statuses and heartbeats --------------------------------------------------------------


class StatusBoard:
    """Status and heartbeat files through which the ranks of one attempt wait for each other.

    Needs no process group: each rank writes ``rank-<r>.alive`` (a counter, rewritten
    every ``heartbeat_every`` seconds by `start_heartbeat`) and, once done, a status file;
    a waiting rank reads them. A peer whose counter has not changed for ``timeout``
    seconds of the reader's own clock is dead (clocks of several machines never compare).

    Args:
        attempt: The directory of this attempt (one per invocation; every rank sees it).
        rank: This process's rank.
        world_size: Number of ranks.
        timeout: Seconds of silence after which a peer counts as dead.
        heartbeat_every: Seconds between heartbeats (default: a tenth of the timeout, at most 5 s).
    """

    def __init__(self, attempt: Path, rank: int, world_size: int, timeout: float, heartbeat_every: float | None = None):
        if timeout <= 0:
            raise InvalidInputError(f"--dist-timeout {timeout:g}: give a positive number of seconds")
        self.attempt = Path(attempt)
        self.rank = rank
        self.world_size = world_size
        self.timeout = float(timeout)
        self.heartbeat_every = heartbeat_every or min(5.0, self.timeout / 10)
        self._beats = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.attempt.mkdir(parents=True, exist_ok=True)

    def alive_path(self, rank: int) -> Path:
        return self.attempt / f"rank-{rank}.alive"

    def beat(self) -> None:
        """Write this rank's next heartbeat."""
        self._beats += 1
        atomic_write_bytes(self.alive_path(self.rank), str(self._beats).encode())

    def start_heartbeat(self) -> None:
        """Beat now, then every ``heartbeat_every`` seconds in a daemon thread (it dies with the process)."""
        self.beat()
        self._thread = threading.Thread(target=self._heartbeat_loop, name="hcvg-heartbeat", daemon=True)
        self._thread.start()

    def stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.heartbeat_every + 1)

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.heartbeat_every):
            try:
                self.beat()
            except OSError as err:  # a full disk, say: the peers will see this rank as silent, and say so
                logger.warning("rank %d could not write its heartbeat: %s", self.rank, err)

    def post(self, name: str, status: dict[str, Any]) -> None:
        """Publish a status (``rank-<r>`` or ``merged``) for the other ranks to read."""
        atomic_write_bytes(self.attempt / f"{name}.json", json.dumps(status, default=str).encode())

    def wait_for(self, names: dict[str, int], what: str) -> dict[str, dict[str, Any]]:
        """Wait until every status in ``names`` (status name → the rank that posts it) is posted.

        Returns:
            Status name → its content.

        Raises:
            DistributedRunError: A rank's heartbeat has not changed for ``timeout``
                seconds (it died, or hangs), naming the rank and ``what`` it owed.
        """
        last_seen: dict[int, tuple[str | None, float]] = {}
        while True:
            found = {name: self.attempt / f"{name}.json" for name in names}
            if all(path.is_file() for path in found.values()):
                return {name: json.loads(path.read_text()) for name, path in found.items()}
            now = time.monotonic()
            for name, rank in names.items():
                if found[name].is_file():
                    continue
                try:
                    beat: str | None = self.alive_path(rank).read_text()
                except OSError:
                    beat = None
                previous = last_seen.get(rank)
                if previous is None or previous[0] != beat:
                    last_seen[rank] = (beat, now)
                elif now - previous[1] > self.timeout:
                    raise DistributedRunError(
                        f"rank {rank} of {self.world_size} stopped answering while rank {self.rank} waited for "
                        f"{what}: no heartbeat for {self.timeout:g} s (--dist-timeout); it died or hangs (see its "
                        "output above). Fix the cause and rerun with --resume: finished cells are kept"
                    )
            time.sleep(min(1.0, self.heartbeat_every))


# -- the process group ----------------------------------------------------------------


class ProcessGroup:
    """The torch.distributed group of one run, with a gloo control group and a `StatusBoard`.

    Args:
        context: This process's rank and world size.
        status_root: The directory where ranks leave status and heartbeat files
            (shared by every rank: the run directory is on one file system).
        timeout: Seconds after which a silent peer counts as dead; also the process
            group's and every barrier's timeout.
    """

    def __init__(self, context: DistributedContext, status_root: Path, timeout: float):
        if timeout <= 0:
            raise InvalidInputError(f"--dist-timeout {timeout:g}: give a positive number of seconds")
        self.context = context
        self.timeout = float(timeout)
        self.status_root = Path(status_root)
        self.backend = "gloo"
        self.board: StatusBoard | None = None
        self._control: Any = None

    def __enter__(self) -> "ProcessGroup":
        import torch
        import torch.distributed as dist

        ctx = self.context
        # nccl only when every rank of the node has its own GPU (all ranks must choose
        # alike); otherwise gloo, which runs anywhere.
        if torch.cuda.is_available() and torch.cuda.device_count() >= ctx.local_world_size:
            torch.cuda.set_device(ctx.local_rank)
            self.backend = "nccl"
        dist.init_process_group(
            self.backend, rank=ctx.rank, world_size=ctx.world_size, timeout=timedelta(seconds=self.timeout)
        )
        # monitored_barrier exists on gloo only: barriers and the attempt's name go through it.
        if self.backend != "gloo":
            self._control = dist.new_group(backend="gloo", timeout=timedelta(seconds=self.timeout))
        # One attempt directory per invocation, named by rank 0, so that a status file
        # left by an earlier (killed) invocation is never read as this one's.
        token = [uuid.uuid4().hex[:12] if ctx.rank == 0 else None]
        dist.broadcast_object_list(token, src=0, group=self._control)
        self.board = StatusBoard(self.status_root / str(token[0]), ctx.rank, ctx.world_size, self.timeout)
        self.board.start_heartbeat()
        return self

    def __exit__(self, *exc: Any) -> None:
        import torch.distributed as dist

        if self.board is not None:
            self.board.stop_heartbeat()
        if dist.is_initialized():
            dist.destroy_process_group()

    def barrier(self, what: str) -> None:
        """Every rank reaches this point; a rank that does not within ``timeout`` is named.

        Raises:
            DistributedRunError: Quoting monitored_barrier's error (it names the missing ranks).
        """
        import torch.distributed as dist

        try:
            dist.monitored_barrier(group=self._control, timeout=timedelta(seconds=self.timeout), wait_all_ranks=True)
        except RuntimeError as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise DistributedRunError(
                f"rank {self.context.rank}: the barrier after {what} failed within {self.timeout:g} s (--dist-timeout): {first}"
            ) from err

    def cleanup(self) -> None:
        """Rank 0, at the end: remove the status files of this attempt and of earlier ones."""
        shutil.rmtree(self.status_root, ignore_errors=True)


# -- the run ------------------------------------------------------------------------------


RunnerFactory = Callable[..., Runner]


def run_distributed(
    config: RunConfig,
    context: DistributedContext,
    resume: bool = False,
    stage: str = "all",
    progress: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
    runner: RunnerFactory = Runner,
) -> RunResult:
    """Run ``config`` as rank ``context.rank`` of ``context.world_size``; see the module docstring.

    Args:
        config: The whole matrix; ``config.out`` is the run directory every rank shares.
        context: This process's rank.
        resume: Continue the rank directories (and merge again).
        stage: "all", "generate" (no merge: there is nothing to summarize) or "score".
        progress: Show rank 0's progress bar (the others never show one).
        timeout: ``--dist-timeout`` seconds (see `ProcessGroup`).
        runner: Builds the `Runner` (tests pass one with fresh registries).

    Returns:
        On rank 0, the merged run (``stage="generate"``: the clip counts of all ranks); on
        the others, a result with the same counts and this rank's own store.

    Raises:
        DistributedRunError: A rank failed (quoting its error), died or hung.
        UserError: ``config.out`` holds a single-process run, or one of another number of ranks.
    """
    out = Path(config.out)
    check_distributed_out(out, context.world_size)
    own = rank_dir(out, context.rank, context.world_size)
    rank_config = dataclasses.replace(config, out=own)
    ranks = {f"rank-{r}": r for r in range(context.world_size)}
    with ProcessGroup(context, out / RANKS_DIR / STATUS_DIR, timeout) as group:
        try:
            result = runner(rank_config, resume=resume, progress=progress and context.rank == 0, stage=stage,
                            shard=context.shard).run()
            status = {"ok": True, **_counts(result)}
        except Exception as err:  # said to every rank, then raised here too
            status = {"ok": False, "error": f"{type(err).__name__}: {err}"}
            group.board.post(f"rank-{context.rank}", status)
            raise
        group.board.post(f"rank-{context.rank}", status)
        statuses = group.board.wait_for(ranks, "the ranks' results")
        failed = {name: s["error"] for name, s in statuses.items() if not s["ok"]}
        if failed:
            raise DistributedRunError(
                "the run stopped because " + "; ".join(f"{name} failed: {error}" for name, error in failed.items())
            )
        group.barrier("every rank's shard")
        totals = _sum_counts(statuses.values())
        if context.rank == 0:
            try:
                merged = _merge_ranks(out, context, stage, group.backend, timeout, totals)
                group.board.post("merged", {"ok": True})
            except Exception as err:
                group.board.post("merged", {"ok": False, "error": f"{type(err).__name__}: {err}"})
                raise
        else:
            verdict = group.board.wait_for({"merged": 0}, "rank 0's merge")["merged"]
            if not verdict["ok"]:
                raise DistributedRunError(f"rank 0 could not merge the ranks' results: {verdict['error']}")
            merged = dataclasses.replace(result, **_result_fields(totals, stage))
        # Every rank is accounted for: no heartbeat may recreate the files rank 0 removes next.
        group.board.stop_heartbeat()
        group.barrier("the merge")
        if context.rank == 0:
            group.cleanup()
    return merged


def check_distributed_out(out: Path, world_size: int) -> None:
    """Refuse a run directory that a single process, or another number of ranks, made.

    Raises:
        DistributedRunError: Naming what ``out`` holds and what to do.
    """
    config_path = out / CONFIG_FILE
    if config_path.is_file():
        marker = json.loads(config_path.read_text()).get(CONFIG_KEY)
        if not marker:
            raise DistributedRunError(
                f"{out} holds a single-process run; resume it without torchrun, or give the distributed run another --out"
            )
        if int(marker["world_size"]) != world_size:
            raise DistributedRunError(
                f"{out} was run by {marker['world_size']} ranks, not {world_size}: a rank keeps its samples for good; "
                f"launch with --nproc-per-node {marker['world_size']}, or choose another --out"
            )
    ranks = out / RANKS_DIR
    others = sorted(p.name for p in ranks.glob("rank-*-of-*") if not p.name.endswith(f"-of-{world_size}")) if ranks.is_dir() else []
    if others:
        raise DistributedRunError(
            f"{ranks} holds the directories of another number of ranks ({', '.join(others)}); launch with that "
            f"number of processes, or choose another --out"
        )


def _merge_ranks(out: Path, context: DistributedContext, stage: str, backend: str, timeout: float,
                 totals: dict[str, Any]) -> RunResult:
    """Rank 0: rebuild ``out`` from the rank directories and mark it as distributed."""
    from benchmark.run_merge import merge_runs

    roots = [rank_dir(out, r, context.world_size) for r in range(context.world_size)]
    if stage == "generate":  # nothing is scored, so nothing is merged: the counts say what was stored
        return RunResult(RunStore(out), _empty(), _empty(), [], stage="generate", **_result_fields(totals, stage))
    _clear_merged(out)
    merged = merge_runs(roots, out)
    store = RunStore(out)
    config = store.read_config()
    config[CONFIG_KEY] = {
        "world_size": context.world_size, "backend": backend, "timeout_s": timeout,
        "ranks": [str(root.relative_to(out)) for root in roots],
    }
    store.write_config(config)
    return RunResult(store, merged.scores, merged.summary, store.read_failures(), leaderboard=merged.leaderboard,
                     stage=stage, **_result_fields(totals, stage))


def _clear_merged(out: Path) -> None:
    """Remove what an earlier (perhaps killed) merge wrote into ``out``: it is rebuilt from ``ranks/``.

    Only the run store's own names are removed (never ``ranks/`` or anything else); the
    videos and features there are hard links or copies of the ranks' files.
    """
    for name in MERGED_FILES:
        (out / name).unlink(missing_ok=True)
    for name in MERGED_TREES:
        if (out / name).is_dir():
            shutil.rmtree(out / name)


def _counts(result: RunResult) -> dict[str, Any]:
    return {
        "generated": result.generated, "computed_cells": result.computed_cells, "matrix_cells": result.matrix_cells,
        "scored_cells": result.scored_cells, "new_failures": result.new_failures, "skipped_metrics": result.skipped_metrics,
    }


def _sum_counts(statuses: Any) -> dict[str, Any]:
    totals: dict[str, Any] = {"generated": 0, "computed_cells": 0, "matrix_cells": 0, "scored_cells": 0,
                              "new_failures": [], "skipped_metrics": {}}
    for status in statuses:
        for key in ("generated", "computed_cells", "matrix_cells", "scored_cells"):
            totals[key] += int(status[key])
        totals["new_failures"].extend(status["new_failures"])
        totals["skipped_metrics"].update(status["skipped_metrics"])
    return totals


def _result_fields(totals: dict[str, Any], stage: str) -> dict[str, Any]:
    return {"generated": totals["generated"], "computed_cells": totals["computed_cells"],
            "matrix_cells": totals["matrix_cells"], "scored_cells": totals["scored_cells"],
            "new_failures": list(totals["new_failures"]), "skipped_metrics": dict(totals["skipped_metrics"])}


def _empty() -> Any:
    import pandas as pd

    return pd.DataFrame()

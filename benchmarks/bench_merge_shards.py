"""Time and peak memory of `hcvg merge` over 8 shards.

Two measurements, each merge in a child process of its own (its peak resident memory
is the child's ``ru_maxrss``):

1. **real**: 8 shard runs of `static` and `oracle` on in-memory 64² squares, with PSNR
   and a Fréchet distance over per-frame mean colours (FID's state and reduction at 3-d),
   videos hard-linked.
2. **scaled**: the same 8 shards with every table inflated ``--factor`` times (each
   sample copied under new ids; the default, 2000, gives ~0.5 M score rows and ~1 M
   ledger rows over all shards, about a seventh of the paper's full matrix of 10 adapters
   × 18,788 clips × 10 metrics × 2 scopes), the Fréchet sum states replaced by full-rank
   ``--dim``-d ones (default 400, FVD's size), and no videos (``--no-videos``).

The Fréchet distance itself (scipy's sqrtm, the same cost in one run's finalize as in a
merge) grows as D³; `bench_backbones_fid_fvd.py` times it at FID's 2048-d.

Measured on the development machine (2 CPU cores shared with other jobs), defaults:
real, 256 score rows, 128 videos and 384 feature files hard-linked: 1.5 s; scaled, 512,000 score rows and
1,024,000 ledger rows: 45 s, peak 2.08 GiB resident of which 1.16 GiB are the imports
(torch among them) before the merge starts.

Usage::

    python benchmarks/bench_merge_shards.py [--samples 64] [--factor 2000] [--dim 400] [--work /tmp/merge-bench]
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SHARDS = 8


def run_shards(work: Path, samples: int) -> list[Path]:
    sys.path.insert(0, str(ROOT))
    from benchmark.sharding import Shard
    from tests.conftest import moving_square_sample
    from tests.test_stages_and_shards import _run

    clips = [moving_square_sample(f"sq-{i}", seed=i) for i in range(samples)]
    roots = []
    for k in range(SHARDS):
        start = time.perf_counter()
        roots.append(_run(clips, work / f"shard-{k}", shard=Shard(k, SHARDS)).store.root)
        print(f"  shard {k}/{SHARDS}: {time.perf_counter() - start:.1f} s")
    return roots


def inflate(source: Path, target: Path, factor: int, dim: int, rng: np.random.Generator) -> Path:
    """A copy of a shard run whose every sample appears ``factor`` times, with ``dim``-d Fréchet sums."""
    from benchmark.runner import DISTRIBUTION_STATES

    target.mkdir(parents=True)
    config = json.loads((source / "run_config.json").read_text())
    for selection in config["selection"].values():
        selection["samples"] = [f"{i}~{j}" for i in selection["samples"] for j in range(factor)]
        selection["split_size"] *= factor
    (target / "run_config.json").write_text(json.dumps(config))
    for table in ("scores", "ledger", "timings"):
        frame = pd.read_parquet(source / f"{table}.parquet")
        copies = frame.loc[frame.index.repeat(factor)].reset_index(drop=True)
        copies["sample_id"] = copies["sample_id"] + "~" + pd.Series(np.tile(np.arange(factor), len(frame))).astype(str)
        copies.to_parquet(target / f"{table}.parquet")
    distribution = pd.read_parquet(source / "distribution.parquet")
    distribution["n"] *= factor
    distribution.to_parquet(target / "distribution.parquet")
    if (source / "failures.jsonl").is_file():
        shutil.copy(source / "failures.jsonl", target / "failures.jsonl")
    for path in sorted((source / DISTRIBUTION_STATES).rglob("*.npz")):
        with np.load(path) as saved:
            ids = [f"{i}~{j}" for i in np.asarray(saved["target_ids"]).ravel() for j in range(factor)]
        state = {"metric": np.array("colour-fid")}
        for side in ("generated", "target"):
            # Full-rank sums, as 15 frames of thousands of clips give (a rank-deficient
            # covariance would time scipy's sqrtm on a case no real run meets).
            rows = rng.standard_normal((2 * dim, dim)) + (0.1 if side == "generated" else 0.0)
            scale = len(ids) * 15 / len(rows)
            state[f"{side}_n"] = np.array(len(ids) * 15, dtype=np.int64)
            state[f"{side}_sum"] = rows.sum(0) * scale
            state[f"{side}_outer"] = rows.T @ rows * scale
        state["target_ids"] = ids
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, **state)
        out.write_bytes(buffer.getvalue())
    return target


def timed_merge(roots: list[Path], out: Path, videos: bool) -> dict[str, float]:
    """Merge in a child process: wall seconds, its resident MiB after the imports and at its peak, rows merged."""
    program = (
        "import json, resource, sys, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from benchmark.run_merge import merge_runs\n"
        "from tests.test_stages_and_shards import _metrics_registry\n"
        "registry = _metrics_registry()\n"
        "registry.create('colour-fid'), registry.create('psnr')  # their modules imported before the baseline\n"
        "imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "start = time.perf_counter()\n"
        f"result = merge_runs({[str(r) for r in roots]!r}, {str(out)!r}, videos={videos}, metrics=registry)\n"
        "seconds = time.perf_counter() - start\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps({'seconds': seconds, 'imported_mib': imported, 'peak_mib': peak, 'rows': len(result.scores),\n"
        "                  'complete': result.complete}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=ROOT)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["complete"], "the merge reported missing cells"
    return report


def _said(report: dict[str, float]) -> str:
    return (f"{report['rows']} score rows: {report['seconds']:.2f} s, peak RSS {report['peak_mib']:.0f} MiB "
            f"({report['imported_mib']:.0f} MiB after the imports)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=64, help="samples of the real shards (default: 64)")
    parser.add_argument("--factor", type=int, default=2000, help="copies of each sample in the scaled shards (default: 2000)")
    parser.add_argument("--dim", type=int, default=400, help="feature dimension of the scaled Fréchet states (default: 400)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/merge-bench"))
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    print(f"running {SHARDS} shards of {args.samples} samples ...")
    roots = run_shards(args.work / "real", args.samples)
    print(f"real:   {SHARDS} shards, videos linked, " + _said(timed_merge(roots, args.work / "real-merged", videos=True)))
    rng = np.random.default_rng(0)
    scaled = [inflate(r, args.work / "scaled" / r.name, args.factor, args.dim, rng) for r in roots]
    report = timed_merge(scaled, args.work / "scaled-merged", videos=False)
    print(f"scaled: {SHARDS} shards, {args.dim}-d Fréchet states, " + _said(report))


if __name__ == "__main__":
    main()

"""Measure generation speed per optimization, and the fast preset's quality cost on the demo split.

Speed: `benchmark.speed.generation.measure` (what `hcvg bench speed --only generation`
runs) prints seconds per clip and the speed-up of each option against the reference
path, measured in the same run. Quality (``--quality``): two `hcvg run`s of ``handi-tiny``
on the demo split, at the paper's 25 steps and at the fast preset's
(`handi.pipeline.FAST_PRESET_STEPS`), scored with the suite's own metrics (those whose
weights are present here), and the per-metric difference of their means.

    python benchmarks/bench_generation_speed.py --size reduced --repeats 2 --threads 1
    python benchmarks/bench_generation_speed.py --size reduced --steps 5 --variants compile --threads 1
    python benchmarks/bench_generation_speed.py --size full --device cuda --out speed.json
    python benchmarks/bench_generation_speed.py --quality --samples 8 --skip-speed
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.cli.main import main as hcvg  # noqa: E402

#: Metrics that need no downloaded weights (the others are skipped by `hcvg run` when absent).
QUALITY_METRICS = ("psnr", "ssim", "hs-err", "hand-recall", "background-fidelity", "background-motion")


def speed(args: argparse.Namespace) -> None:
    if args.steps is None and args.variants is None:
        argv = ["bench", "speed", "--size", args.size, "--device", args.device, "--only", "generation",
                "--repeats", str(args.repeats)]
        if args.threads:
            argv += ["--threads", str(args.threads)]
        if args.out:
            argv += ["--out", str(args.out)]
        hcvg(argv)
        return
    # Fewer steps or a subset of variants: the section called directly (the CLI's
    # sections share one signature, measure(size, device, repeats)).
    import torch

    from benchmark.speed.generation import measure
    from benchmark.speed.report import format_rows, speed_document, write_speed_json

    if args.threads:
        torch.set_num_threads(args.threads)
    rows = measure(args.size, args.device, args.repeats, steps=args.steps,
                   only_variants=None if args.variants is None else tuple(args.variants))
    print("\n".join(format_rows(rows)))
    if args.out:
        name = torch.cuda.get_device_name() if args.device == "cuda" else None
        write_speed_json(args.out, speed_document(rows, size=args.size, device=args.device, device_name=name, repeats=args.repeats,
                                                  environment={"torch": torch.__version__, "threads": torch.get_num_threads(),
                                                               "steps_override": args.steps}))


def quality(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    import pandas as pd

    from handi.pipeline import FAST_PRESET_STEPS

    root = Path(args.quality_dir or tempfile.mkdtemp(prefix="hcvg-fast-quality-"))
    means = {}
    for label, steps in (("paper-25", 25), (f"fast-{FAST_PRESET_STEPS}", FAST_PRESET_STEPS)):
        out = root / label
        if not (out / "summary.parquet").exists():
            hcvg(["run", "--adapters", f"handi-tiny:steps={steps},device=cpu", "--splits", f"demo:num_samples={args.samples}",
                  "--metrics", *QUALITY_METRICS, "--out", str(out), "--no-progress"])
        summary = pd.read_parquet(out / "summary.parquet")
        means[label] = {f"{r.metric}/{r.scope}": float(r.value) for r in summary.itertuples()}
    paper, fast = means.values()
    print(f"\nquality of the fast preset ({FAST_PRESET_STEPS} steps) vs the paper's 25, handi-tiny, demo split, {args.samples} samples:")
    print(f"{'metric/scope':28s} {'25 steps':>10s} {f'{FAST_PRESET_STEPS} steps':>10s} {'delta':>10s}")
    for key in sorted(paper):
        if key in fast:
            print(f"{key:28s} {paper[key]:10.4f} {fast[key]:10.4f} {fast[key] - paper[key]:+10.4f}")
    print(f"(runs in {root})")
    return means


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["tiny", "reduced", "full"], default="reduced")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--steps", type=int, default=None, help="solver steps per stage instead of 25 (quicker; ratios hold)")
    parser.add_argument("--variants", nargs="+", default=None, help="only these variants (the reference always runs)")
    parser.add_argument("--out", type=Path, default=None, help="speed JSON report")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--quality", action="store_true", help="also measure the fast preset's quality cost")
    parser.add_argument("--samples", type=int, default=8, help="demo samples for --quality")
    parser.add_argument("--quality-dir", type=Path, default=None, help="where the two runs go (reused if finished)")
    parser.add_argument("--quality-json", type=Path, default=None, help="write the metric means of both runs here")
    args = parser.parse_args()
    if not args.skip_speed:
        speed(args)
    if args.quality:
        means = quality(args)
        if args.quality_json:
            args.quality_json.write_text(json.dumps(means, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Bridge: the manifest → DynamiCrafter's ``scripts/evaluation/inference.py`` and back.

Upstream reads ``--prompt_dir``: the images in it sorted by name, and the prompts, one a
line, of the first ``.txt`` file, in the same order. It writes
``<savedir>/samples_separate/<image name up to its first dot>_sample0.mp4``. One
``--seed`` per run: the bridge runs upstream once per seed in the manifest.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bridge_common import BridgeError, by_seed, context_of, fresh_dir, main, place, run_upstream, text_of, worst


def run(entries: list[dict], job: dict) -> int:
    statuses = []
    for seed, group in by_seed(entries).items():
        base = fresh_dir(Path(job["work_dir"]) / f"dynamicrafter-seed{seed}")
        save_dir = base / "results"
        # inference.py derives samples_separate with str.replace('samples', ...) over the whole path.
        if "samples" in str(save_dir):
            raise BridgeError(f"DynamiCrafter's inference.py cannot write under a path containing 'samples' ({save_dir}); "
                              "choose another work_dir")
        prompt_dir = fresh_dir(base / "prompts")
        names = [f"{index:05d}" for index in range(len(group))]  # sorted by name = manifest order, no dots
        for name, entry in zip(names, group):
            shutil.copyfile(context_of(entry, "DynamiCrafter"), prompt_dir / f"{name}.png")
        (prompt_dir / "prompts.txt").write_text("".join(text_of(entry, job) + "\n" for entry in group), encoding="utf-8")
        statuses.append(run_upstream(job, {"prompt_dir": prompt_dir, "save_dir": save_dir, "seed": seed}))
        for name, entry in zip(names, group):
            place(save_dir / "samples_separate" / f"{name}_sample0.mp4", entry)
    return worst(statuses)


if __name__ == "__main__":
    main(run)

"""Bridge: the manifest → Open-Sora's ``scripts/diffusion/inference.py`` (text-to-video) and back.

Upstream reads ``--dataset.data-path``, a csv with a ``text`` column; a ``name`` column
names each output ``<save-dir>/video_<resolution>/<name>.mp4``. One seed per run
(``--seed``, ``--sampling_option.seed``): the bridge runs upstream once per seed.
"""

from __future__ import annotations

import csv
from pathlib import Path

from bridge_common import by_seed, fresh_dir, main, place, run_upstream, text_of, worst


def run(entries: list[dict], job: dict) -> int:
    statuses = []
    for seed, group in by_seed(entries).items():
        base = fresh_dir(Path(job["work_dir"]) / f"opensora-seed{seed}")
        names = [f"{index:05d}" for index in range(len(group))]
        table = base / "prompts.csv"
        with open(table, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "name"])
            writer.writerows([text_of(entry, job), name] for name, entry in zip(names, group))
        save_dir = base / "samples"
        statuses.append(run_upstream(job, {"csv": table, "save_dir": save_dir, "seed": seed}))
        for name, entry in zip(names, group):
            # The sub-folder is video_<resolution>: 256px unless upstream_args change it.
            found = sorted(save_dir.glob(f"video_*/{name}.mp4"))
            place(found[0] if found else save_dir / "video_256px" / f"{name}.mp4", entry)
    return worst(statuses)


if __name__ == "__main__":
    main(run)

"""Bridge: the manifest → the HANDI authors' ``inference.py --eval`` (multi-sample inference) and back.

Upstream reads ``--prompt_file``, JSON lines ``{"source": ..., "prompt": ...}`` with
``source`` relative to ``--image_folder``, and a mask ``<mask_folder>/<image stem>.png``
per image (it opens it unconditionally). It writes ``<output_folder>/<stem>/0.gif``
and ``0..mp4`` (its ``out_file.replace('gif', '.mp4')``). The seed is a config
override (``seed=N`` after the options): one run per seed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from PIL import Image

from bridge_common import by_seed, context_of, fresh_dir, main, place, run_upstream, text_of, worst


def run(entries: list[dict], job: dict) -> int:
    statuses = []
    for seed, group in by_seed(entries).items():
        base = fresh_dir(Path(job["work_dir"]) / f"handi-seed{seed}")
        images, masks, output = fresh_dir(base / "images"), fresh_dir(base / "masks"), base / "result"
        names = [f"{index:05d}" for index in range(len(group))]
        lines = []
        for name, entry in zip(names, group):
            context = context_of(entry, "HANDI")
            shutil.copyfile(context, images / f"{name}.png")
            if entry.get("motion_area"):
                shutil.copyfile(entry["motion_area"], masks / f"{name}.png")
            else:
                # inference.py's own default without a mask: everywhere may move.
                with Image.open(context) as image:
                    Image.new("L", image.size, 255).save(masks / f"{name}.png")
            lines.append(json.dumps({"source": f"{name}.png", "prompt": text_of(entry, job)}))
        prompt_file = base / "prompt.json"
        prompt_file.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        statuses.append(run_upstream(job, {"image_folder": images, "prompt_file": prompt_file, "mask_folder": masks,
                                           "output_folder": output, "seed": seed}))
        for name, entry in zip(names, group):
            mp4 = output / name / "0..mp4"
            place(mp4 if mp4.is_file() else output / name / "0.gif", entry)
    return worst(statuses)


if __name__ == "__main__":
    main(run)

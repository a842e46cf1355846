"""Bridge: the manifest → AVDC's ``flowdiffusion/train_mw.py --mode inference`` and back.

Upstream takes one image (``-p``) and one text (``-t``) per run and writes
``<image path without suffix>_out.gif`` beside the image: the context frame, then the
generated frames. It has no seed option, so the manifest's seeds are not honoured
(the adapter declares the preset non-deterministic).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from bridge_common import context_of, fresh_dir, main, place, run_upstream, text_of, worst


def run(entries: list[dict], job: dict) -> int:
    base = fresh_dir(Path(job["work_dir"]) / "avdc")
    print("[bridge] AVDC's inference takes no seed: the manifest's seeds are not used", file=sys.stderr, flush=True)
    statuses = []
    for index, entry in enumerate(entries):
        image = base / f"{index:05d}.png"
        shutil.copyfile(context_of(entry, "AVDC"), image)
        statuses.append(run_upstream(job, {"image": image, "text": text_of(entry, job)}))
        place(base / f"{index:05d}_out.gif", entry)
    return worst(statuses)


if __name__ == "__main__":
    main(run)

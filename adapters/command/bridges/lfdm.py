"""Bridge: the manifest → LFDM's ``demo/demo_mhad.py`` and back.

The demo takes no inputs on its command line: the code directory, checkpoints, config,
output root, action list and reference image are assignments in the file. For each
entry the bridge writes a copy of the demo with exactly those assignments replaced
(each must match once, or the bridge stops naming it: the upstream file changed) and
runs it. The demo writes ``<root>/demo<postfix>/0000_<image name>_<scale>.gif``, five
panels side by side (source, sample, warped, flow grid, confidence); the bridge moves
it as it is (re-encoding a GIF with Pillow would merge identical consecutive frames),
and the preset's ``panels`` tells the adapter to keep the sample panel.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from bridge_common import BridgeError, context_of, fresh_dir, main, place, run_upstream, text_of, worst

DEMO = "demo/demo_mhad.py"


def patch_demo(source: str, *, repo: str, root: Path, ckpt: str, ae_ckpt: str, config: str, image: Path, text: str) -> str:
    """The demo's text with its inputs replaced.

    Raises:
        BridgeError: If an assignment to replace is not found exactly once.
    """
    replacements = [
        (r'^sys\.path\.append\(.*\).*$', f"sys.path.append({repo!r})"),
        (r"^root_dir = .*$", f"root_dir = {str(root)!r}"),
        # RESTORE_FROM spans two lines joined by a backslash.
        (r"^RESTORE_FROM = (?:.*\\\n)*.*$", f"RESTORE_FROM = {ckpt!r}"),
        (r"^AE_RESTORE_FROM = .*$", f"AE_RESTORE_FROM = {ae_ckpt!r}"),
        (r"^config_pth = .*$", f"config_pth = {config!r}"),
        (r"^    action_list = \[[^\]]*\]", f"    action_list = [{text!r}]"),
        (r"^    ref_img_path = .*$", f"    ref_img_path = {str(image)!r}"),
    ]
    for pattern, replacement in replacements:
        source, count = re.subn(pattern, lambda _: replacement, source, flags=re.MULTILINE)
        if count != 1:
            raise BridgeError(f"{DEMO}: expected one line matching {pattern!r}, found {count}; the upstream file differs "
                              "from the commit the preset was written for")
    return source


def run(entries: list[dict], job: dict) -> int:
    values = job["values"]
    for key in ("ckpt", "ae_ckpt", "config"):
        if key not in values:
            raise BridgeError(f"lfdm needs {key}=... (see docs/command-adapter.md)")
    demo_source = (Path(job["repo"]) / DEMO).read_text(encoding="utf-8")
    statuses = []
    for index, entry in enumerate(entries):
        base = fresh_dir(Path(job["work_dir"]) / f"lfdm-{index:05d}")
        image = base / f"{index:05d}.png"
        shutil.copyfile(context_of(entry, "LFDM"), image)
        script = base / "demo_mhad.py"
        script.write_text(patch_demo(demo_source, repo=job["repo"], root=base, ckpt=values["ckpt"], ae_ckpt=values["ae_ckpt"],
                                     config=values["config"], image=image, text=text_of(entry, job)), encoding="utf-8")
        statuses.append(run_upstream(job, {"script": script, "seed": entry["seed"]}))
        found = sorted(base.glob("demo*/0000_*.gif"))
        place(found[0] if found else base / "demo-j-sl-random-of-tr-rmm" / "0000.gif", entry)
    return worst(statuses)


if __name__ == "__main__":
    main(run)

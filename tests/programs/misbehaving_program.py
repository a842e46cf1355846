"""A contract program that fails the way real baselines fail, for the command adapter's tests.

``--mode partial``: writes every video but those of ``--skip`` ids, says why on stderr,
exits 0. ``--mode exit``: writes the videos of ids not in ``--skip``, prints a traceback
to stderr, exits 3. ``--mode hang``: writes the videos of ids not in ``--skip``, starts
a child that sleeps (its pid in ``<work>/child.pid``) and waits for it: only killing
the whole process group ends both.
"""

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

# The packaged example's writer, loaded by path: this program runs outside the suite.
_spec = importlib.util.spec_from_file_location(
    "example_program", Path(__file__).resolve().parents[2] / "adapters" / "command" / "example_program.py"
)
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)

parser = argparse.ArgumentParser()
parser.add_argument("--manifest", type=Path, required=True)
parser.add_argument("--mode", choices=["partial", "exit", "hang"], required=True)
parser.add_argument("--skip", default="", help="comma-separated sample ids to write no video for")
args = parser.parse_args()
skip = set(filter(None, args.skip.split(",")))
entries = [json.loads(line) for line in args.manifest.read_text().splitlines() if line.strip()]
for entry in entries:
    if entry["sample_id"] in skip:
        print(f"skipping {entry['sample_id']}: simulated CUDA out of memory", file=sys.stderr, flush=True)
        continue
    example.write_video(Path(entry["output"]), example.frames_for(entry))
if args.mode == "exit":
    print("Traceback (most recent call last):\n  File \"sample.py\", line 1\nRuntimeError: simulated crash in the baseline",
          file=sys.stderr, flush=True)
    sys.exit(3)
if args.mode == "hang":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    (args.manifest.parent / "child.pid").write_text(str(child.pid))
    print("loading weights ... (simulated hang)", file=sys.stderr, flush=True)
    child.wait()

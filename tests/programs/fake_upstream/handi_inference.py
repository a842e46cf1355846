"""Fake inference.py of the HANDI authors: JSON-lines prompts, a mask per image, <out>/<stem>/0.gif and 0..mp4."""

import argparse
import json
import os

from PIL import Image

from fake_common import image_frames, log_argv, write_mp4

log_argv()
p = argparse.ArgumentParser()
for name in ("--config", "--image_folder", "--prompt_file", "--mask_folder", "--output_folder"):
    p.add_argument(name)
p.add_argument("--eval", action="store_true")
p.add_argument("rest", nargs=argparse.REMAINDER)
args = p.parse_args()
assert os.path.exists(args.config) and args.eval
for line in open(args.prompt_file):
    item = json.loads(line)
    source = os.path.join(args.image_folder, item["source"])
    number = os.path.basename(source).split(".")[0]
    Image.open(os.path.join(args.mask_folder, f"{number}.png"))  # upstream opens it unconditionally
    frames = image_frames(source, 16, (128, 128))
    os.makedirs(os.path.join(args.output_folder, number), exist_ok=True)
    out_file = os.path.join(args.output_folder, number, "0.gif")
    open(out_file, "wb").close()  # upstream writes the GIF too; the bridge takes the mp4
    write_mp4(out_file.replace("gif", ".mp4"), frames)

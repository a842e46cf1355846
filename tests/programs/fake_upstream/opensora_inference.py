"""Fake scripts/diffusion/inference.py of Open-Sora: a csv of text,name in; <save-dir>/video_256px/<name>.mp4 out."""

import argparse
import csv
import os

from fake_common import log_argv, text_frames, write_mp4

log_argv()
p = argparse.ArgumentParser()
p.add_argument("config")
p.add_argument("--save-dir")
p.add_argument("--dataset.data-path", dest="data_path")
p.add_argument("--sampling_option.seed", dest="z_seed", type=int)
p.add_argument("--seed", type=int)
args = p.parse_args()
assert os.path.exists(args.config)
with open(args.data_path, newline="") as handle:
    for row in csv.DictReader(handle):
        write_mp4(os.path.join(args.save_dir, "video_256px", row["name"] + ".mp4"), text_frames(row["text"], 33, (144, 256)))

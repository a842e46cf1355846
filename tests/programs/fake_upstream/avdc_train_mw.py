"""Fake flowdiffusion/train_mw.py of AVDC: one image and text in, <image stem>_out.gif (context + 7 frames) out."""

import argparse
import os

from fake_common import image_frames, log_argv, write_gif

log_argv()
p = argparse.ArgumentParser()
p.add_argument("-m", "--mode")
p.add_argument("-c", "--checkpoint_num", type=int)
p.add_argument("-p", "--inference_path")
p.add_argument("-t", "--text")
p.add_argument("-n", "--sample_steps", type=int, default=100)
p.add_argument("-g", "--guidance_weight", type=int, default=0)
args = p.parse_args()
assert os.path.exists(f"../results/mw/model-{args.checkpoint_num}.pt")
root, _ = os.path.splitext(args.inference_path)
write_gif(root + "_out.gif", image_frames(args.inference_path, 8, (128, 128)))

"""Fake scripts/evaluation/inference.py of DynamiCrafter: its arguments, its input layout, its output names."""

import argparse
import glob
import os
import sys

from fake_common import image_frames, log_argv, write_mp4

log_argv()
p = argparse.ArgumentParser()
for name in ("--savedir", "--ckpt_path", "--config", "--prompt_dir", "--timestep_spacing"):
    p.add_argument(name)
for name in ("--seed", "--n_samples", "--bs", "--height", "--width", "--ddim_steps", "--video_length", "--frame_stride"):
    p.add_argument(name, type=int)
for name in ("--unconditional_guidance_scale", "--ddim_eta", "--guidance_rescale"):
    p.add_argument(name, type=float)
p.add_argument("--text_input", action="store_true")
p.add_argument("--perframe_ae", action="store_true")
args = p.parse_args()
assert os.path.exists(args.ckpt_path), "Error: checkpoint Not Found!"
images = sorted(glob.glob(os.path.join(args.prompt_dir, "*.png")))
prompts = [l.strip() for l in open(sorted(glob.glob(os.path.join(args.prompt_dir, "*.txt")))[0]) if l.strip()]
assert len(images) == len(prompts)
out = os.path.join(args.savedir, "samples_separate")
os.makedirs(out, exist_ok=True)
for count, image in enumerate(images):
    if os.environ.get("FAKE_FAIL_AFTER") == str(count):
        sys.exit("RuntimeError: CUDA out of memory (fake DynamiCrafter)")
    name = os.path.basename(image).split(".")[0]
    write_mp4(os.path.join(out, f"{name}_sample0.mp4"), image_frames(image, args.video_length, (args.height, args.width)))

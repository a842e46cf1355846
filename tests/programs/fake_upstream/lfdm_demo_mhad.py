import sys
sys.path.append("/workspace/code/CVPR23_LFDM")  # change this to your code directory

import argparse
import os

import numpy as np

from fake_common import image_frames, log_argv, write_gif

root_dir = '/data/hfn5052/text2motion/cvpr23/demo_mhad'
postfix = "-j-sl-random-of-tr-rmm"
RESTORE_FROM = "/data/hfn5052/text2motion/videoflowdiff/snapshots-joint-steplr-random-onlyflow-train-regionmm/" \
               "flowdiff_0006_S086400.pth"
AE_RESTORE_FROM = "/data/hfn5052/text2motion/RegionMM/log/mhad128/snapshots/RegionMM_0100_S043100.pth"
config_pth = "/workspace/code/CVPR23_LFDM/config/mug128.yaml"
CKPT_DIR = os.path.join(root_dir, "demo"+postfix)
os.makedirs(CKPT_DIR, exist_ok=True)
cond_scale = 1.


def main():
    log_argv()
    parser = argparse.ArgumentParser()
    parser.add_argument("--gpu")
    parser.add_argument("--random-seed", type=int)
    parser.parse_args()
    for path in (RESTORE_FROM, AE_RESTORE_FROM, config_pth):
        assert os.path.isfile(path), path
    action_list = ["right arm swipe to the left",
                   "squat"]

    ref_img_path = "/workspace/code/CVPR23_LFDM/demo/mhad_examples/a11_s4_t1_000.png"
    ref_img_name = os.path.basename(ref_img_path)[:-4]
    for cnt, ref_text in enumerate(action_list):
        sample = image_frames(ref_img_path, 40, (32, 32))  # upstream: 128; small keeps the GIF quick
        # Five panels: source, sample, warped, grid, confidence.
        panels = [np.zeros_like(sample), sample, 255 - sample, np.zeros_like(sample), np.zeros_like(sample)]
        write_gif(os.path.join(CKPT_DIR, "%04d_%s_%.2f.gif" % (cnt, ref_img_name, cond_scale)), np.concatenate(panels, axis=2))


if __name__ == '__main__':
    main()

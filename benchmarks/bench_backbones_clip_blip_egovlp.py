"""Time the CLIP, BLIP and EgoVLP extractors per 15-frame 256² clip.

Full-size architectures with random weights (no download): CLIP ViT-L/14, BLIP-large
and BLIP-base captioners (plus the EgoVLP text head their extractors run), EgoVLP with
16 frames (``epic_mir_plus``) and 4 frames (``egovlp``). Random weights give the real
compute, except that a random captioner's beam search may stop at a different length
than a trained one (at most 20 tokens either way).

Usage::

    python benchmarks/bench_backbones_clip_blip_egovlp.py [--device cpu] [--repeats 2] [--only clip egovlp]
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np
import torch

FRAMES, SIZE = 15, 256


def clip_extractors(device: str) -> dict[str, Callable[[np.ndarray], object]]:
    from transformers import CLIPConfig

    from metrics.features.clip import ClipBackbone, ClipImageExtractor, ClipTextExtractor, tiny_clip_tokenizer

    tokenizer = tiny_clip_tokenizer()
    # openai/clip-vit-large-patch14's config (vocabulary 49408; the byte tokenizer uses its first 514 ids).
    text = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                max_position_embeddings=77, hidden_act="quick_gelu", bos_token_id=512, eos_token_id=513, pad_token_id=513)
    vision = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                  image_size=224, patch_size=14, hidden_act="quick_gelu")
    backbone = ClipBackbone.from_config(CLIPConfig(text_config=text, vision_config=vision, projection_dim=768), tokenizer, device=device)
    image, text_ex = ClipImageExtractor(backbone), ClipTextExtractor(backbone)
    return {
        "clip (ViT-L/14, 15 frames)": lambda v: image.extract([v]),
        "clip-text (1 prompt)": lambda v: text_ex.extract_text(["pick up the cup from the table"]),
    }


def egovlp_backbone(num_frames: int, device: str):
    from metrics.features.egovlp import EgoVLPBackbone

    return EgoVLPBackbone.from_config(dict(num_frames=num_frames), device=device)


def egovlp_extractors(device: str) -> dict[str, Callable[[np.ndarray], object]]:
    from metrics.features.egovlp import EgoVLPTextExtractor, EgoVLPVideoExtractor

    epic, ego4d = egovlp_backbone(16, device), egovlp_backbone(4, device)
    return {
        "egovlp (epic_mir_plus, 16 frames)": lambda v: EgoVLPVideoExtractor(epic).extract([v]),
        "egovlp-ego4d (egovlp, 4 frames)": lambda v: EgoVLPVideoExtractor(ego4d).extract([v]),
        "egovlp-text (1 prompt)": lambda v: EgoVLPTextExtractor(epic).extract_text(["pick up the cup from the table"]),
    }


def blip_extractors(device: str) -> dict[str, Callable[[np.ndarray], object]]:
    from transformers import BlipConfig

    from metrics.features.blip import BlipCaptioner, BlipLargeCaptionsExtractor, tiny_blip_tokenizer

    tokenizer = tiny_blip_tokenizer()
    ids = dict(bos_token_id=tokenizer.convert_tokens_to_ids("[DEC]"), pad_token_id=tokenizer.pad_token_id,
               sep_token_id=tokenizer.sep_token_id, eos_token_id=tokenizer.sep_token_id)
    text_head = egovlp_backbone(16, device)
    out = {}
    for size, (width, depth, heads) in {"large": (1024, 24, 16), "base": (768, 12, 12)}.items():
        # Salesforce/blip-image-captioning-{large,base}'s architecture.
        text = dict(vocab_size=30524, hidden_size=768, encoder_hidden_size=width, intermediate_size=3072,
                    num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=512, **ids)
        vision = dict(hidden_size=width, intermediate_size=4 * width, num_hidden_layers=depth, num_attention_heads=heads,
                      image_size=384, patch_size=16)
        captioner = BlipCaptioner.from_config(BlipConfig(text_config=text, vision_config=vision), tokenizer, device=device)
        extractor = BlipLargeCaptionsExtractor(captioner, text_head)
        out[f"blip-{size}-captions (15 captions + EgoVLP text)"] = lambda v, e=extractor: e.extract([v])
    return out


GROUPS = {"clip": clip_extractors, "egovlp": egovlp_extractors, "blip": blip_extractors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs after one warm-up")
    parser.add_argument("--only", nargs="*", choices=sorted(GROUPS), default=sorted(GROUPS))
    args = parser.parse_args()

    video = np.random.default_rng(0).integers(0, 256, (FRAMES, SIZE, SIZE, 3), dtype=np.uint8)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}; clip {list(video.shape)}")
    for group in args.only:
        for name, run in GROUPS[group](args.device).items():
            run(video)  # warm-up
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                run(video)
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - start)
            print(f"{name:50s} {np.median(times):8.3f} s/clip (median of {len(times)})", flush=True)


if __name__ == "__main__":
    main()

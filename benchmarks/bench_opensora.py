"""Seconds per clip and peak memory of the native Open-Sora 1.2 pipeline, random weights.

The published architecture (STDiT3-XL/2, the SDXL + temporal VAE, a T5-XXL-sized
encoder) with random weights, built on the device (no download), generating one
image-to-video clip at the native 256², 51 frames, 30 guided steps: random weights give
the real compute. ``--model tiny`` runs the test config (a smoke check on a CPU).

Usage::

    python benchmarks/bench_opensora.py [--device cuda] [--dtype bfloat16] [--text xxl|tiny] [--repeats 2]
    python benchmarks/bench_opensora.py --device cpu --model tiny --size 16 --frames 17 --steps 2
"""

from __future__ import annotations

import argparse
import time

import torch


def build(model: str, text: str, device: torch.device, dtype: torch.dtype):
    from transformers import T5Config, T5EncoderModel

    from adapters.diffusers_video.tiny_text import tiny_t5_tokenizer
    from adapters.opensora import config
    from adapters.opensora.loading import CONFIGS
    from adapters.opensora.pipeline import OpenSoraPipeline
    from adapters.opensora.stdit3 import STDiT3Model
    from adapters.opensora.text import T5Captions
    from adapters.opensora.vae import OpenSoraVAE

    stdit3, spatial, temporal = CONFIGS[model]
    tokenizer = tiny_t5_tokenizer()
    if text == "xxl":
        # google/t5-v1_1-xxl's encoder config (DeepFloyd's copy): 4.7 B parameters.
        t5 = T5Config(vocab_size=32128, d_model=4096, d_ff=10240, d_kv=64, num_layers=24, num_heads=64,
                      feed_forward_proj="gated-gelu", is_gated_act=True)
    else:
        t5 = T5Config(vocab_size=len(tokenizer), **{**config.T5_TINY, "d_model": stdit3["caption_channels"]})
    with torch.device(device):
        transformer = STDiT3Model(**stdit3).eval()
        vae = OpenSoraVAE.from_configs(spatial, temporal).eval()
        encoder = T5EncoderModel(t5).eval()
    # T5 in float32 as upstream runs it; the rest in the inference dtype.
    captions = T5Captions(encoder, tokenizer, stdit3["caption_tokens"])
    return OpenSoraPipeline(transformer, vae, captions, device, dtype).place()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bfloat16", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--model", default="published", choices=("published", "tiny"))
    parser.add_argument("--text", default="xxl", choices=("xxl", "tiny"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=51)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if args.model == "tiny" and args.text == "xxl":
        args.text = "tiny"
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    started = time.perf_counter()
    pipe = build(args.model, args.text, device, dtype)
    print(f"built {args.model} (text {args.text}) on {device} in {time.perf_counter() - started:.1f} s; "
          f"denoiser {sum(p.numel() for p in pipe.transformer.parameters()) / 1e9:.2f} B parameters")
    image = torch.rand(1, 3, args.size, args.size) * 2 - 1
    for repeat in range(args.repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        video = pipe(["a hand cuts a carrot"], [torch.Generator().manual_seed(repeat)], images=image, height=args.size,
                     width=args.size, num_frames=args.frames, num_steps=args.steps)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        peak = f", peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if device.type == "cuda" else ""
        print(f"clip {repeat}: {tuple(video.shape)} in {seconds:.1f} s ({args.steps} steps, {args.frames} frames, {args.size}²){peak}")


if __name__ == "__main__":
    main()

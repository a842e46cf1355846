"""Assemble a HANDI weights folder from stage outputs: `unet/` (HRL on) + `unet_no_hrl/` (HRL off).

Used by examples/train_handi_tiny.sh to build the committed `handi-tiny` folder: the
HRL-on stage-2 pipeline (which already carries stage 1's ``mask_unet``, the VAE, the
text encoder and the prior mask), plus the HRL-off run's ``unet`` as ``unet_no_hrl``.
The tokenizer folder is left out when it equals the offline-built CLIP tokenizer.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def assemble(pipeline: Path, no_hrl: Path | None, out: Path, dtype: str = "float32", summaries: list[Path] = ()) -> Path:
    import torch

    from handi.loading import load_handi_pipeline
    from handi.models.unet import HandiUNet3DConditionModel

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe = load_handi_pipeline(pipeline)
    torch_dtype = getattr(torch, dtype)
    pipe.to(dtype=torch_dtype)
    pipe.save_pretrained(tmp, safe_serialization=True)
    shutil.rmtree(tmp / "tokenizer", ignore_errors=True)  # rebuilt offline (handi.text.clip_bpe_tokenizer)
    if no_hrl is not None:
        unet = HandiUNet3DConditionModel.from_pretrained(no_hrl / "unet", torch_dtype=torch_dtype)
        unet.save_pretrained(tmp / "unet_no_hrl", safe_serialization=True)
    provenance = {"pipeline": str(pipeline), "unet_no_hrl": str(no_hrl / "unet") if no_hrl else None, "dtype": dtype,
                  "training": [json.loads(Path(s).read_text()) for s in summaries]}
    (tmp / "TRAINING.json").write_text(json.dumps(provenance, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", type=Path, required=True, help="stage-2 (HRL on) output pipeline folder")
    parser.add_argument("--no-hrl", type=Path, default=None, help="stage-2 (HRL off) output pipeline folder")
    parser.add_argument("--out", type=Path, required=True, help="weights folder to write")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--summaries", type=Path, nargs="*", default=[], help="summary.json of each training run (provenance)")
    args = parser.parse_args()
    out = assemble(args.pipeline, args.no_hrl, args.out, args.dtype, args.summaries)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"weights: {out} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()

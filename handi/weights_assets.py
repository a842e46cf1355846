"""The HANDI and AnimateAnything weights, declared as assets (folders, not single files).

Both are released as tarballs on the authors' servers (no hub id), extracting to
diffusers-style folders (``scheduler/ tokenizer/ text_encoder/ vae/ unet/``). The tiny
HANDI trained on the demo split ships inside this package.
"""

from __future__ import annotations

from pathlib import Path

from hcvg.assets import Asset

ANIMATE_ANYTHING = Asset(
    name="animate-anything",
    filename="animate_anything_512_v1.02",
    description="AnimateAnything 512 v1.02 (ModelScope 1.7B 3D UNet + mask channel + motion strength); HANDI's initialization",
    official_url="https://cloudbook-public-production.oss-cn-shanghai.aliyuncs.com/animation/animate_anything_512_v1.02.tar",
    env_var="HCVG_ANIMATE_ANYTHING",
    directory=True,
)

HANDI_IVG = Asset(
    name="handi-ivg",
    filename="IVG_1.0",
    description="HANDI's released stage-2 video weights (IVG_1.0; no stage-1 mask model is released)",
    official_url="https://prism.eecs.umich.edu/zhicao/IVG/IVG_1.0.tar.gz",
    env_var="HCVG_HANDI_WEIGHTS",
    how_to_get="or train both stages here: `hcvg train handi --stage 1|2 --config FILE` (see README, 'Training HANDI')",
    directory=True,
)

#: The committed tiny model (trained on the demo split by examples/train_handi_tiny.sh).
TINY_WEIGHTS_DIR = Path(__file__).parent / "weights" / "handi-tiny"

HANDI_TINY = Asset(
    name="handi-tiny",
    filename="handi-tiny",
    description="tiny HANDI (64², 8² latents) trained on the demo split on a CPU; ships in the package",
    env_var="HCVG_HANDI_TINY",
    how_to_get=f"it ships inside the package at {TINY_WEIGHTS_DIR}; retrain with examples/train_handi_tiny.sh",
    directory=True,
)

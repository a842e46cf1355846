"""The released DynamiCrafter 256 checkpoint, declared as an asset (no torch import).

Registered in pyproject.toml's ``hcvg.assets`` group, so ``hcvg assets list`` shows it
and ``hcvg assets fetch dynamicrafter-256`` puts it in the hub cache.
"""

from __future__ import annotations

from hcvg.assets import Asset

DYNAMICRAFTER_256 = Asset(
    name="dynamicrafter-256",
    filename="dynamicrafter_256_model.ckpt",
    description="DynamiCrafter 256x256 image-to-video (1.4 B UNet, Resampler, SD VAE and both OpenCLIP ViT-H/14 towers; ~10 GB)",
    official_url="https://huggingface.co/Doubiiu/DynamiCrafter/resolve/main/model.ckpt",
    env_var="HCVG_DYNAMICRAFTER_256",
    hf_repo="Doubiiu/DynamiCrafter",
    hf_filename="model.ckpt",
    how_to_get="or pass the dynamicrafter adapter option checkpoint=/path/to/model.ckpt",
)

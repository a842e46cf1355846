"""The official Open-Sora 1.2 weights, declared as assets (``hcvg assets list`` shows them).

Registered in pyproject.toml's ``hcvg.assets`` group. No sha256 is pinned: the hub's
LFS digests were not verified here, and an invented pin would reject the real files.
"""

from __future__ import annotations

from hcvg.assets import Asset

OPENSORA_STDIT3 = Asset(
    name="opensora-stdit-v3",
    filename="OpenSora-STDiT-v3.safetensors",
    description="Open-Sora 1.2 denoiser STDiT3-XL/2 (1.1 B), the hub repo's model.safetensors",
    official_url="https://huggingface.co/hpcai-tech/OpenSora-STDiT-v3",
    env_var="HCVG_OPENSORA_STDIT3",
    hf_repo="hpcai-tech/OpenSora-STDiT-v3",
    hf_filename="model.safetensors",
    how_to_get="or pass the open-sora adapter option transformer=/path/to/OpenSora-STDiT-v3/model.safetensors",
)
OPENSORA_VAE = Asset(
    name="opensora-vae-v1.2",
    filename="OpenSora-VAE-v1.2.safetensors",
    description="Open-Sora 1.2 video VAE (SDXL image VAE + temporal VAE, 384 M), the hub repo's model.safetensors",
    official_url="https://huggingface.co/hpcai-tech/OpenSora-VAE-v1.2",
    env_var="HCVG_OPENSORA_VAE",
    hf_repo="hpcai-tech/OpenSora-VAE-v1.2",
    hf_filename="model.safetensors",
    how_to_get="or pass the open-sora adapter option vae=/path/to/OpenSora-VAE-v1.2/model.safetensors",
)
T5_V1_1_XXL = Asset(
    name="t5-v1_1-xxl",
    filename="t5-v1_1-xxl",
    description="T5 v1.1 XXL (DeepFloyd's copy, 4.7 B encoder): Open-Sora 1.2's text encoder, a transformers folder",
    official_url="https://huggingface.co/DeepFloyd/t5-v1_1-xxl",
    env_var="HCVG_T5_V1_1_XXL",
    hf_repo="DeepFloyd/t5-v1_1-xxl",
    hf_filename="config.json",
    directory=True,
    how_to_get="or pass the open-sora adapter option text_encoder=/path/to/t5-v1_1-xxl (a folder with config.json, weights and spiece.model)",
)

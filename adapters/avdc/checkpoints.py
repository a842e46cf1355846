"""AVDC's released files, declared as assets: the three checkpoints and the CLIP text encoder.

The checkpoints are the ones the upstream README links (``Po-Chen/flowdiffusion`` on the
hub, ``ckpts/{metaworld,ithor,bridge}/model-N.pt``; ``download.sh`` fetches the same
URLs); no digest is published, so none is pinned. The text encoder is the transformers
folder of ``openai/clip-vit-base-patch32`` that every training script loads, found by
its ``config.json`` (the model and tokenizer load from that file's folder). Registered
in pyproject.toml's ``hcvg.assets`` group, so ``hcvg assets list`` shows them without
importing torch.
"""

from __future__ import annotations

from hcvg.assets import Asset

_REPO = "Po-Chen/flowdiffusion"


def _checkpoint(variant: str, filename: str, what: str) -> Asset:
    env = f"HCVG_AVDC_{variant.upper()}"
    return Asset(
        name=f"avdc-{variant}",
        filename=f"avdc-{variant}-{filename}",
        description=f"AVDC video diffusion, {what} (Trainer checkpoint: model, ema, opt)",
        official_url=f"https://huggingface.co/{_REPO}/resolve/main/ckpts/{variant}/{filename}",
        env_var=env,
        hf_repo=_REPO,
        hf_filename=f"ckpts/{variant}/{filename}",
        how_to_get=f"or pass the avdc adapter option weights=/path/to/{filename} (or a folder saved by `hcvg train avdc`)",
    )


AVDC_METAWORLD = _checkpoint("metaworld", "model-24.pt", "Meta-World (128x128, 7 frames)")
AVDC_ITHOR = _checkpoint("ithor", "model-30.pt", "iTHOR (64x64, 7 frames)")
AVDC_BRIDGE = _checkpoint("bridge", "model-42.pt", "Bridge (48x64, 6 frames)")
#: The released checkpoint of each variant.
CHECKPOINTS: dict[str, Asset] = {"metaworld": AVDC_METAWORLD, "ithor": AVDC_ITHOR, "bridge": AVDC_BRIDGE}

CLIP_VIT_B_32 = Asset(
    name="clip-vit-b-32",
    filename="clip-vit-base-patch32/config.json",
    description="OpenAI CLIP ViT-B/32, transformers folder; AVDC's text encoder (last hidden state, 512-d)",
    env_var="HCVG_CLIP_VIT_B_32",
    hf_repo="openai/clip-vit-base-patch32",
    hf_filename="config.json",
    how_to_get=(
        "`huggingface-cli download openai/clip-vit-base-patch32` (fills the hub cache), or save CLIPTextModel and "
        "CLIPTokenizer with save_pretrained into one folder and set HCVG_CLIP_VIT_B_32=/that/folder/config.json"
    ),
)

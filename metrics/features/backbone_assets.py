"""Weight files of the CLIP, BLIP and EgoVLP backbones, declared as assets.

Kept apart from the extractors so that ``hcvg assets list`` imports neither torch nor
transformers. Two kinds of asset:

* a transformers model folder (config, weights, tokenizer), named by its
  ``config.json``: the model is loaded from that file's folder. Found via the env var
  (pointing at the folder's ``config.json``), the asset cache
  (``$HCVG_ASSET_DIR/<folder>/config.json``) or the Hugging Face hub cache.
* a single checkpoint file (EgoVLP's ``.pth``, BLIP's original ``.pth``).
"""

from __future__ import annotations

from hcvg.assets import Asset

_HUB_FOLDER = (
    "`huggingface-cli download {repo}` (fills the hub cache), or save the model and its "
    "processor with save_pretrained into a folder and set {env}=/that/folder/config.json"
)

CLIP_VIT_L_14 = Asset(
    name="clip-vit-l-14",
    filename="clip-vit-large-patch14/config.json",
    description="OpenAI CLIP ViT-L/14 (QuickGELU), transformers folder; CLIP_GT / CLIP_Cs / CLIP_Tx",
    env_var="HCVG_CLIP_VIT_L_14",
    how_to_get=_HUB_FOLDER.format(repo="openai/clip-vit-large-patch14", env="HCVG_CLIP_VIT_L_14"),
    hf_repo="openai/clip-vit-large-patch14",
    hf_filename="config.json",
)

BLIP_CAPTION_LARGE = Asset(
    name="blip-caption-large",
    filename="blip-image-captioning-large/config.json",
    description="BLIP ViT-L captioner (COCO), transformers folder; the BLIP-large score",
    env_var="HCVG_BLIP_CAPTION_LARGE",
    how_to_get=_HUB_FOLDER.format(repo="Salesforce/blip-image-captioning-large", env="HCVG_BLIP_CAPTION_LARGE"),
    hf_repo="Salesforce/blip-image-captioning-large",
    hf_filename="config.json",
)

BLIP_CAPTION_BASE = Asset(
    name="blip-caption-base",
    filename="blip-image-captioning-base/config.json",
    description="BLIP ViT-B captioner (COCO), transformers folder; the BLIP-base score",
    env_var="HCVG_BLIP_CAPTION_BASE",
    how_to_get=_HUB_FOLDER.format(repo="Salesforce/blip-image-captioning-base", env="HCVG_BLIP_CAPTION_BASE"),
    hf_repo="Salesforce/blip-image-captioning-base",
    hf_filename="config.json",
)

_BLIP_URL = "https://storage.googleapis.com/sfr-vision-language-research/BLIP/models/{}"

BLIP_ORIGINAL_LARGE = Asset(
    name="blip-original-large-caption",
    filename="model_large_caption.pth",
    description="Salesforce's original BLIP ViT-L COCO captioner checkpoint (LEGO's BLIP-large)",
    official_url=_BLIP_URL.format("model_large_caption.pth"),
    env_var="HCVG_BLIP_ORIGINAL_LARGE",
    how_to_get="listed in github.com/salesforce/BLIP's README (Finetuned checkpoints: Image-Text Captioning)",
)

BLIP_ORIGINAL_BASE = Asset(
    name="blip-original-base-caption",
    filename="model_base_caption_capfilt_large.pth",
    description="Salesforce's original BLIP ViT-B COCO captioner checkpoint, CapFilt-L (LEGO's BLIP-base)",
    official_url=_BLIP_URL.format("model_base_caption_capfilt_large.pth"),
    env_var="HCVG_BLIP_ORIGINAL_BASE",
    how_to_get="listed in github.com/salesforce/BLIP's README (Finetuned checkpoints: Image-Text Captioning)",
)

_EGOVLP_HOW = (
    "EgoVLP's checkpoints are shared on Google Drive from github.com/showlab/EgoVLP's README "
    "({what}); download {file} by hand"
)

EGOVLP_EGO4D = Asset(
    name="egovlp",
    filename="egovlp.pth",
    description="EgoVLP pretrained on EgoClip (4 frames); the EgoVLP score on Ego4D",
    env_var="HCVG_EGOVLP",
    how_to_get=_EGOVLP_HOW.format(what="Pretrained weights", file="egovlp.pth"),
)

EGOVLP_EPIC = Asset(
    name="egovlp-epic-mir",
    filename="epic_mir_plus.pth",
    description="EgoVLP fine-tuned on EPIC-KITCHENS-100 multi-instance retrieval (16 frames); the EgoVLP score on EPIC",
    env_var="HCVG_EGOVLP_EPIC",
    how_to_get=_EGOVLP_HOW.format(what="Downstream: EPIC-Kitchens MIR", file="epic_mir_plus.pth"),
)

DISTILBERT_VOCAB = Asset(
    name="distilbert-base-uncased-vocab",
    filename="distilbert-base-uncased/vocab.txt",
    description="WordPiece vocabulary of distilbert-base-uncased, EgoVLP's text tokenizer",
    official_url="https://huggingface.co/distilbert/distilbert-base-uncased/resolve/main/vocab.txt",
    env_var="HCVG_DISTILBERT_VOCAB",
    hf_repo="distilbert/distilbert-base-uncased",
    hf_filename="vocab.txt",
)

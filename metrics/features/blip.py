"""BLIP captions of each frame, embedded with EgoVLP's text head, for the BLIP score.

LEGO's BLIP score (github.com/BolinLai/LEGO, its metrics script) captions every
generated frame with Salesforce's BLIP captioner, then compares the caption with the
action description through EgoVLP's text encoder. Its captioning protocol, kept here:

* frame resized to 384 × 384, bicubic, as an 8-bit PIL image (antialiased), then
  normalized with CLIP's mean and std;
* prompt ``"a picture of"``, beam search with 3 beams, ``min_length=5``,
  ``max_length=20`` (both counting the prompt's tokens, as in BLIP's ``generate``),
  no sampling, repetition penalty 1; the prompt is cut from the decoded caption.

The captioner is transformers' ``BlipForConditionalGeneration``. Weights, recorded in
``config()["weights"]``:

* ``source="hub"`` (default): ``Salesforce/blip-image-captioning-large`` / ``-base``;
* ``source="original"``: LEGO's files, ``model_large_caption.pth`` /
  ``model_base_caption_capfilt_large.pth``, with their keys renamed onto transformers'
  BLIP as transformers' ``convert_blip_original_pytorch_to_hf.py`` does (config and
  tokenizer still come from the hub folder of the same size).

The extractors ``blip-large-captions`` / ``blip-base-captions`` return, per clip, the
EgoVLP text embeddings of the T captions, float32 ``[T, 256]`` (``epic_mir_plus``'s text
head by default, as LEGO uses the split's EgoVLP checkpoint).
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from hcvg.assets import Asset, resolve_asset
from hcvg.errors import require
from metrics.features.torch_runtime import FrozenModel, autocast, default_device, numerics
from metrics.features.backbone_assets import BLIP_CAPTION_BASE, BLIP_CAPTION_LARGE, BLIP_ORIGINAL_BASE, BLIP_ORIGINAL_LARGE
from metrics.features.base import FeatureExtractor
from metrics.features.egovlp import Checkpoint, EgoVLPBackbone, tiny_wordpiece_vocab
from metrics.features.image_preprocessing import CLIP_MEAN, CLIP_STD, check_clip, preprocess_frames

logger = logging.getLogger(__name__)

Size = Literal["large", "base"]
Source = Literal["hub", "original"]
HUB_ASSETS: dict[str, Asset] = {"large": BLIP_CAPTION_LARGE, "base": BLIP_CAPTION_BASE}
ORIGINAL_ASSETS: dict[str, Asset] = {"large": BLIP_ORIGINAL_LARGE, "base": BLIP_ORIGINAL_BASE}

# LEGO's generation settings (BLIP's blip_decoder / generate arguments).
PROMPT = "a picture of"
NUM_BEAMS = 3
MIN_LENGTH = 5
MAX_LENGTH = 20
IMAGE_SIZE = 384
BATCH_SIZE = 30  # LEGO captions 30 frames per batch


def original_blip_key(key: str) -> str:
    """Rename one key of an original BLIP checkpoint to transformers' BLIP.

    The renames of transformers' ``convert_blip_original_pytorch_to_hf.py``: the ViT
    (``visual_encoder``) becomes ``vision_model``; the text decoder keeps its names.
    """
    key = re.sub(r"^visual_encoder", "vision_model.encoder", key)
    key = key.replace("blocks", "layers")
    key = re.sub(r"\.attn\.", ".self_attn.", key)
    key = key.replace("norm1", "layer_norm1").replace("norm2", "layer_norm2")
    key = key.replace("vision_model.encoder.norm.", "vision_model.post_layernorm.")
    key = key.replace("encoder.patch_embed.proj", "embeddings.patch_embedding")
    key = key.replace("encoder.pos_embed", "embeddings.position_embedding")
    key = key.replace("encoder.cls_token", "embeddings.class_embedding")
    return key.replace("self_attn.proj", "self_attn.projection")


def load_original_blip_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """An original Salesforce BLIP captioner checkpoint (``{"model": state_dict}``), keys renamed."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state = checkpoint.get("model", checkpoint)
    return {original_blip_key(k): v for k, v in state.items()}


def tiny_blip_tokenizer() -> Any:
    """A BERT WordPiece tokenizer over `tiny_wordpiece_vocab` plus BLIP's ``[DEC]`` token."""
    require("transformers", "models", "the BLIP captioner")
    from transformers import BertTokenizer

    vocab = tiny_wordpiece_vocab()
    vocab["[DEC]"] = len(vocab)
    return BertTokenizer(vocab=vocab, do_lower_case=True, bos_token="[DEC]")


def tiny_blip_config() -> Any:
    """A 2-layer, 32-wide BLIP captioner (32 px images, 8 px patches) matching `tiny_blip_tokenizer`."""
    require("transformers", "models", "the BLIP captioner")
    from transformers import BlipConfig

    tokenizer = tiny_blip_tokenizer()
    text = dict(
        vocab_size=len(tokenizer), hidden_size=32, encoder_hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=64, bos_token_id=tokenizer.convert_tokens_to_ids("[DEC]"),
        pad_token_id=tokenizer.pad_token_id, sep_token_id=tokenizer.sep_token_id, eos_token_id=tokenizer.sep_token_id,
    )
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8)
    return BlipConfig(text_config=text, vision_config=vision, projection_dim=16)


class BlipCaptioner(FrozenModel):
    """transformers' ``BlipForConditionalGeneration`` with LEGO's captioning protocol.

    Args:
        model: The captioner (put in eval mode and moved to ``device`` here).
        tokenizer: Its BERT tokenizer (``[DEC]`` as BOS).
        weights: What the weights are, for the run config.
        device: Torch device.
        batch_size: Frames per ``generate`` call.
    """

    def __init__(self, model: Any, tokenizer: Any, weights: str, device: str | torch.device = "cpu", batch_size: int = BATCH_SIZE):
        super().__init__(model, tokenizer, weights, device)
        self.batch_size = int(batch_size)
        self.image_size = int(model.config.vision_config.image_size)

    @classmethod
    def from_pretrained(cls, size: Size = "large", source: Source = "hub", path: str | Path | None = None, folder: str | Path | None = None, device: str | torch.device = "cpu") -> "BlipCaptioner":
        """Load a BLIP captioner from local files; never downloads.

        Args:
            size: "large" (ViT-L) or "base" (ViT-B).
            source: "hub" (transformers folder's weights) or "original" (Salesforce's ``.pth``).
            path: Explicit ``.pth`` for ``source="original"`` (None: resolve the asset).
            folder: Explicit transformers folder, or its ``config.json`` (None: resolve the asset).
            device: Torch device.

        Raises:
            AssetNotFoundError: If a file is not found locally.
            RuntimeError: If original weights leave non-tied parameters unset.
        """
        require("transformers", "models", "the BLIP captioner")
        from transformers import AutoTokenizer, BlipForConditionalGeneration

        if size not in HUB_ASSETS or source not in ("hub", "original"):
            raise ValueError(f"size must be 'large' or 'base' and source 'hub' or 'original', got {size!r}, {source!r}")
        if folder is not None and Path(folder).is_dir():
            folder = Path(folder) / "config.json"
        hub_dir = resolve_asset(HUB_ASSETS[size], folder).parent
        model = BlipForConditionalGeneration.from_pretrained(hub_dir, local_files_only=True)
        weights = f"hub: {hub_dir}"
        if source == "original":
            file = resolve_asset(ORIGINAL_ASSETS[size], path)
            result = model.load_state_dict(load_original_blip_state_dict(file), strict=False)
            tied = {"text_decoder.cls.predictions.decoder.weight", "text_decoder.cls.predictions.decoder.bias"}
            missing = [k for k in result.missing_keys if k not in tied]
            if missing:
                raise RuntimeError(f"{file} leaves {len(missing)} parameters unset, e.g. {missing[:5]}")
            if result.unexpected_keys:
                logger.info("%s: ignoring %d keys with no counterpart, e.g. %s", file, len(result.unexpected_keys), result.unexpected_keys[:5])
            weights = f"original: {file} (config and tokenizer: {hub_dir})"
        tokenizer = AutoTokenizer.from_pretrained(hub_dir, local_files_only=True)
        return cls(model, tokenizer, weights=weights, device=device)

    @classmethod
    def from_config(cls, config: Any, tokenizer: Any = None, device: str | torch.device = "cpu", seed: int = 0) -> "BlipCaptioner":
        """``BlipForConditionalGeneration(config)`` with random weights; ``tokenizer`` None uses `tiny_blip_tokenizer`."""
        require("transformers", "models", "the BLIP captioner")
        from transformers import BlipForConditionalGeneration

        torch.manual_seed(seed)
        return cls(BlipForConditionalGeneration(config), tokenizer or tiny_blip_tokenizer(), weights="random", device=device)

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def shared(size: Size = "large", source: Source = "hub", device: str = "cpu") -> "BlipCaptioner":
        """One pretrained captioner per (size, source, device) per process."""
        return BlipCaptioner.from_pretrained(size, source, device=device)

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def tiny() -> "BlipCaptioner":
        """The shared tiny random captioner for tests (`tiny_blip_config`)."""
        return BlipCaptioner.from_config(tiny_blip_config())

    def generation_kwargs(self) -> dict[str, Any]:
        """LEGO's ``generate`` settings."""
        return dict(
            num_beams=NUM_BEAMS, min_length=MIN_LENGTH, max_length=MAX_LENGTH, do_sample=False,
            repetition_penalty=1.0, length_penalty=1.0, early_stopping=False,
        )

    def config(self) -> dict[str, Any]:
        """Weights, preprocessing and generation settings, for the run config."""
        return {
            "architecture": "transformers BlipForConditionalGeneration",
            "weights": self.weights,
            "preprocessing": {
                "resize": f"{self.image_size}x{self.image_size} bicubic, antialiased, 8-bit (PIL-like), no crop",
                "normalize": {"mean": list(CLIP_MEAN), "std": list(CLIP_STD)},
            },
            "prompt": PROMPT,
            "generation": self.generation_kwargs(),
            "caption": "decoded without special tokens, prompt removed",
            **numerics(self.device, uses_autocast=True),
        }

    def caption_clips(self, videos: list[np.ndarray]) -> list[list[str]]:
        """Captions of every frame of several clips, frames of all clips batched together.

        Each ``generate`` call takes ``batch_size`` frames whatever clip they come from;
        beam search keeps separate beams per frame, so a frame's caption does not depend
        on its batch (to float rounding of the scores, which decides a tie only between
        beams whose log-probabilities agree to ~1e-6).

        Args:
            videos: uint8 ``[T_i, H, W, 3]`` RGB clips in [0, 255].

        Returns:
            ``T_i`` captions per clip, without the prompt.
        """
        for video in videos:
            check_clip(video)
        if len({v.shape[1:] for v in videos}) > 1:  # frames of different sizes: clip by clip
            return [self.caption(video) for video in videos]
        if not videos:
            return []
        captions = self.caption(np.concatenate(videos))
        ends = np.cumsum([len(v) for v in videos])
        return [captions[end - len(v) : end] for v, end in zip(videos, ends)]

    @torch.inference_mode()
    def caption(self, frames: np.ndarray) -> list[str]:
        """One caption per frame.

        Args:
            frames: uint8 ``[T, H, W, 3]`` RGB frames in [0, 255].

        Returns:
            T captions, without the prompt.
        """
        check_clip(frames)
        prompt = self.tokenizer([PROMPT], return_tensors="pt")
        captions: list[str] = []
        for start in range(0, len(frames), self.batch_size):
            pixels = preprocess_frames(
                frames[start : start + self.batch_size], self.image_size, CLIP_MEAN, CLIP_STD,
                interpolation="bicubic", antialias=True, pil_like=True,
            ).to(self.device)
            n = len(pixels)
            with autocast(self.device):
                ids = self.model.generate(
                    pixel_values=pixels,
                    input_ids=prompt["input_ids"].repeat(n, 1).to(self.device),
                    attention_mask=prompt["attention_mask"].repeat(n, 1).to(self.device),
                    **self.generation_kwargs(),
                )
            for text in self.tokenizer.batch_decode(ids, skip_special_tokens=True):
                captions.append(text[len(PROMPT) :].strip() if text.startswith(PROMPT) else text.strip())
        return captions


class _BlipCaptionsExtractor(FeatureExtractor):
    """EgoVLP text embeddings of BLIP's per-frame captions: float32 ``[T, 256]``.

    Args:
        captioner: A loaded captioner. None: the process-wide pretrained one.
        text_head: A loaded EgoVLP backbone. None: the process-wide pretrained one.
        source: "hub" or "original" BLIP weights (when ``captioner`` is None).
        egovlp: EgoVLP checkpoint of the text head, "epic" or "ego4d" (when ``text_head`` is None).
        device: Torch device.
    """

    size: ClassVar[Size] = "large"
    kind: ClassVar[Literal["video", "text"]] = "video"

    def __init__(self, captioner: BlipCaptioner | None = None, text_head: EgoVLPBackbone | None = None, source: Source = "hub", egovlp: Checkpoint = "epic", device: str | None = None):
        device = str(device or default_device())  # the GPU when there is one
        self.captioner = captioner if captioner is not None else BlipCaptioner.shared(self.size, source, str(device))
        self.text_head = text_head if text_head is not None else EgoVLPBackbone.shared(egovlp, None, str(device))
        self.last_captions: list[list[str]] = []  # captions of the last `extract` call, for inspection

    @classmethod
    def for_tests(cls) -> "_BlipCaptionsExtractor":
        return cls(BlipCaptioner.tiny(), EgoVLPBackbone.tiny())

    def config(self) -> dict[str, Any]:
        return {"captioner": self.captioner.config(), "text_head": self.text_head.config()}

    def weights_digest(self) -> str:
        return f"captioner {self.captioner.weights_digest()}, text head {self.text_head.weights_digest()}"

    def extract(self, videos: list[np.ndarray]) -> list[np.ndarray]:
        self.last_captions = self.captioner.caption_clips(videos)
        if not videos:
            return []
        # Every caption of the batch in one call: repeated captions are embedded once.
        flat = self.text_head.embed_texts([c for captions in self.last_captions for c in captions])
        return np.split(flat, np.cumsum([len(c) for c in self.last_captions])[:-1])


class BlipLargeCaptionsExtractor(_BlipCaptionsExtractor):
    """BLIP-large captions (LEGO's ``model_large_caption``), embedded by EgoVLP: ``[T, 256]``."""

    name: ClassVar[str] = "blip-large-captions"
    size: ClassVar[Size] = "large"


class BlipBaseCaptionsExtractor(_BlipCaptionsExtractor):
    """BLIP-base captions (LEGO's ``model_base_caption_capfilt_large``), embedded by EgoVLP: ``[T, 256]``."""

    name: ClassVar[str] = "blip-base-captions"
    size: ClassVar[Size] = "base"

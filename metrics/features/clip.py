"""CLIP ViT-L/14 (OpenAI weights) image and text embeddings, for CLIP_GT, CLIP_Cs and CLIP_Tx.

The model is transformers' ``CLIPModel`` (``openai/clip-vit-large-patch14``, whose
config sets ``hidden_act="quick_gelu"`` as OpenAI trained it); torchmetrics'
``CLIPScore`` runs the same class, so CLIP_Tx can be checked against it.

Preprocessing follows LEGO, whose CLIP similarity is InstructPix2Pix's
``ClipSimilarity``: the whole frame, as float in [0, 1], is resized to 224 × 224 with
``torch.nn.functional.interpolate(mode="bicubic", align_corners=False)`` (no crop, no
antialiasing, no clamping), then normalized with CLIP's mean and std. Text is
tokenized by the model's own CLIP tokenizer, truncated to 77 tokens.

Two extractors share one loaded model per process (see `ClipBackbone.shared`):
``clip`` maps a clip to L2-normalized per-frame embeddings ``[T, 768]`` and
``clip-text`` (kind "text") maps prompts to L2-normalized embeddings ``[N, 768]``.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from hcvg.assets import resolve_asset
from hcvg.errors import require
from metrics.features.torch_runtime import FrozenModel, autocast, default_device, numerics
from metrics.features.backbone_assets import CLIP_VIT_L_14
from metrics.features.base import FeatureExtractor
from metrics.features.image_preprocessing import CLIP_MEAN, CLIP_STD, check_clip, preprocess_frames

logger = logging.getLogger(__name__)

MAX_TEXT_TOKENS = 77  # CLIP's context length
PREPROCESSING = {
    "resize": "whole frame to image_size x image_size, torch interpolate bicubic, align_corners=False, no antialias",
    "crop": "none",
    "normalize": {"mean": list(CLIP_MEAN), "std": list(CLIP_STD)},
    "reference": "LEGO / InstructPix2Pix ClipSimilarity",
}


def tiny_clip_tokenizer() -> Any:
    """A byte-level CLIP tokenizer with no merges (514 tokens), built in memory for tests.

    Every byte is a token, with and without CLIP's ``</w>`` end-of-word suffix, then
    ``<|startoftext|>`` (512) and ``<|endoftext|>`` (513). No file is read.
    """
    from tokenizers.pre_tokenizers import ByteLevel
    require("transformers", "models", "the CLIP backbone")
    from transformers import CLIPTokenizer

    alphabet = sorted(ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(alphabet)}
    vocab.update({c + "</w>": i + len(alphabet) for i, c in enumerate(alphabet)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=MAX_TEXT_TOKENS)


def tiny_clip_config() -> Any:
    """A 2-layer, 32-wide CLIP (32 px images, 8 px patches) matching `tiny_clip_tokenizer`."""
    require("transformers", "models", "the CLIP backbone")
    from transformers import CLIPConfig

    tower = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, hidden_act="quick_gelu")
    text = dict(tower, vocab_size=514, max_position_embeddings=MAX_TEXT_TOKENS, bos_token_id=512, eos_token_id=513, pad_token_id=513)
    return CLIPConfig(text_config=text, vision_config=dict(tower, image_size=32, patch_size=8), projection_dim=16)


class ClipBackbone(FrozenModel):
    """A transformers ``CLIPModel`` with its tokenizer and LEGO's preprocessing.

    Args:
        model: The CLIP model (put in eval mode and moved to ``device`` here).
        tokenizer: Its CLIP tokenizer.
        weights: What the weights are, for the run config (a path, or "random").
        device: Torch device to run on.
        batch_size: Frames per forward pass.
    """

    def __init__(self, model: Any, tokenizer: Any, weights: str, device: str | torch.device = "cpu", batch_size: int = 32):
        super().__init__(model, tokenizer, weights, device)
        self.batch_size = int(batch_size)
        self.image_size = int(model.config.vision_config.image_size)

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str | torch.device = "cpu") -> "ClipBackbone":
        """Load OpenAI's CLIP ViT-L/14 from a local transformers folder; never downloads.

        Args:
            path: The folder's ``config.json`` (or the folder). None: resolve the
                ``clip-vit-l-14`` asset (``$HCVG_CLIP_VIT_L_14``, the asset cache, the hub cache).
            device: Torch device.

        Raises:
            AssetNotFoundError: If no local copy is found.
        """
        require("transformers", "models", "the CLIP backbone")
        from transformers import CLIPModel, CLIPTokenizer

        if path is not None and Path(path).is_dir():
            path = Path(path) / "config.json"
        folder = resolve_asset(CLIP_VIT_L_14, path).parent
        model = CLIPModel.from_pretrained(folder, local_files_only=True)
        if model.config.vision_config.hidden_act != "quick_gelu":
            logger.warning("CLIP at %s uses %s, not OpenAI's quick_gelu", folder, model.config.vision_config.hidden_act)
        tokenizer = CLIPTokenizer.from_pretrained(folder, local_files_only=True)
        return cls(model, tokenizer, weights=str(folder), device=device)

    @classmethod
    def from_config(cls, config: Any, tokenizer: Any = None, device: str | torch.device = "cpu", seed: int = 0) -> "ClipBackbone":
        """The CLIP architecture of ``config`` (a transformers ``CLIPConfig``) with random weights.

        Args:
            config: The model config.
            tokenizer: Its tokenizer; None uses `tiny_clip_tokenizer` (vocabulary of 514).
            device: Torch device.
            seed: Seed of the random weights.
        """
        require("transformers", "models", "the CLIP backbone")
        from transformers import CLIPModel

        torch.manual_seed(seed)
        return cls(CLIPModel(config), tokenizer or tiny_clip_tokenizer(), weights="random", device=device)

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def shared(path: str | None = None, device: str = "cpu") -> "ClipBackbone":
        """One pretrained backbone per (path, device) per process, shared by ``clip`` and ``clip-text``."""
        return ClipBackbone.from_pretrained(path, device)

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def tiny() -> "ClipBackbone":
        """The shared tiny random backbone for tests (`tiny_clip_config`)."""
        return ClipBackbone.from_config(tiny_clip_config())

    def config(self) -> dict[str, Any]:
        """Weights and preprocessing, for the run config."""
        return {
            "architecture": "transformers CLIPModel",
            "weights": self.weights,
            "hidden_act": self.model.config.vision_config.hidden_act,
            "image_size": self.image_size,
            "preprocessing": PREPROCESSING,
            "max_text_tokens": MAX_TEXT_TOKENS,
            "embeddings": "L2-normalized projections (get_image_features / get_text_features)",
            **numerics(self.device, uses_autocast=True),
        }

    def pixel_values(self, frames: np.ndarray) -> torch.Tensor:
        """LEGO's preprocessing: uint8 ``[T, H, W, 3]`` -> float32 ``[T, 3, S, S]``, normalized."""
        return preprocess_frames(frames, self.image_size, CLIP_MEAN, CLIP_STD, interpolation="bicubic", antialias=False)

    @torch.inference_mode()
    def embed_frames(self, frames: np.ndarray) -> np.ndarray:
        """Per-frame image embeddings.

        Args:
            frames: uint8 ``[T, H, W, 3]`` RGB frames in [0, 255].

        Returns:
            float32 ``[T, D]``, each row of unit L2 norm (D = 768 for ViT-L/14).
        """
        check_clip(frames)
        out = []
        for start in range(0, len(frames), self.batch_size):
            pixels = self.pixel_values(frames[start : start + self.batch_size]).to(self.device)
            with autocast(self.device):
                out.append(_tensor(self.model.get_image_features(pixel_values=pixels)))
        return _unit_rows(torch.cat(out))

    def embed_clips(self, videos: list[np.ndarray]) -> list[np.ndarray]:
        """Per-frame embeddings of several clips, their frames batched together.

        Forward passes take ``batch_size`` frames whatever clip they come from, so short
        clips and the scorer's many small jobs (generated and ground truth, both scopes)
        fill the device; each frame's embedding equals `embed_frames`'s within float32
        rounding (~1e-6).

        Args:
            videos: uint8 ``[T_i, H, W, 3]`` RGB clips in [0, 255].

        Returns:
            float32 ``[T_i, D]`` per clip, rows of unit L2 norm.
        """
        for video in videos:
            check_clip(video)
        if len({v.shape[1:] for v in videos}) > 1:  # frames of different sizes: clip by clip
            return [self.embed_frames(video) for video in videos]
        if not videos:
            return []
        stacked = self.embed_frames(np.concatenate(videos))
        return np.split(stacked, np.cumsum([len(v) for v in videos])[:-1])

    @torch.inference_mode()
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Text embeddings.

        Args:
            texts: N strings; each is truncated to 77 tokens.

        Returns:
            float32 ``[N, D]``, each row of unit L2 norm.
        """
        if isinstance(texts, str):
            raise TypeError("want a list of strings, got one string")
        tokens = self.tokenizer(list(texts), padding=True, truncation=True, max_length=MAX_TEXT_TOKENS, return_tensors="pt")
        with autocast(self.device):
            features = self.model.get_text_features(
                input_ids=tokens["input_ids"].to(self.device), attention_mask=tokens["attention_mask"].to(self.device)
            )
        return _unit_rows(_tensor(features))


def _tensor(output: Any) -> torch.Tensor:
    """transformers 5 returns a model output from ``get_*_features``; 4.x returned the tensor."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def _unit_rows(x: torch.Tensor) -> np.ndarray:
    x = x.float()
    return (x / x.norm(dim=-1, keepdim=True)).cpu().numpy().astype(np.float32)


class _ClipExtractor(FeatureExtractor):
    """Common constructors of the two CLIP extractors.

    Args:
        backbone: A loaded backbone. None: the process-wide pretrained one for
            (``path``, ``device``), loaded on first use.
        path: The weights folder's ``config.json`` (None: resolve the asset).
        device: Torch device.
    """

    def __init__(self, backbone: ClipBackbone | None = None, path: str | None = None, device: str | None = None):
        device = str(device or default_device())  # the GPU when there is one
        self.backbone = backbone if backbone is not None else ClipBackbone.shared(None if path is None else str(path), device)

    @classmethod
    def from_pretrained(cls, path: str | None = None, device: str = "cpu") -> "_ClipExtractor":
        return cls(path=path, device=device)

    @classmethod
    def from_config(cls, config: Any) -> "_ClipExtractor":
        return cls(ClipBackbone.from_config(config))

    @classmethod
    def for_tests(cls) -> "_ClipExtractor":
        return cls(ClipBackbone.tiny())

    def config(self) -> dict[str, Any]:
        return self.backbone.config()

    def weights_digest(self) -> str:
        return self.backbone.weights_digest()


class ClipImageExtractor(_ClipExtractor):
    """CLIP ViT-L/14 per-frame embeddings: float32 ``[T, 768]``, rows of unit norm."""

    name: ClassVar[str] = "clip"
    kind: ClassVar[Literal["video", "text"]] = "video"

    def extract(self, videos: list[np.ndarray]) -> list[np.ndarray]:
        return self.backbone.embed_clips(videos)


class ClipTextExtractor(_ClipExtractor):
    """CLIP ViT-L/14 text embeddings: float32 ``[N, 768]``, rows of unit norm."""

    name: ClassVar[str] = "clip-text"
    kind: ClassVar[Literal["video", "text"]] = "text"

    def extract_text(self, texts: list[str]) -> np.ndarray:
        return self.backbone.embed_texts(texts)

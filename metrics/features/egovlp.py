"""EgoVLP (Frozen in Time): clip embeddings for the EgoVLP score, text embeddings for BLIP.

The architecture is EgoVLP's ``FrozenInTime`` (github.com/showlab/EgoVLP,
``model/model.py`` and ``model/video_transformer.py``), rewritten here with the same
module names so that the official checkpoints load by their own keys (after the
``module.`` prefix of their DistributedDataParallel wrapper is stripped):

* ``video_model``: ``SpaceTimeTransformer``, a ViT-B/16 with divided space-time
  attention in Frozen in Time's style: each block runs time attention (``timeattn``,
  on ``norm3(x)``), then space attention (``attn``) on ``norm1`` of the time residual,
  but adds the space output to the block *input* ``x``; the CLS token attends to all
  tokens. Output: the normalized CLS token.
* ``text_model``: transformers' ``DistilBertModel`` (distilbert-base-uncased); the text
  feature is the first token of ``last_hidden_state``.
* ``txt_proj`` = ``Sequential(ReLU, Linear(768, 256))``, ``vid_proj`` =
  ``Sequential(Linear(768, 256))``.

Checkpoints: ``epic_mir_plus.pth`` (EPIC-KITCHENS MIR, 16 frames) and ``egovlp.pth``
(EgoClip pretraining, 4 frames). The frame count is read from the checkpoint's
``temporal_embed``.

Preprocessing follows EgoVLP's test transform for a 256² clip: resize to 224 (bilinear,
no antialias: torchvision 0.9's tensor ``Resize``), ImageNet mean/std.

Fitting the 15 generated frames to the checkpoint's frame count: the frames are
resampled evenly (`resample_indices`: 15 → 16 repeats one frame; 15 → 4 takes frames
0, 5, 9, 14). The context frame is not used: it is the same for the generated and the
ground-truth clip and would pull every score toward 1 (the paper scores the L
generated frames only).
"""

from __future__ import annotations

import functools
import logging
import pickle
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from hcvg.assets import Asset, resolve_asset
from hcvg.errors import UserError, require
from metrics.features.torch_runtime import FrozenModel, autocast, default_device, numerics
from metrics.features.backbone_assets import DISTILBERT_VOCAB, EGOVLP_EGO4D, EGOVLP_EPIC
from metrics.features.base import FeatureExtractor
from metrics.features.image_preprocessing import IMAGENET_MEAN, IMAGENET_STD, check_clip, preprocess_frames, resample_indices

require("diffusers", "models", "the EgoVLP backbone")  # FrozenInTime is a diffusers ModelMixin
from diffusers.configuration_utils import ConfigMixin, register_to_config  # noqa: E402
from diffusers.models.modeling_utils import ModelMixin  # noqa: E402

logger = logging.getLogger(__name__)

CHECKPOINTS: dict[str, Asset] = {"epic": EGOVLP_EPIC, "ego4d": EGOVLP_EGO4D}
Checkpoint = Literal["epic", "ego4d"]
MAX_TEXT_TOKENS = 512  # DistilBERT's positions; EgoVLP tokenizes with truncation=True


# -- the video tower (model/video_transformer.py) --------------------------------------


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Softmax attention of ``[B, i, d]`` queries over ``[B, j, d]`` keys (queries pre-scaled).

    PyTorch's fused kernel (flash or memory-efficient attention on a GPU) with
    ``scale=1``, since the queries carry the scale: softmax(q kᵀ) v to float rounding,
    without materializing the ``[B, i, j]`` weights.
    """
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=1.0)


class Mlp(nn.Module):
    """ViT MLP: ``fc1`` → GELU → ``fc2``."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class VideoPatchEmbed(nn.Module):
    """Per-frame 2-D patch embedding: ``[B, F, 3, H, W]`` → ``[B·F, D, H/p, W/p]``."""

    def __init__(self, patch_size: int, embed_dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, f, c, h, w = x.shape
        return self.proj(x.reshape(b * f, c, h, w))


class VarAttention(nn.Module):
    """Attention over space or over time, with a CLS token that attends to every token.

    Args:
        dim: Token width.
        num_heads: Attention heads.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, axis: Literal["space", "time"], frames: int) -> torch.Tensor:
        """Attend within each frame ("space") or across frames at each patch ("time").

        Args:
            x: float ``[B, 1 + F·N, D]``: the CLS token, then F frames of N patches.
            axis: "space" or "time".
            frames: F.

        Returns:
            float ``[B, 1 + F·N, D]``.
        """
        b, tokens, dim = x.shape
        h, n = self.num_heads, (tokens - 1) // frames
        q, k, v = (t.reshape(b, tokens, h, dim // h).transpose(1, 2).reshape(b * h, tokens, dim // h) for t in self.qkv(x).chunk(3, dim=-1))
        q = q * self.scale
        cls_q, cls_k, cls_v = q[:, :1], k[:, :1], v[:, :1]
        cls_out = _attend(cls_q, k, v)  # the CLS token attends to all tokens

        def split(t: torch.Tensor) -> torch.Tensor:  # (b h) (f n) d -> (b h f) n d  or  (b h n) f d
            t = t[:, 1:].reshape(b * h, frames, n, -1)
            return (t if axis == "space" else t.transpose(1, 2)).reshape(b * h * (frames if axis == "space" else n), -1, t.shape[-1])

        q_, k_, v_ = split(q), split(k), split(v)
        r = q_.shape[0] // cls_k.shape[0]
        k_ = torch.cat((cls_k.repeat_interleave(r, dim=0), k_), dim=1)
        v_ = torch.cat((cls_v.repeat_interleave(r, dim=0), v_), dim=1)
        out = _attend(q_, k_, v_)
        out = out.reshape(b * h, frames, n, -1) if axis == "space" else out.reshape(b * h, n, frames, -1).transpose(1, 2)
        out = torch.cat((cls_out, out.reshape(b * h, frames * n, -1)), dim=1)
        out = out.reshape(b, h, tokens, -1).transpose(1, 2).reshape(b, tokens, dim)
        return self.proj(out)


class SpaceTimeBlock(nn.Module):
    """One Frozen-in-Time block (time attention, space attention, MLP)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = VarAttention(dim, num_heads)
        self.timeattn = VarAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.norm3 = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        time_residual = x + self.timeattn(self.norm3(x), "time", frames)
        # NOTE: the space output is added to the block input, not to the time residual
        # ("frozen-in-time" attention style, model/video_transformer.py SpaceTimeBlock).
        space_residual = x + self.attn(self.norm1(time_residual), "space", frames)
        return space_residual + self.mlp(self.norm2(space_residual))


class SpaceTimeTransformer(nn.Module):
    """EgoVLP's video tower; returns the normalized CLS token ``[B, D]``.

    Args:
        num_frames: Frames the temporal embedding covers (inputs may have fewer).
        img_size: Input side in pixels.
        patch_size: Patch side in pixels.
        embed_dim: Token width D.
        depth: Blocks.
        num_heads: Attention heads.
        mlp_ratio: MLP hidden width over D.
    """

    def __init__(self, num_frames: int, img_size: int, patch_size: int, embed_dim: int, depth: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.num_frames = num_frames
        self.embed_dim = embed_dim
        self.patches_per_frame = (img_size // patch_size) ** 2
        self.patch_embed = VideoPatchEmbed(patch_size, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patches_per_frame + 1, embed_dim))
        self.temporal_embed = nn.Parameter(torch.zeros(1, num_frames, embed_dim))
        self.blocks = nn.ModuleList(SpaceTimeBlock(embed_dim, num_heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Args: video: float ``[B, F, 3, H, W]``, F <= num_frames, normalized. Returns ``[B, D]``."""
        b, frames = video.shape[:2]
        if frames > self.num_frames:
            raise ValueError(f"the video tower takes at most {self.num_frames} frames, got {frames}")
        x = self.patch_embed(video).flatten(2).transpose(2, 1).reshape(b, -1, self.embed_dim)
        x = torch.cat((self.cls_token.expand(b, -1, -1), x), dim=1)
        # Spatial positions tiled over frames, temporal positions repeated within a frame.
        tiled = self.pos_embed[:, 1:].repeat(1, self.num_frames, 1) + self.temporal_embed.repeat_interleave(self.patches_per_frame, 1)
        x = x + torch.cat((self.pos_embed[:, :1], tiled), dim=1)[:, : x.shape[1]]
        for block in self.blocks:
            x = block(x, frames)
        return self.norm(x)[:, 0]


# -- the model (model/model.py) --------------------------------------------------------


class FrozenInTime(ModelMixin, ConfigMixin):
    """EgoVLP's dual encoder: SpaceTimeTransformer video tower and DistilBERT text tower.

    Args:
        num_frames: Frames of the temporal embedding (16: ``epic_mir_plus``; 4: ``egovlp``). Default 16.
        img_size: Video input side. Default 224.
        patch_size: Default 16.
        embed_dim: Video token width. Default 768.
        depth: Video blocks. Default 12.
        num_heads: Video attention heads. Default 12.
        mlp_ratio: Default 4.0.
        projection_dim: Width of both projections. Default 256.
        text_config: ``DistilBertConfig`` keyword arguments; None is distilbert-base-uncased.
    """

    @register_to_config
    def __init__(
        self,
        num_frames: int = 16,
        img_size: int = 224,
        patch_size: int = 16,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        projection_dim: int = 256,
        text_config: dict | None = None,
    ):
        super().__init__()
        require("transformers", "models", "the EgoVLP text tower (DistilBERT)")
        from transformers import DistilBertConfig, DistilBertModel

        if embed_dim % num_heads:
            raise ValueError(f"embed_dim={embed_dim} is not divisible by num_heads={num_heads}")
        if img_size % patch_size:
            raise ValueError(f"img_size={img_size} is not a multiple of patch_size={patch_size}")
        # Attribute order = the official state-dict order: text_model, video_model, txt_proj, vid_proj.
        self.text_model = DistilBertModel(DistilBertConfig(**(text_config or {})))
        self.video_model = SpaceTimeTransformer(num_frames, img_size, patch_size, embed_dim, depth, num_heads, mlp_ratio)
        self.txt_proj = nn.Sequential(nn.ReLU(), nn.Linear(self.text_model.config.dim, projection_dim))
        self.vid_proj = nn.Sequential(nn.Linear(embed_dim, projection_dim))

    def compute_video(self, video: torch.Tensor) -> torch.Tensor:
        """Clip embeddings (not normalized).

        Args:
            video: float ``[B, F, 3, img_size, img_size]``, ImageNet-normalized, F <= num_frames.

        Returns:
            float ``[B, projection_dim]``.
        """
        return self.vid_proj(self.video_model(video))

    def compute_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Text embeddings (not normalized): ``txt_proj`` of DistilBERT's first token.

        Args:
            input_ids: int64 ``[B, S]`` DistilBERT token ids.
            attention_mask: int64 ``[B, S]`` in {0, 1}.

        Returns:
            float ``[B, projection_dim]``.
        """
        hidden = self.text_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.txt_proj(hidden[:, 0, :])


# -- checkpoints -----------------------------------------------------------------------


class UnsafeCheckpointError(UserError, pickle.UnpicklingError):
    """A checkpoint pickles objects beyond tensors and the allowlisted training state: it is not loaded."""


class _ConfigParserStandIn:
    """Takes the place of EgoVLP's ``parse_config.ConfigParser`` when unpickling: holds its state, runs nothing."""

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_state"] = state


def _checkpoint_globals() -> list[Any]:
    """Exactly the globals an official EgoVLP checkpoint pickles besides tensors and containers.

    ``egovlp.pth`` / ``epic_mir_plus.pth`` are whole training states (EgoVLP's
    ``trainer/base_trainer.py`` ``_save_checkpoint``): ``arch``, ``epoch``,
    ``state_dict``, ``optimizer``, ``monitor_best`` and ``config``, the run's
    ``parse_config.ConfigParser``, whose attributes hold ``pathlib.PosixPath`` folders.
    The parser is not importable here, and must not be: it is replaced by an inert
    stand-in that keeps its state. ``monitor_best`` may be a NumPy scalar, which
    pickles as ``numpy.core.multiarray.scalar`` with its dtype. Anything else in the
    pickle is refused by ``torch.load(weights_only=True)``.
    """
    from numpy.dtypes import Float32DType, Float64DType

    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # NumPy < 2
        from numpy.core.multiarray import scalar  # type: ignore[no-redef]
    # Each under the name the pickle gives it: NumPy 2 moved numpy.core to numpy._core.
    return [
        (_ConfigParserStandIn, "parse_config.ConfigParser"),
        (Path().__class__, "pathlib.PosixPath"),
        scalar,
        (scalar, "numpy.core.multiarray.scalar"),
        np.dtype,
        Float64DType,
        Float32DType,
    ]


def load_egovlp_checkpoint(path: str | Path) -> Any:
    """Unpickle an EgoVLP checkpoint with ``torch.load(weights_only=True)`` and the allowlist above.

    Raises:
        UnsafeCheckpointError: If the pickle names any other global (a class or function
            it would call): the message lists them. Nothing of the checkpoint runs.
    """
    try:
        with torch.serialization.safe_globals(_checkpoint_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception:  # an unreadable archive: the unpickler's own reason says why
            unsafe = []
        allowed = {name for entry in _checkpoint_globals() if isinstance(entry, tuple) for name in [entry[1]]}
        unsafe = [name for name in unsafe if name not in allowed]
        what = (f"pickles globals beyond tensors and an official EgoVLP checkpoint's training state ({', '.join(unsafe)}); "
                "unpickling them could run code" if unsafe else "cannot be unpickled safely (weights only)")
        raise UnsafeCheckpointError(
            f"{path}: refused to load: the checkpoint {what}. Load it only if you trust it, save its 'state_dict' "
            f"alone (torch.save(ckpt['state_dict'], ...)) and pass that file instead{_unpickler_reason(err)}"
        ) from err


def _unpickler_reason(err: Exception) -> str:
    """The one line of torch's long weights-only message that says what was refused."""
    lines = [line.strip() for line in str(err).splitlines() if "WeightsUnpickler error" in line]
    return f" ({lines[0]})" if lines else ""


def load_egovlp_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The model weights of an official EgoVLP checkpoint, keyed as `FrozenInTime`'s.

    Args:
        path: ``egovlp.pth`` / ``epic_mir_plus.pth`` (a dict with "state_dict"), or a
            bare state dict.

    Returns:
        The state dict with the ``module.`` prefix removed and transformers' legacy
        ``text_model.embeddings.position_ids`` buffer dropped.

    Raises:
        UnsafeCheckpointError: If the file pickles anything an official checkpoint does
            not (`load_egovlp_checkpoint`).
    """
    checkpoint = load_egovlp_checkpoint(path)
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else checkpoint
    out = {k.removeprefix("module."): v for k, v in state.items()}
    out.pop("text_model.embeddings.position_ids", None)
    return out


def distilbert_tokenizer(vocab_path: str | Path | None = None) -> Any:
    """distilbert-base-uncased's tokenizer from its ``vocab.txt`` (the asset when None)."""
    path = resolve_asset(DISTILBERT_VOCAB, vocab_path)
    tokens = path.read_text(encoding="utf-8").splitlines()
    return _wordpiece_tokenizer({t: i for i, t in enumerate(tokens)})


def _wordpiece_tokenizer(vocab: dict[str, int]) -> Any:
    require("transformers", "models", "the EgoVLP tokenizer (DistilBERT)")
    from transformers import DistilBertTokenizer

    return DistilBertTokenizer(vocab=vocab, do_lower_case=True, model_max_length=MAX_TEXT_TOKENS)


def tiny_wordpiece_vocab() -> dict[str, int]:
    """A small lowercase WordPiece vocabulary (specials, a-z, ##a-##z, digits, punctuation, a few words)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["a", "picture", "of", "the", "hand", "cut", "pick", "up", "open", "put", "take", "cup", "carrot", "man", "knife"]
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(letters) + ["##" + c for c in letters]
    tokens += list("0123456789.,'-!?") + [w for w in words if w not in tokens]
    return {t: i for i, t in enumerate(tokens)}


def tiny_egovlp_config(num_frames: int = 4) -> dict[str, Any]:
    """`FrozenInTime` arguments of a 2-block, 32-wide model on 32 px frames (for tests)."""
    text = dict(vocab_size=len(tiny_wordpiece_vocab()), dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=64)
    return dict(num_frames=num_frames, img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, projection_dim=16, text_config=text)


# -- the backbone and its extractors ---------------------------------------------------


class EgoVLPBackbone(FrozenModel):
    """A `FrozenInTime` with its tokenizer and EgoVLP's test preprocessing.

    Args:
        model: The model (put in eval mode and moved to ``device`` here).
        tokenizer: distilbert-base-uncased's tokenizer (or a tiny one for tests).
        weights: What the weights are, for the run config.
        device: Torch device.
        video_batch_size: Clips per video forward pass (8 clips of 16 frames: 1,568 tokens each).
        text_batch_size: Texts (of one token count) per text forward pass.
    """

    def __init__(
        self, model: FrozenInTime, tokenizer: Any, weights: str, device: str | torch.device = "cpu",
        video_batch_size: int = 8, text_batch_size: int = 64,
    ):
        super().__init__(model, tokenizer, weights, device)
        self.video_batch_size = int(video_batch_size)
        self.text_batch_size = int(text_batch_size)
        self.num_frames = int(model.config.num_frames)
        self.image_size = int(model.config.img_size)

    @classmethod
    def from_pretrained(
        cls, checkpoint: Checkpoint = "epic", path: str | Path | None = None, vocab_path: str | Path | None = None, device: str | torch.device = "cpu"
    ) -> "EgoVLPBackbone":
        """Load an official EgoVLP checkpoint; never downloads.

        Args:
            checkpoint: "epic" (``epic_mir_plus.pth``) or "ego4d" (``egovlp.pth``).
            path: Explicit checkpoint path (None: resolve the asset).
            vocab_path: Explicit distilbert-base-uncased ``vocab.txt`` (None: resolve the asset).
            device: Torch device.

        Raises:
            AssetNotFoundError: If a file is not found locally.
            RuntimeError: If the checkpoint's keys do not match `FrozenInTime`'s.
        """
        if checkpoint not in CHECKPOINTS:
            raise ValueError(f"checkpoint must be one of {sorted(CHECKPOINTS)}, got {checkpoint!r}")
        file = resolve_asset(CHECKPOINTS[checkpoint], path)
        state = load_egovlp_state_dict(file)
        model = FrozenInTime(num_frames=int(state["video_model.temporal_embed"].shape[1]))
        model.load_state_dict(state, strict=True)
        return cls(model, distilbert_tokenizer(vocab_path), weights=str(file), device=device)

    @classmethod
    def from_config(cls, config: dict[str, Any], tokenizer: Any = None, device: str | torch.device = "cpu", seed: int = 0) -> "EgoVLPBackbone":
        """`FrozenInTime(**config)` with random weights; ``tokenizer`` None uses `tiny_wordpiece_vocab`."""
        torch.manual_seed(seed)
        return cls(FrozenInTime(**config), tokenizer or _wordpiece_tokenizer(tiny_wordpiece_vocab()), weights="random", device=device)

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def shared(checkpoint: Checkpoint = "epic", path: str | None = None, device: str = "cpu") -> "EgoVLPBackbone":
        """One pretrained backbone per (checkpoint, path, device) per process, shared by the extractors."""
        return EgoVLPBackbone.from_pretrained(checkpoint, path, device=device)

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def tiny() -> "EgoVLPBackbone":
        """The shared tiny random backbone for tests (`tiny_egovlp_config`)."""
        return EgoVLPBackbone.from_config(tiny_egovlp_config())

    def config(self) -> dict[str, Any]:
        """Weights and preprocessing, for the run config."""
        return {
            "architecture": "EgoVLP FrozenInTime (SpaceTimeTransformer + DistilBERT), projection "
            f"{self.model.config.projection_dim}",
            "weights": self.weights,
            "num_frames": self.num_frames,
            "frame_fit": "frames resampled evenly to num_frames (np.linspace(0, T-1, num_frames).round()); context not used",
            "preprocessing": {
                "resize": f"{self.image_size}x{self.image_size}, bilinear, no antialias (torchvision 0.9 tensor Resize)",
                "normalize": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
            },
            "text": "DistilBERT tokenizer (uncased, truncation), txt_proj(last_hidden_state[:, 0])",
            "embeddings": "raw projections (not normalized); metrics take cosines",
            **numerics(self.device, uses_autocast=True),
        }

    @torch.inference_mode()
    def embed_video(self, video: np.ndarray) -> np.ndarray:
        """Clip embedding.

        Args:
            video: uint8 ``[T, H, W, 3]`` RGB clip in [0, 255].

        Returns:
            float32 ``[projection_dim]`` (256 for the official checkpoints), not normalized.
        """
        check_clip(video)
        frames = video[resample_indices(len(video), self.num_frames)]
        pixels = preprocess_frames(frames, self.image_size, IMAGENET_MEAN, IMAGENET_STD, interpolation="bilinear", antialias=False)
        with autocast(self.device):
            return self.model.compute_video(pixels[None].to(self.device))[0].float().cpu().numpy()

    @torch.inference_mode()
    def embed_videos(self, videos: list[np.ndarray]) -> list[np.ndarray]:
        """Clip embeddings of several clips, ``video_batch_size`` clips per forward pass.

        Each equals `embed_video`'s within float32 rounding (~1e-6 relative).

        Args:
            videos: uint8 ``[T_i, H, W, 3]`` RGB clips in [0, 255].

        Returns:
            float32 ``[projection_dim]`` per clip, not normalized.
        """
        pixels = []
        for video in videos:
            check_clip(video)
            frames = video[resample_indices(len(video), self.num_frames)]
            pixels.append(preprocess_frames(frames, self.image_size, IMAGENET_MEAN, IMAGENET_STD, interpolation="bilinear", antialias=False))
        out: list[np.ndarray] = []
        for start in range(0, len(pixels), self.video_batch_size):
            batch = torch.stack(pixels[start : start + self.video_batch_size]).to(self.device)
            with autocast(self.device):
                out += list(self.model.compute_video(batch).float().cpu().numpy())
        return out

    @torch.inference_mode()
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Text embeddings.

        Args:
            texts: N strings.

        Returns:
            float32 ``[N, projection_dim]``, not normalized.
        """
        if isinstance(texts, str):
            raise TypeError("want a list of strings, got one string")
        # LEGO embeds one text per call, so padding never enters a text's embedding. Texts
        # of the same token count batch without any padding, which keeps that (to float
        # rounding); a text repeated (BLIP often gives several frames one caption) is
        # embedded once.
        unique = list(dict.fromkeys(texts))
        by_length: dict[int, list[tuple[str, list[int]]]] = {}
        for text in unique:
            ids = self.tokenizer([text], truncation=True)["input_ids"][0]
            by_length.setdefault(len(ids), []).append((text, ids))
        embedded: dict[str, np.ndarray] = {}
        for group in by_length.values():
            for start in range(0, len(group), self.text_batch_size):
                chunk = group[start : start + self.text_batch_size]
                ids = torch.tensor([ids for _, ids in chunk], dtype=torch.long, device=self.device)
                with autocast(self.device):
                    vectors = self.model.compute_text(ids, torch.ones_like(ids)).float().cpu().numpy()
                embedded.update(zip((text for text, _ in chunk), vectors))
        dim = int(self.model.config.projection_dim)
        return np.stack([embedded[text] for text in texts]) if texts else np.zeros((0, dim), np.float32)


class _EgoVLPExtractor(FeatureExtractor):
    """Common constructors of the EgoVLP extractors.

    Args:
        backbone: A loaded backbone. None: the process-wide pretrained one.
        path: Explicit checkpoint path (None: resolve the asset).
        device: Torch device.
    """

    checkpoint: ClassVar[Checkpoint] = "epic"

    def __init__(self, backbone: EgoVLPBackbone | None = None, path: str | None = None, device: str | None = None):
        device = str(device or default_device())  # the GPU when there is one
        self.backbone = backbone if backbone is not None else EgoVLPBackbone.shared(self.checkpoint, None if path is None else str(path), str(device))

    @classmethod
    def from_pretrained(cls, path: str | None = None, device: str = "cpu") -> "_EgoVLPExtractor":
        return cls(path=path, device=device)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "_EgoVLPExtractor":
        return cls(EgoVLPBackbone.from_config(config))

    @classmethod
    def for_tests(cls) -> "_EgoVLPExtractor":
        return cls(EgoVLPBackbone.tiny())

    def config(self) -> dict[str, Any]:
        return self.backbone.config()

    def weights_digest(self) -> str:
        return self.backbone.weights_digest()


class EgoVLPVideoExtractor(_EgoVLPExtractor):
    """EgoVLP clip embedding with ``epic_mir_plus`` (16 frames): float32 ``[256]``."""

    name: ClassVar[str] = "egovlp"
    kind: ClassVar[Literal["video", "text"]] = "video"

    def extract(self, videos: list[np.ndarray]) -> list[np.ndarray]:
        return self.backbone.embed_videos(videos)


class EgoVLPEgo4DVideoExtractor(EgoVLPVideoExtractor):
    """EgoVLP clip embedding with ``egovlp.pth`` (Ego4D pretraining, 4 frames): float32 ``[256]``."""

    name: ClassVar[str] = "egovlp-ego4d"
    checkpoint: ClassVar[Checkpoint] = "ego4d"


class EgoVLPTextExtractor(_EgoVLPExtractor):
    """EgoVLP text embedding with ``epic_mir_plus``: float32 ``[N, 256]``."""

    name: ClassVar[str] = "egovlp-text"
    kind: ClassVar[Literal["video", "text"]] = "text"

    def extract_text(self, texts: list[str]) -> np.ndarray:
        return self.backbone.embed_texts(texts)


class EgoVLPEgo4DTextExtractor(EgoVLPTextExtractor):
    """EgoVLP text embedding with ``egovlp.pth``: float32 ``[N, 256]``."""

    name: ClassVar[str] = "egovlp-ego4d-text"
    checkpoint: ClassVar[Checkpoint] = "ego4d"

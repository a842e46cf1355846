"""I3D (Inflated Inception-v1, Kinetics-400) logits per clip, for FVD.

The network is the ``InceptionI3d`` of piergiaj/pytorch-i3d as VideoGPT, TATS and the
``cd-fvd`` package run it with ``i3d_pretrained_400.pt``: parameter names, TF-style
"same" padding computed from the input size, and the head (average pool over 2×7×7,
a 1×1×1 convolution to 400 logits, then the mean over the remaining time steps) all
match, so that checkpoint loads with ``strict=True`` and gives the same logits
(tests/test_i3d.py checks both against cd-fvd). Its state-dict keys are listed in
``tests/fixtures/i3d_pretrained_400_keys.txt``.

Preprocessing (VideoGPT / cd-fvd ``preprocess_i3d``; the original TF FVD likewise feeds
224² frames in [-1, 1]): each frame is resized to 224×224 with bilinear interpolation
(``align_corners=False``, no antialias), then scaled as ``2·x/255 − 1``. Clips are the
benchmark's 15 generated frames.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar, Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from metrics.features.torch_runtime import default_device, freeze, numerics, official_or_given
from metrics.features.base import FeatureExtractor
from metrics.features.digests import module_digest
from metrics.features.image_preprocessing import check_clip

logger = logging.getLogger(__name__)

Backbone = Literal["pytorch", "torchscript"]
WEIGHTS_ASSET: dict[str, str] = {"pytorch": "i3d-kinetics-400", "torchscript": "i3d-kinetics-400-torchscript"}

INPUT_SIZE = 224
NUM_FRAMES = 15
NUM_CLASSES = 400

Triple = tuple[int, int, int]


def same_padding(size: Sequence[int], kernel: Triple, stride: Triple) -> tuple[int, ...]:
    """TensorFlow's "SAME" padding of a ``[T, H, W]`` input, in ``F.pad`` order.

    The total padding along a dimension is ``max(k − s, 0)`` when the size divides by the
    stride, else ``max(k − size mod s, 0)``; the smaller half goes in front.

    Returns:
        ``(w_front, w_back, h_front, h_back, t_front, t_back)``.
    """
    pads: list[int] = []
    for n, k, s in zip(reversed(tuple(size)), reversed(kernel), reversed(stride)):
        total = max(k - s, 0) if n % s == 0 else max(k - n % s, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


class Unit3d(nn.Module):
    """Conv3d (no bias) → BatchNorm3d → ReLU, with "same" padding; or a bare conv with bias.

    Submodule names (``conv3d``, ``bn``) are those of the checkpoint.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel: Kernel size (t, h, w).
        stride: Stride (t, h, w).
        head: The logits layer: bias, no batch norm, no activation.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: Triple = (1, 1, 1), stride: Triple = (1, 1, 1), head: bool = False):
        super().__init__()
        self.kernel, self.stride, self.head = kernel, stride, head
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=0, bias=head)
        if not head:
            self.bn = nn.BatchNorm3d(out_channels, eps=1e-5, momentum=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(F.pad(x, same_padding(x.shape[2:], self.kernel, self.stride)))
        return x if self.head else F.relu(self.bn(x))


class SameMaxPool3d(nn.Module):
    """Max pool with TF "same" padding.

    NOTE: the padding is zeros, not -inf, as in pytorch-i3d. Every pool follows a ReLU,
    so its inputs are >= 0 and zero padding gives TF's result.
    """

    def __init__(self, kernel: Triple, stride: Triple):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, same_padding(x.shape[2:], self.kernel, self.stride))
        return F.max_pool3d(x, self.kernel, self.stride)


class MixedBlock(nn.Module):
    """An inflated Inception block: four branches concatenated on channels.

    Args:
        in_channels: Input channels.
        widths: Output channels of (branch 0 1×1, branch 1 1×1, branch 1 3×3,
            branch 2 1×1, branch 2 3×3, branch 3 1×1 after a 3×3×3 max pool).
    """

    def __init__(self, in_channels: int, widths: Sequence[int]):
        super().__init__()
        w0, w1a, w1b, w2a, w2b, w3b = widths
        self.b0 = Unit3d(in_channels, w0)
        self.b1a = Unit3d(in_channels, w1a)
        self.b1b = Unit3d(w1a, w1b, kernel=(3, 3, 3))
        self.b2a = Unit3d(in_channels, w2a)
        self.b2b = Unit3d(w2a, w2b, kernel=(3, 3, 3))
        self.b3a = SameMaxPool3d((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3d(in_channels, w3b)
        self.out_channels = w0 + w1b + w2b + w3b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x)))
        return torch.cat(branches, dim=1)


# The trunk, in order: (checkpoint name, kind, arguments). Mixed widths from the I3D paper
# (Carreira & Zisserman 2017, inflated GoogLeNet).
_TRUNK: tuple[tuple[str, str, Any], ...] = (
    ("Conv3d_1a_7x7", "conv", (64, (7, 7, 7), (2, 2, 2))),
    ("MaxPool3d_2a_3x3", "pool", ((1, 3, 3), (1, 2, 2))),
    ("Conv3d_2b_1x1", "conv", (64, (1, 1, 1), (1, 1, 1))),
    ("Conv3d_2c_3x3", "conv", (192, (3, 3, 3), (1, 1, 1))),
    ("MaxPool3d_3a_3x3", "pool", ((1, 3, 3), (1, 2, 2))),
    ("Mixed_3b", "mixed", (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", "mixed", (128, 128, 192, 32, 96, 64)),
    ("MaxPool3d_4a_3x3", "pool", ((3, 3, 3), (2, 2, 2))),
    ("Mixed_4b", "mixed", (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", "mixed", (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", "mixed", (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", "mixed", (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", "mixed", (256, 160, 320, 32, 128, 128)),
    ("MaxPool3d_5a_2x2", "pool", ((2, 2, 2), (2, 2, 2))),
    ("Mixed_5b", "mixed", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", "mixed", (384, 192, 384, 48, 128, 128)),
)


class InceptionI3d(nn.Module):
    """I3D with the Kinetics-400 head; the layout of ``i3d_pretrained_400.pt``.

    Args:
        num_classes: Logits (400 for Kinetics-400).
        in_channels: Input channels (3, RGB).

    Input: float32 ``[B, 3, T, 224, 224]`` in [-1, 1], T >= 9 (after the three temporal
    stride-2 layers the 2-step average pool needs 2 steps). Output: float32
    ``[B, num_classes]`` logits, averaged over the remaining time steps.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, in_channels: int = 3):
        super().__init__()
        channels = in_channels
        self.trunk_names: list[str] = []
        for name, kind, args in _TRUNK:
            if kind == "conv":
                out_channels, kernel, stride = args
                layer: nn.Module = Unit3d(channels, out_channels, kernel, stride)
                channels = out_channels
            elif kind == "pool":
                layer = SameMaxPool3d(*args)
            else:
                layer = MixedBlock(channels, args)
                channels = layer.out_channels
            self.add_module(name, layer)
            self.trunk_names.append(name)
        self.avg_pool = nn.AvgPool3d(kernel_size=(2, 7, 7), stride=(1, 1, 1))
        self.dropout = nn.Dropout(0.5)  # identity in eval mode; kept for the training layout
        self.logits = Unit3d(channels, num_classes, head=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.trunk_names:
            x = getattr(self, name)(x)
        x = self.logits(self.dropout(self.avg_pool(x)))  # [B, classes, t, 1, 1]
        return x.flatten(3).squeeze(3).mean(dim=2)


def preprocess_clips(videos: np.ndarray | list[np.ndarray], size: int = INPUT_SIZE) -> torch.Tensor:
    """Resize and scale clips for I3D (VideoGPT / cd-fvd ``preprocess_i3d``).

    Args:
        videos: uint8 ``[B, T, H, W, 3]`` (or a list of ``[T, H, W, 3]`` of one shape).
        size: Output side (224).

    Returns:
        float32 ``[B, 3, T, size, size]`` in [-1, 1].
    """
    clips = torch.from_numpy(np.ascontiguousarray(np.stack(list(videos)))).float()
    b, t, h, w, c = clips.shape
    frames = clips.reshape(b * t, h, w, c).permute(0, 3, 1, 2)
    frames = F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False)
    frames = frames.reshape(b, t, c, size, size).transpose(1, 2)
    return 2.0 * frames / 255.0 - 1.0


class I3DLogitsExtractor(FeatureExtractor):
    """I3D Kinetics-400 logits of each clip: float32 ``[400]``.

    The default constructor loads the official weights; `from_config` builds the same
    architecture with random weights.

    Args:
        backbone: "pytorch" (``i3d_pretrained_400.pt`` in `InceptionI3d`, default) or
            "torchscript" (StyleGAN-V's ``i3d_torchscript.pt``, called with
            ``rescale=False, resize=False, return_features=True`` on the same input).
        weights_path: Explicit weights file (else resolved through the asset).
        num_frames: Frames a clip must have (15); None accepts any length >= 9.
        device: Torch device; None picks CUDA when available.
        batch_size: Clips per forward pass.
        network: A ready network (used by `from_config`); skips loading weights.
        weights: Label recorded in `config` for a given ``network``.

    Raises:
        AssetNotFoundError: If the weights file is nowhere to be found (the message
            names the file, where it was looked for, and how to get it).
    """

    name: ClassVar[str] = "i3d-logits"
    kind: ClassVar[Literal["video", "text"]] = "video"

    def __init__(
        self,
        backbone: Backbone = "pytorch",
        weights_path: str | Path | None = None,
        num_frames: int | None = NUM_FRAMES,
        device: str | torch.device | None = None,
        batch_size: int = 8,
        network: nn.Module | None = None,
        weights: str | None = None,
    ):
        if backbone not in WEIGHTS_ASSET:
            raise ValueError(f"unknown I3D backbone {backbone!r}; choose one of {sorted(WEIGHTS_ASSET)}")
        self.backbone: Backbone = backbone
        self.num_frames = num_frames
        self.device = torch.device(device) if device is not None else default_device()
        self.batch_size = int(batch_size)
        network, self.weights = official_or_given(
            network, weights, WEIGHTS_ASSET[backbone], weights_path, lambda path: _load_network(backbone, path)
        )
        self.network = freeze(network, self.device)

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str | None = None, backbone: Backbone = "pytorch") -> "I3DLogitsExtractor":
        """The official weights (explicit ``path`` → env var → asset cache)."""
        return cls(backbone=backbone, weights_path=path, device=device)

    @classmethod
    def from_config(cls, seed: int = 0, num_frames: int | None = NUM_FRAMES, device: str | None = "cpu", batch_size: int = 8) -> "I3DLogitsExtractor":
        """The full `InceptionI3d` with random weights (tests; never downloads).

        Args:
            seed: Seed of the random initialization.
            num_frames: See the class.
            device: Torch device.
            batch_size: Clips per forward pass.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            network = InceptionI3d()
        return cls(num_frames=num_frames, device=device, batch_size=batch_size, network=network, weights=f"random (seed {seed})")

    @classmethod
    def for_tests(cls) -> "I3DLogitsExtractor":
        return cls.from_config()

    def config(self) -> dict[str, Any]:
        return {
            "backbone": self.backbone,
            "weights": self.weights,
            "num_frames": self.num_frames,
            "resize": f"torch bilinear to {INPUT_SIZE}x{INPUT_SIZE}, align_corners=False, no antialias (VideoGPT / cd-fvd)",
            "scaling": "2*x/255-1, in [-1, 1]",
            "features": "Kinetics-400 logits (pre-softmax), 400-d, per clip",
            "dtype": "float32",
            **numerics(self.device, uses_autocast=False),
        }

    def weights_digest(self) -> str:
        return module_digest(self.network)

    @torch.inference_mode()
    def extract(self, videos: list[np.ndarray]) -> list[np.ndarray]:
        """Logits of each clip.

        Args:
            videos: uint8 ``[T, H, W, 3]`` RGB clips in [0, 255], T = ``num_frames``.

        Returns:
            float32 ``[400]`` per clip.

        Raises:
            ValueError: If a clip is not uint8 RGB or has the wrong number of frames.
        """
        for video in videos:
            check_clip(video)
            if self.num_frames is not None and len(video) != self.num_frames:
                raise ValueError(f"I3D for FVD expects {self.num_frames}-frame clips, got {len(video)} frames")
        out: list[np.ndarray] = []
        for i in range(0, len(videos), self.batch_size):
            batch = videos[i : i + self.batch_size]
            if len({v.shape for v in batch}) > 1:  # clips of different sizes: one at a time
                out += [self._logits([v])[0] for v in batch]
            else:
                out += list(self._logits(batch))
        return out

    def _logits(self, clips: list[np.ndarray]) -> np.ndarray:
        x = preprocess_clips(clips).to(self.device)
        if self.backbone == "torchscript":
            logits = self.network(x, rescale=False, resize=False, return_features=True)
        else:
            logits = self.network(x)
        return logits.float().cpu().numpy().astype(np.float32, copy=False)


def _load_network(backbone: Backbone, path: Path) -> nn.Module:
    """Load the official weights file of ``backbone`` from ``path``."""
    if backbone == "torchscript":
        return torch.jit.load(str(path), map_location="cpu").eval()
    network = InceptionI3d()
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    network.load_state_dict(state_dict, strict=True)
    return network

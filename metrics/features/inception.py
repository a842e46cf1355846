"""Inception-v3 pool3 features (2048-d per frame) for FID.

The network and resize follow clean-fid's three modes (``cleanfid.resize.build_resizer``
and ``cleanfid.features.build_feature_extractor``):

============================ ========================================= ==========================
mode                         resize to 299²                            network (weights asset)
============================ ========================================= ==========================
``legacy_pytorch`` (default) ``F.interpolate`` bilinear,                pytorch-fid's port
                             ``align_corners=False``, no antialias      (``inception-fid-pytorch``)
``clean``                    PIL bicubic on float32 channels            NVIDIA TorchScript port
                             (clean-fid's own resizer)                  (``inception-fid-torchscript``)
``legacy_tensorflow``        none outside: TF-style bilinear inside    NVIDIA TorchScript port
                             the TorchScript graph
============================ ========================================= ==========================

The default matches pytorch-fid, which LEGO (the paper's FID protocol) used. pytorch-fid's
network is torchvision's Inception-v3 with pytorch-fid's TF-compatible blocks, taken from
clean-fid (``cleanfid.inception_pytorch``, a copy of pytorch-fid's module) rather than
written here; its input is scaled to [-1, 1] as ``2·x/255 − 1``. The TorchScript network
normalizes as ``(x − 128)/128`` (clean-fid's ``InceptionV3W``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hcvg.errors import require
from metrics.features.torch_runtime import default_device, freeze, numerics, official_or_given
from metrics.features.base import FeatureExtractor
from metrics.features.digests import module_digest
from metrics.features.image_preprocessing import check_clip

logger = logging.getLogger(__name__)

ResizeMode = Literal["clean", "legacy_pytorch", "legacy_tensorflow"]
Backbone = Literal["pytorch-fid", "torchscript"]

RESIZE_MODES: tuple[ResizeMode, ...] = ("clean", "legacy_pytorch", "legacy_tensorflow")
#: clean-fid's pairing of resize mode and network.
DEFAULT_BACKBONE: dict[str, Backbone] = {
    "legacy_pytorch": "pytorch-fid",
    "clean": "torchscript",
    "legacy_tensorflow": "torchscript",
}
WEIGHTS_ASSET: dict[str, str] = {"pytorch-fid": "inception-fid-pytorch", "torchscript": "inception-fid-torchscript"}

INPUT_SIZE = 299
FEATURE_DIM = 2048
# pytorch-fid's port has the 1008-way classifier of the TF graph (unused for pool3).
_NUM_CLASSES_TF = 1008


def build_pytorch_fid_inception(init_weights: bool = False) -> nn.Module:
    """pytorch-fid's Inception-v3 architecture, randomly initialized.

    torchvision's ``Inception3`` (1008 classes, no aux head) with the blocks that
    pytorch-fid patches to behave like the TF graph (average pools that ignore padding,
    a max pool in the last block), imported from clean-fid. Its state dict has the keys
    of ``pt_inception-2015-12-05-6726825d.pth``.

    Args:
        init_weights: torchvision's truncated-normal initialization (True) or PyTorch's
            default layer initialization (False, as pytorch-fid before loading weights).

    Returns:
        The network in eval mode.
    """
    import torchvision

    require("cleanfid", "models", "the FID Inception network (pytorch-fid's blocks)")
    from cleanfid import inception_pytorch as fid_blocks

    net = torchvision.models.inception_v3(
        weights=None, num_classes=_NUM_CLASSES_TF, aux_logits=False, init_weights=init_weights
    )
    # The blocks pytorch-fid replaces, with their torchvision constructor arguments.
    net.Mixed_5b = fid_blocks.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = fid_blocks.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = fid_blocks.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = fid_blocks.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = fid_blocks.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = fid_blocks.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = fid_blocks.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = fid_blocks.FIDInceptionE_1(1280)
    net.Mixed_7c = fid_blocks.FIDInceptionE_2(2048)
    return net.eval()


# The layers of torchvision's Inception3 from the input to the final average pool, in
# order (pytorch-fid's blocks 0-3); transform_input, dropout and fc are not used.
_POOL3_LAYERS = (
    "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1",
    "Conv2d_3b_1x1", "Conv2d_4a_3x3", "maxpool2",
    "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
    "Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool",
)  # fmt: skip


def pytorch_fid_pool3(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """pool3 features of pytorch-fid's network.

    Args:
        net: From `build_pytorch_fid_inception` (weights loaded or random).
        images: float32 ``[N, 3, 299, 299]`` in [0, 255], already resized.

    Returns:
        float32 ``[N, 2048]``.
    """
    x = images / 255.0 * 2.0 - 1.0  # pytorch-fid's normalize_input on [0, 1] input
    for name in _POOL3_LAYERS:
        x = getattr(net, name)(x)
    return x.flatten(1)


def resize_legacy_pytorch(images: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """pytorch-fid's resize: bilinear, ``align_corners=False``, no antialiasing, no quantization.

    Args:
        images: float32 ``[N, 3, H, W]`` in [0, 255].
        size: Output side.

    Returns:
        float32 ``[N, 3, size, size]`` in [0, 255].
    """
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 255)


def resize_clean(frames: np.ndarray, size: int = INPUT_SIZE) -> torch.Tensor:
    """clean-fid's "clean" resize: PIL bicubic on each float32 channel, clipped to [0, 255].

    Args:
        frames: uint8 ``[N, H, W, 3]``.
        size: Output side.

    Returns:
        float32 ``[N, 3, size, size]`` in [0, 255].
    """
    require("cleanfid", "models", "the FID resize (clean-fid's PIL bicubic)")
    from cleanfid.resize import make_resizer

    resize = make_resizer("PIL", False, "bicubic", (size, size))
    resized = np.stack([resize(frame) for frame in frames])  # [N, size, size, 3]
    return torch.from_numpy(resized).permute(0, 3, 1, 2).float()


class InceptionPool3Extractor(FeatureExtractor):
    """Per-frame Inception-v3 pool3 features: float32 ``[T, 2048]`` per clip.

    The default constructor loads the official weights for ``mode`` (see the module
    docstring); `from_config` builds the same architecture with random weights.

    Args:
        mode: clean-fid's resize mode: "legacy_pytorch" (default, pytorch-fid), "clean"
            or "legacy_tensorflow".
        backbone: "pytorch-fid" or "torchscript"; None takes clean-fid's pairing with
            ``mode``. "legacy_tensorflow" needs "torchscript" (its resize is inside it).
        weights_path: Explicit weights file (else resolved through the asset).
        device: Torch device; None picks CUDA when available.
        batch_size: Frames per forward pass.
        network: A ready network (used by `from_config`); skips loading weights.
        weights: Label recorded in `config` for a given ``network``.

    Raises:
        AssetNotFoundError: If the weights file is nowhere to be found (the message
            names the file, where it was looked for, and how to get it).
        ValueError: On an unknown mode or backbone, or an impossible combination.
    """

    name: ClassVar[str] = "inception-pool3"
    kind: ClassVar[Literal["video", "text"]] = "video"

    def __init__(
        self,
        mode: ResizeMode = "legacy_pytorch",
        backbone: Backbone | None = None,
        weights_path: str | Path | None = None,
        device: str | torch.device | None = None,
        batch_size: int = 32,
        network: nn.Module | None = None,
        weights: str | None = None,
    ):
        if mode not in RESIZE_MODES:
            raise ValueError(f"unknown FID resize mode {mode!r}; clean-fid's modes are {RESIZE_MODES}")
        backbone = backbone or DEFAULT_BACKBONE[mode]
        if backbone not in WEIGHTS_ASSET:
            raise ValueError(f"unknown Inception backbone {backbone!r}; choose one of {sorted(WEIGHTS_ASSET)}")
        if mode == "legacy_tensorflow" and backbone != "torchscript":
            raise ValueError(
                f"mode 'legacy_tensorflow' resizes inside the TorchScript network, so it needs "
                f"backbone='torchscript', got backbone={backbone!r}"
            )
        self.mode: ResizeMode = mode
        self.backbone: Backbone = backbone
        self.device = torch.device(device) if device is not None else default_device()
        self.batch_size = int(batch_size)
        network, self.weights = official_or_given(
            network, weights, WEIGHTS_ASSET[backbone], weights_path, lambda path: _load_network(backbone, path)
        )
        self.network = freeze(network, self.device)

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str | None = None, mode: ResizeMode = "legacy_pytorch") -> "InceptionPool3Extractor":
        """The official weights for ``mode`` (explicit ``path`` → env var → asset cache)."""
        return cls(mode=mode, weights_path=path, device=device)

    @classmethod
    def from_config(cls, mode: ResizeMode = "legacy_pytorch", seed: int = 0, device: str | None = "cpu", batch_size: int = 32) -> "InceptionPool3Extractor":
        """pytorch-fid's architecture with random weights (tests; never downloads).

        The backbone is always pytorch-fid's (in "clean" mode it stands in for the
        TorchScript port of the same TF graph); "legacy_tensorflow" is refused, since its
        resize lives inside the official TorchScript file.

        Args:
            mode: "legacy_pytorch" or "clean".
            seed: Seed of the random initialization.
            device: Torch device.
            batch_size: Frames per forward pass.
        """
        if mode not in RESIZE_MODES:
            raise ValueError(f"unknown FID resize mode {mode!r}; clean-fid's modes are {RESIZE_MODES}")
        if mode == "legacy_tensorflow":
            raise ValueError("mode 'legacy_tensorflow' needs the official TorchScript file; use from_pretrained")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            network = build_pytorch_fid_inception()
            # He initialization keeps activations near unit scale through the ~95 random
            # conv-BN-ReLU layers (PyTorch's default shrinks pool3 to ~1e-8).
            for module in network.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        return cls(mode=mode, backbone="pytorch-fid", device=device, batch_size=batch_size, network=network, weights=f"random (seed {seed})")

    @classmethod
    def for_tests(cls) -> "InceptionPool3Extractor":
        return cls.from_config()

    def config(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "backbone": self.backbone,
            "weights": self.weights,
            "resize": {
                "legacy_pytorch": "torch bilinear to 299x299, align_corners=False, no antialias, float (pytorch-fid)",
                "clean": "PIL bicubic to 299x299 on float32 channels, clipped to [0,255] (clean-fid)",
                "legacy_tensorflow": "TF-style bilinear inside the TorchScript graph (clean-fid legacy_tensorflow)",
            }[self.mode],
            "normalization": "2*x/255-1" if self.backbone == "pytorch-fid" else "(x-128)/128",
            "features": "pool3 (final average pool), 2048-d, per frame",
            "dtype": "float32",
            **numerics(self.device, uses_autocast=False),
        }

    def weights_digest(self) -> str:
        return module_digest(self.network)

    @torch.inference_mode()
    def extract(self, videos: list[np.ndarray]) -> list[np.ndarray]:
        """Features of each frame.

        Args:
            videos: uint8 ``[T, H, W, 3]`` RGB clips in [0, 255].

        Returns:
            float32 ``[T, 2048]`` per clip.
        """
        for video in videos:
            check_clip(video)
        if len({v.shape[1:] for v in videos}) > 1:  # frames of different sizes: clip by clip
            return [self.extract([video])[0] for video in videos]
        frames = np.concatenate(videos) if videos else np.zeros((0, 1, 1, 3), np.uint8)
        features = [self._embed(frames[i : i + self.batch_size]) for i in range(0, len(frames), self.batch_size)]
        stacked = np.concatenate(features) if features else np.zeros((0, FEATURE_DIM), np.float32)
        splits = np.cumsum([len(v) for v in videos])[:-1]
        return [part.astype(np.float32, copy=False) for part in np.split(stacked, splits)]

    def _embed(self, frames: np.ndarray) -> np.ndarray:
        """float32 ``[N, 2048]`` features of uint8 ``[N, H, W, 3]`` frames."""
        if self.mode == "clean":
            images = resize_clean(frames)
        else:
            images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
            if self.mode == "legacy_pytorch":
                images = resize_legacy_pytorch(images)
        images = images.to(self.device)
        if self.backbone == "pytorch-fid":
            out = pytorch_fid_pool3(self.network, images)
        elif self.mode == "legacy_tensorflow":
            # NOTE: the TorchScript graph resizes [0, 255] input itself (clean-fid's resize_inside).
            out = self.network(images, return_features=True)
        else:
            out = self.network.layers((images - 128.0) / 128.0)
        return out.reshape(len(frames), FEATURE_DIM).float().cpu().numpy()


def _load_network(backbone: Backbone, path: Path) -> nn.Module:
    """Load the official weights file of ``backbone`` from ``path``."""
    if backbone == "torchscript":
        return torch.jit.load(str(path), map_location="cpu").eval()
    network = build_pytorch_fid_inception()
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    network.load_state_dict(state_dict, strict=True)
    return network

"""LFDM's latent flow autoencoder (LFAE): MRAA's region-based motion model, as LFDM uses it.

Written from upstream ``LFAE/modules/`` (region_predictor.py, bg_motion_predictor.py,
pixelwise_flow_predictor.py, generator.py, util.py), which follow MRAA
(Siarohin et al., "Motion representations for articulated animation", CVPR 2021):

- `RegionPredictor`: an hourglass on the 1/4-scale image → K soft region heatmaps →
  each region's centre (``shift``), covariance, and its square root by SVD (``affine``);
- `BackgroundMotionPredictor`: an encoder on (source, driving) → one affine background
  motion, a 3×3 matrix;
- `PixelwiseFlowPredictor`: the K + 1 sparse motions (background + each region's affine
  map) blended by predicted masks into a dense backward flow, plus an occlusion map;
- `FlowGenerator`: encodes the source image, warps its features at every scale by the
  flow, masks them by the occlusion, decodes. The diffusion generates flows and
  occlusions; `FlowGenerator.forward_with_flow` turns them into frames.

Module and parameter names are upstream's own, so the converter maps these keys
one-to-one (under ``generator.``, ``region_predictor.``, ``bg_predictor.``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from adapters.lfdm.config import LFAEConfig


def coordinate_grid(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """float ``[h, w, 2]`` (x, y) coordinates in [-1, 1], corners included."""
    x = 2 * (torch.arange(w, device=like.device).to(like.dtype) / (w - 1)) - 1
    y = 2 * (torch.arange(h, device=like.device).to(like.dtype) / (h - 1)) - 1
    return torch.stack((x[None, :].expand(h, w), y[:, None].expand(h, w)), dim=-1)


def region_gaussians(shift: torch.Tensor, covar: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Gaussian heatmaps of regions: float ``[B, K, h, w]`` from centres ``[B, K, 2]`` and covariances ``[B, K, 2, 2]``."""
    grid = coordinate_grid(*size, like=shift)[None, None]
    centred = grid - shift[:, :, None, None, :]
    inverse = torch.inverse(covar)[:, :, None, None]
    under_exp = centred.unsqueeze(-2) @ inverse @ centred.unsqueeze(-1)
    return torch.exp(-0.5 * under_exp.sum(dim=(-1, -2)))


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``image [B, C, H, W]`` at the backward flow ``[B, h, w, 2]`` (resized to H × W bilinearly if needed)."""
    if flow.shape[1:3] != image.shape[2:]:
        flow = F.interpolate(flow.permute(0, 3, 1, 2), size=image.shape[2:], mode="bilinear", align_corners=False).permute(0, 2, 3, 1)
    return F.grid_sample(image, flow, mode="bilinear", padding_mode="zeros", align_corners=False)


class SameBlock2d(nn.Module):
    """conv → BatchNorm → ReLU at the same resolution."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size, padding=padding)
        self.norm = nn.BatchNorm2d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


class DownBlock2d(SameBlock2d):
    """conv → BatchNorm → ReLU → 2×2 average pooling."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(super().forward(x), 2)


class UpBlock2d(SameBlock2d):
    """2× nearest upsampling → conv → BatchNorm → ReLU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.interpolate(x, scale_factor=2, mode="nearest"))


class ResBlock2d(nn.Module):
    """Pre-activation residual block: (BN → ReLU → conv) × 2, plus the input."""

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)
        self.norm1 = nn.BatchNorm2d(features, affine=True)
        self.norm2 = nn.BatchNorm2d(features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        return self.conv2(F.relu(self.norm2(out))) + x


class Encoder(nn.Module):
    """Down blocks doubling the width (capped); returns the input and every block's output."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        widths = [in_features] + [min(max_features, block_expansion * 2 ** (i + 1)) for i in range(num_blocks)]
        self.down_blocks = nn.ModuleList(DownBlock2d(widths[i], widths[i + 1]) for i in range(num_blocks))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class Decoder(nn.Module):
    """Up blocks, each output concatenated with the encoder's feature of that scale."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            width_in = (1 if i == num_blocks - 1 else 2) * min(max_features, block_expansion * 2 ** (i + 1))
            blocks.append(UpBlock2d(width_in, min(max_features, block_expansion * 2**i)))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        features = list(features)
        out = features.pop()
        for block in self.up_blocks:
            out = torch.cat((block(out), features.pop()), dim=1)
        return out


class Hourglass(nn.Module):
    """U-Net-like encoder/decoder; output has ``block_expansion + in_features`` channels."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class AntiAliasDownsample(nn.Module):
    """Gaussian blur then stride: band-limited downscaling by ``scale`` (e.g. 0.25).

    The kernel is a buffer named ``weight`` ([C, 1, k, k]), saved in the checkpoints.
    """

    def __init__(self, channels: int, scale: float):
        super().__init__()
        sigma = (1 / scale - 1) / 2
        size = 2 * round(sigma * 4) + 1
        self.ka = size // 2
        self.kb = self.ka - 1 if size % 2 == 0 else self.ka
        coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
        g = torch.exp(-(coords**2) / (2 * sigma**2))
        kernel = g[:, None] * g[None, :]
        self.register_buffer("weight", (kernel / kernel.sum())[None, None].repeat(channels, 1, 1, 1))
        self.groups, self.stride = channels, int(1 / scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(F.pad(x, (self.ka, self.kb, self.ka, self.kb)), self.weight, groups=self.groups)
        return out[:, :, :: self.stride, :: self.stride]


class RegionPredictor(nn.Module):
    """Soft regions of an image and each one's centre, covariance and affine square root (PCA by SVD)."""

    def __init__(self, config: LFAEConfig):
        super().__init__()
        c = config
        self.predictor = Hourglass(c.region_block_expansion, c.num_channels, c.region_num_blocks, c.region_max_features)
        self.regions = nn.Conv2d(self.predictor.out_filters, c.num_regions, 7, padding=c.region_pad)
        self.temperature = c.region_temperature
        self.down = AntiAliasDownsample(c.num_channels, c.region_scale_factor) if c.region_scale_factor != 1 else None

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Region parameters of ``image`` (float ``[B, 3, H, W]`` in [0, 1]).

        Returns:
            ``shift`` [B, K, 2], ``covar`` [B, K, 2, 2], ``affine`` [B, K, 2, 2] (U·√S),
            ``heatmap`` [B, K, h, w].
        """
        x = self.down(image) if self.down is not None else image
        logits = self.regions(self.predictor(x))
        b, k, h, w = logits.shape
        heatmap = F.softmax(logits.view(b, k, -1) / self.temperature, dim=2).view(b, k, h, w)
        grid = coordinate_grid(h, w, like=heatmap)[None, None]
        weights = heatmap.unsqueeze(-1)
        shift = (weights * grid).sum(dim=(2, 3))
        centred = grid - shift[:, :, None, None, :]
        covar = ((centred.unsqueeze(-1) @ centred.unsqueeze(-2)) * weights.unsqueeze(-1)).sum(dim=(2, 3))
        # NOTE: upstream runs this SVD on the CPU whatever the device; kept, so signs match.
        u, s, _ = torch.linalg.svd(covar.reshape(-1, 2, 2).cpu())
        u, s = u.to(covar.device), s.to(covar.device)
        affine = (u @ torch.diag_embed(s**0.5)).view(b, k, 2, 2)
        return {"shift": shift, "covar": covar, "affine": affine, "heatmap": heatmap}


class BackgroundMotionPredictor(nn.Module):
    """One affine background motion between source and driving frames: float ``[B, 3, 3]``."""

    def __init__(self, config: LFAEConfig):
        super().__init__()
        c = config
        self.encoder = Encoder(c.bg_block_expansion, c.num_channels * 2, c.bg_num_blocks, c.bg_max_features)
        self.fc = nn.Linear(min(c.bg_max_features, c.bg_block_expansion * 2**c.bg_num_blocks), 6)

    def forward(self, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
        b = source.shape[0]
        params = self.fc(self.encoder(torch.cat((source, driving), dim=1))[-1].mean(dim=(2, 3)))
        bottom = torch.tensor([0.0, 0.0, 1.0], device=source.device, dtype=source.dtype).expand(b, 1, 3)
        return torch.cat((params.view(b, 2, 3), bottom), dim=1)


class PixelwiseFlowPredictor(nn.Module):
    """Dense backward flow ``[B, h, w, 2]`` and occlusion ``[B, 1, h, w]`` from region and background motions."""

    def __init__(self, config: LFAEConfig):
        super().__init__()
        c = config
        self.num_regions, self.revert_axis_swap = c.num_regions, c.revert_axis_swap
        # Per motion (background + K regions): its heatmap difference and the source deformed by it.
        self.hourglass = Hourglass(c.flow_block_expansion, (c.num_regions + 1) * (c.num_channels + 1), c.flow_num_blocks, c.flow_max_features)
        self.mask = nn.Conv2d(self.hourglass.out_filters, c.num_regions + 1, 7, padding=3)
        self.occlusion = nn.Conv2d(self.hourglass.out_filters, 1, 7, padding=3)
        self.down = AntiAliasDownsample(c.num_channels, c.flow_scale_factor) if c.flow_scale_factor != 1 else None

    def sparse_motions(self, size: tuple[int, int], driving: dict, source: dict, bg_params: torch.Tensor) -> torch.Tensor:
        """float ``[B, K + 1, h, w, 2]``: where each driving pixel comes from, per motion."""
        h, w = size
        b = bg_params.shape[0]
        identity = coordinate_grid(h, w, like=source["shift"]).view(1, 1, h, w, 2)
        local = identity - driving["shift"].view(b, self.num_regions, 1, 1, 2)
        affine = source["affine"] @ torch.inverse(driving["affine"])
        if self.revert_axis_swap:
            affine = affine * torch.sign(affine[:, :, 0:1, 0:1])
        local = (affine[:, :, None, None] @ local.unsqueeze(-1)).squeeze(-1)
        regions = local + source["shift"].view(b, self.num_regions, 1, 1, 2)
        homogeneous = torch.cat((identity.expand(b, 1, h, w, 2), torch.ones(b, 1, h, w, 1, device=identity.device, dtype=identity.dtype)), dim=-1)
        background = (bg_params.view(b, 1, 1, 1, 3, 3) @ homogeneous.unsqueeze(-1)).squeeze(-1)
        background = background[..., :2] / background[..., 2:3]
        return torch.cat((background, regions), dim=1)

    def forward(self, source_image: torch.Tensor, driving: dict, source: dict, bg_params: torch.Tensor) -> dict[str, torch.Tensor]:
        image = self.down(source_image) if self.down is not None else source_image
        b, ch, h, w = image.shape
        k1 = self.num_regions + 1
        heatmaps = region_gaussians(driving["shift"], driving["covar"], (h, w)) - region_gaussians(source["shift"], source["covar"], (h, w))
        heatmaps = torch.cat((torch.zeros(b, 1, h, w, device=image.device, dtype=image.dtype), heatmaps), dim=1).unsqueeze(2)
        motions = self.sparse_motions((h, w), driving, source, bg_params)
        repeated = image.unsqueeze(1).expand(b, k1, ch, h, w).reshape(b * k1, ch, h, w)
        deformed = F.grid_sample(repeated, motions.reshape(b * k1, h, w, 2), mode="bilinear", padding_mode="zeros", align_corners=False)
        features = self.hourglass(torch.cat((heatmaps, deformed.view(b, k1, ch, h, w)), dim=2).view(b, -1, h, w))
        mask = F.softmax(self.mask(features), dim=1).unsqueeze(2)
        flow = (motions.permute(0, 1, 4, 2, 3) * mask).sum(dim=1).permute(0, 2, 3, 1)
        return {"optical_flow": flow, "occlusion_map": torch.sigmoid(self.occlusion(features))}


class FlowGenerator(nn.Module):
    """Encode the source image, warp and mask its features by a flow, decode the frame."""

    def __init__(self, config: LFAEConfig):
        super().__init__()
        c = config
        self.pixelwise_flow_predictor = PixelwiseFlowPredictor(config)
        self.first = SameBlock2d(c.num_channels, c.gen_block_expansion, kernel_size=7, padding=3)
        width = lambda i: min(c.gen_max_features, c.gen_block_expansion * 2**i)  # noqa: E731
        n = c.gen_num_down_blocks
        self.down_blocks = nn.ModuleList(DownBlock2d(width(i), width(i + 1)) for i in range(n))
        self.up_blocks = nn.ModuleList(UpBlock2d(width(n - i), width(n - i - 1)) for i in range(n))
        self.bottleneck = nn.Sequential()
        for i in range(c.gen_num_bottleneck_blocks):
            self.bottleneck.add_module(f"r{i}", ResBlock2d(width(n)))
        self.final = nn.Conv2d(c.gen_block_expansion, c.num_channels, 7, padding=3)

    def encode(self, source_image: torch.Tensor) -> list[torch.Tensor]:
        """Features at every scale, finest first; the last is the bottleneck the diffusion conditions on."""
        out = [self.first(source_image)]
        for block in self.down_blocks:
            out.append(block(out[-1]))
        return out

    def compute_features(self, source_image: torch.Tensor) -> torch.Tensor:
        """float ``[B, C_feat, H/4, W/4]``: the condition of the diffusion."""
        return self.encode(source_image)[-1]

    @staticmethod
    def _blend(skip: torch.Tensor, previous: torch.Tensor | None, flow: torch.Tensor, occlusion: torch.Tensor) -> torch.Tensor:
        skip = warp(skip, flow)
        if occlusion.shape[2:] != skip.shape[2:]:
            occlusion = F.interpolate(occlusion, size=skip.shape[2:], mode="bilinear", align_corners=False)
        return skip * occlusion if previous is None else skip * occlusion + previous * (1 - occlusion)

    def forward_with_flow(self, source_image: torch.Tensor, optical_flow: torch.Tensor, occlusion_map: torch.Tensor) -> dict[str, torch.Tensor]:
        """A frame from the source image and a flow + occlusion.

        Args:
            source_image: float ``[B, 3, H, W]`` in [0, 1].
            optical_flow: float ``[B, h, w, 2]`` backward flow in [-1, 1] coordinates.
            occlusion_map: float ``[B, 1, h, w]`` in [0, 1].

        Returns:
            ``prediction`` float ``[B, 3, H, W]`` in [0, 1] and ``deformed`` (the source
            warped by the flow alone).
        """
        skips = self.encode(source_image)
        out = self._blend(skips[-1], None, optical_flow, occlusion_map)
        out = self.bottleneck(out)
        for i, block in enumerate(self.up_blocks):
            out = block(self._blend(skips[-(i + 1)], out, optical_flow, occlusion_map))
        out = self._blend(skips[0], out, optical_flow, occlusion_map)
        out = torch.sigmoid(self.final(out))
        out = self._blend(source_image, out, optical_flow, occlusion_map)
        return {"prediction": out, "deformed": warp(source_image, optical_flow)}

    def forward(self, source_image: torch.Tensor, driving: dict, source: dict, bg_params: torch.Tensor) -> dict[str, torch.Tensor]:
        """Reconstruct the driving frame: the flow comes from the region and background motions."""
        motion = self.pixelwise_flow_predictor(source_image, driving, source, bg_params)
        out = self.forward_with_flow(source_image, motion["optical_flow"], motion["occlusion_map"])
        return {**out, **motion, "bottleneck": self.compute_features(source_image)}


class LatentFlowAutoencoder(nn.Module):
    """The three LFAE networks, named as the released checkpoint names them."""

    def __init__(self, config: LFAEConfig):
        super().__init__()
        self.config = config
        self.generator = FlowGenerator(config)
        self.region_predictor = RegionPredictor(config)
        self.bg_predictor = BackgroundMotionPredictor(config)

    def flows(self, source: torch.Tensor, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The flow + occlusion maps of a video relative to its source frame (the diffusion's training target).

        Args:
            source: float ``[B, 3, H, W]`` in [0, 1].
            video: float ``[B, 3, F, H, W]`` in [0, 1].

        Returns:
            flow float ``[B, 2, F, h, w]`` and occlusion float ``[B, 1, F, h, w]`` in [0, 1].
        """
        source_regions = self.region_predictor(source)
        flows, occlusions = [], []
        for i in range(video.shape[2]):
            frame = video[:, :, i]
            motion = self.generator.pixelwise_flow_predictor(source, self.region_predictor(frame), source_regions, self.bg_predictor(source, frame))
            flows.append(motion["optical_flow"].permute(0, 3, 1, 2))
            occlusions.append(motion["occlusion_map"])
        return torch.stack(flows, dim=2), torch.stack(occlusions, dim=2)

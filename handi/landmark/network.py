"""A PyTorch port of MediaPipe's 21-joint hand-landmark network (``hand_landmark_full``).

The module graph is built from the op list of the ``.tflite`` file itself
(`handi.landmark.tflite_weights`), so the port follows the file rather than a
hand-copied architecture: a MobileNetV2-style trunk (3x3 stride-2 stem, inverted
residual blocks of 1x1 expand -> 3x3/5x5 depthwise -> 1x1 project, ReLU6, residual
adds), a global mean over the 7x7 map, and four fully connected heads.

Layout: the TFLite model takes NHWC; the port takes NCHW, ``[N, 3, 224, 224]``
float RGB in [0, 1] (MediaPipe feeds the crop in that range), and its weights are
permuted once at load.

NOTE: TensorFlow's SAME padding is asymmetric when the padding total is odd (every
stride-2 layer here on an even input): the extra row and column go at the bottom
and right. PyTorch's symmetric ``padding=k // 2`` moves landmarks by tens of
pixels, so each layer pads explicitly with :func:`tf_same_pads`.
See https://www.tensorflow.org/api_docs/python/tf/nn#notes_on_padding_2

The network always runs in float32: bf16 autocast moves its landmarks by 0.7 px on
average and up to 23 px of a 224 crop, so :meth:`HandLandmarkNet.forward` turns
autocast off and casts its input to float32 (gradients still flow to the input).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from hcvg.assets import resolve_asset
from handi.landmark.tflite_weights import TfliteGraph, TfliteOp, read_tflite_graph

logger = logging.getLogger(__name__)

#: Side of the square input crop, in pixels.
INPUT_SIZE = 224
NUM_JOINTS = 21

# MediaPipe reads the model's four outputs by position (hand_landmarks_detector_graph.cc:
# landmarks, hand flag, handedness, world landmarks) with these shapes.
_OUTPUT_SHAPES = ((1, 63), (1, 1), (1, 1), (1, 63))


def tf_same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow SAME padding along one axis, as (before, after).

    The output size is ``ceil(size / stride)``; the padding needed for it is split
    with the odd pixel after (bottom / right), as TensorFlow does.

    Args:
        size: Input length along the axis.
        kernel: Kernel length.
        stride: Stride.
        dilation: Dilation factor.
    """
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _activate(x: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "NONE":
        return x
    if activation == "RELU6":
        return F.relu6(x)
    if activation == "RELU":
        return F.relu(x)
    raise ValueError(f"fused activation {activation} is not implemented by the port")


class TfConv2d(nn.Module):
    """CONV_2D or DEPTHWISE_CONV_2D with TFLite's padding and fused activation.

    Args:
        op: The TFLite op, with its float32 weight and bias.
    """

    def __init__(self, op: TfliteOp) -> None:
        super().__init__()
        assert op.weight is not None and op.bias is not None
        weight = torch.from_numpy(op.weight.copy())
        if op.kind == "CONV_2D":
            # [O, KH, KW, I] -> [O, I, KH, KW]
            weight = weight.permute(0, 3, 1, 2)
            groups = 1
        else:
            # [1, KH, KW, C * M] -> [C * M, 1, KH, KW]; one group per input channel.
            weight = weight.permute(3, 0, 1, 2)
            groups = weight.shape[0] // op.options["depth_multiplier"]
        self.weight = nn.Parameter(weight.contiguous())
        self.bias = nn.Parameter(torch.from_numpy(op.bias.copy()))
        self.groups = groups
        self.stride = tuple(op.options["stride"])
        self.dilation = tuple(op.options["dilation"])
        self.padding = op.options["padding"]
        self.activation = op.options["activation"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: float32 ``[N, C, H, W]``. Returns: float32 ``[N, O, H', W']``."""
        padding: tuple[int, int] = (0, 0)
        if self.padding == "SAME":
            kh, kw = self.weight.shape[-2:]
            top, bottom = tf_same_pads(x.shape[-2], kh, self.stride[0], self.dilation[0])
            left, right = tf_same_pads(x.shape[-1], kw, self.stride[1], self.dilation[1])
            if (top, left) == (bottom, right):
                padding = (top, left)  # symmetric: the convolution pads without a copy
            else:
                x = F.pad(x, (left, right, top, bottom))
        y = F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)
        return _activate(y, self.activation)


class TfAdd(nn.Module):
    """ADD of two tensors with a fused activation (the residual connections)."""

    def __init__(self, op: TfliteOp) -> None:
        super().__init__()
        self.activation = op.options["activation"]

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return _activate(a + b, self.activation)


class TfMean(nn.Module):
    """MEAN over NHWC axes, applied to NCHW tensors."""

    # NHWC axis -> NCHW axis, for 4-D tensors.
    _NCHW = (0, 2, 3, 1)

    def __init__(self, op: TfliteOp) -> None:
        super().__init__()
        self.axes = tuple(self._NCHW[a] for a in op.options["axes"])
        self.keep_dims = op.options["keep_dims"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"MEAN expects a 4-D feature map, got shape {tuple(x.shape)}")
        return x.mean(dim=self.axes, keepdim=self.keep_dims)


class TfFullyConnected(nn.Module):
    """FULLY_CONNECTED: ``x @ W.T + b`` with TFLite's [O, I] weights, and an activation."""

    def __init__(self, op: TfliteOp) -> None:
        super().__init__()
        assert op.weight is not None
        self.weight = nn.Parameter(torch.from_numpy(op.weight.copy()))
        self.bias = nn.Parameter(torch.from_numpy(op.bias.copy())) if op.bias is not None else None
        self.activation = op.options["activation"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            # TFLite flattens NHWC; bring the channels last before flattening.
            x = x.permute(0, 2, 3, 1)
        x = x.reshape(x.shape[0], -1)
        return _activate(F.linear(x, self.weight, self.bias), self.activation)


class TfLogistic(nn.Module):
    """LOGISTIC: the sigmoid of the presence and handedness heads."""

    def __init__(self, op: TfliteOp) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x)


_MODULES: dict[str, type[nn.Module]] = {
    "CONV_2D": TfConv2d,
    "DEPTHWISE_CONV_2D": TfConv2d,
    "ADD": TfAdd,
    "MEAN": TfMean,
    "FULLY_CONNECTED": TfFullyConnected,
    "LOGISTIC": TfLogistic,
}


@dataclass
class HandLandmarkOutput:
    """The four outputs of the hand-landmark network for N crops.

    Attributes:
        landmarks: float32 ``[N, 21, 3]``: (x, y, z) in crop pixels (x, y in
            [0, 224] for a hand inside the crop; z relative to the wrist, same scale as x).
        presence: float32 ``[N]``: hand-presence probability (sigmoid), in [0, 1].
        handedness: float32 ``[N]``: handedness probability (sigmoid), in [0, 1];
            MediaPipe reads values above 0.5 as "Right".
        world_landmarks: float32 ``[N, 21, 3]``: metric 3-D landmarks (meters,
            origin at the hand's approximate geometric center).
    """

    landmarks: torch.Tensor
    presence: torch.Tensor
    handedness: torch.Tensor
    world_landmarks: torch.Tensor


class HandLandmarkNet(nn.Module):
    """MediaPipe's hand-landmark network as a graph of PyTorch modules.

    Build it with :meth:`from_tflite` (or :func:`load_hand_landmark_net`). The
    parameters are frozen (``requires_grad=False``) and the module is in eval mode:
    the network is a fixed judge whose gradients flow to its input only.

    Args:
        graph: The parsed TFLite graph (`handi.landmark.tflite_weights.read_tflite_graph`).

    Raises:
        ValueError: If the graph's input is not ``[1, 224, 224, 3]`` or its outputs
            are not the four heads MediaPipe reads.
    """

    def __init__(self, graph: TfliteGraph) -> None:
        super().__init__()
        if len(graph.inputs) != 1 or graph.tensor_shapes.get(graph.inputs[0]) != (1, INPUT_SIZE, INPUT_SIZE, 3):
            shapes = [graph.tensor_shapes.get(t) for t in graph.inputs]
            raise ValueError(f"expected one input of shape (1, 224, 224, 3), got {shapes}; is this hand_landmark_full?")
        shapes = tuple(graph.tensor_shapes.get(t) for t in graph.outputs)
        if shapes != _OUTPUT_SHAPES:
            raise ValueError(f"expected outputs of shapes {_OUTPUT_SHAPES}, got {shapes}; is this hand_landmark_full?")
        self.layers = nn.ModuleList(_MODULES[op.kind](op) for op in graph.ops)
        self._wiring = [(op.inputs, op.outputs[0]) for op in graph.ops]
        self._input = graph.inputs[0]
        self._outputs = graph.outputs
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_tflite(cls, path: str | os.PathLike[str]) -> "HandLandmarkNet":
        """Build the network from ``hand_landmark_full.tflite`` or a ``hand_landmarker.task`` bundle.

        Args:
            path: The ``.tflite`` file, or the bundle holding it as ``hand_landmarks_detector.tflite``.
        """
        return cls(read_tflite_graph(path))

    def forward(self, crops: torch.Tensor) -> HandLandmarkOutput:
        """Run the network on hand crops, in float32 whatever the autocast state.

        Args:
            crops: float ``[N, 3, 224, 224]`` RGB in [0, 1], NCHW, the hand upright
                (wrist at the bottom), as `handi.landmark.crop.crop_hands` makes them.

        Returns:
            The landmarks, presence, handedness and world landmarks of each crop.
        """
        if crops.dim() != 4 or tuple(crops.shape[1:]) != (3, INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"crops must be [N, 3, 224, 224] RGB in [0, 1], got shape {tuple(crops.shape)}")
        with torch.autocast(device_type=crops.device.type, enabled=False):
            env = {self._input: crops.float()}
            for layer, (inputs, output) in zip(self.layers, self._wiring):
                env[output] = layer(*(env[t] for t in inputs))
            landmarks, presence, handedness, world = (env[t] for t in self._outputs)
        n = crops.shape[0]
        return HandLandmarkOutput(
            landmarks=landmarks.reshape(n, NUM_JOINTS, 3),
            presence=presence.reshape(n),
            handedness=handedness.reshape(n),
            world_landmarks=world.reshape(n, NUM_JOINTS, 3),
        )


def load_hand_landmark_net(path: str | os.PathLike[str] | None = None) -> HandLandmarkNet:
    """The hand-landmark network from the ``hand-landmarker`` bundle.

    Args:
        path: A ``.task`` bundle or ``.tflite`` file; None resolves the
            ``hand-landmarker`` asset (``$HCVG_HAND_LANDMARKER``, then the asset cache).

    Raises:
        hcvg.assets.AssetNotFoundError: If the bundle is not found; its message
            names ``hand_landmarker.task``, where it was looked for, and
            ``hcvg assets fetch hand-landmarker``.
    """
    resolved: Path = resolve_asset("hand-landmarker", path)
    logger.debug("hand-landmark network from %s", resolved)
    return HandLandmarkNet.from_tflite(resolved)

"""Reads MediaPipe's hand-landmark TFLite model into an ordered list of ops with weights.

``hand_landmark_full.tflite`` (member ``hand_landmarks_detector.tflite`` of the
``hand_landmarker.task`` bundle) is one flatbuffer subgraph of 31 CONV_2D,
16 DEPTHWISE_CONV_2D, 9 ADD, 1 MEAN, 4 FULLY_CONNECTED and 2 LOGISTIC ops, whose
~2.7 M weights are stored as float16 constants behind 102 DEQUANTIZE ops. This
module parses the flatbuffer with the ``tflite`` package (the generated schema
bindings), folds every DEQUANTIZE of a constant into a float32 array, and returns
the compute ops in graph order (:class:`TfliteGraph`), which
`handi.landmark.network.HandLandmarkNet` turns into PyTorch modules.

Only what such a float model needs is supported; anything else (a quantized
tensor, an op the port has no module for) raises rather than being skipped.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: The landmark model's member name inside a ``hand_landmarker.task`` bundle.
BUNDLE_MEMBER = "hand_landmarks_detector.tflite"

#: The ops the port implements (constant-folded DEQUANTIZE aside).
SUPPORTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "LOGISTIC")

# TFLite enums, by value (schema.fbs); resolved from the bindings at first use.
_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH"}
_PADDINGS = {0: "SAME", 1: "VALID"}


@dataclass(frozen=True)
class TfliteOp:
    """One compute op of the graph, with its constant operands already float32.

    Attributes:
        kind: The builtin op name, one of :data:`SUPPORTED_OPS`.
        inputs: Ids of the op's activation (non-constant) input tensors, in operand order.
        outputs: Ids of the op's output tensors.
        weight: float32 constant weight in TFLite layout, or None:
            CONV_2D ``[O, KH, KW, I]``, DEPTHWISE_CONV_2D ``[1, KH, KW, C * M]``,
            FULLY_CONNECTED ``[O, I]``.
        bias: float32 ``[O]`` constant bias, or None.
        options: The op's builtin options: for convolutions ``padding`` ("SAME" or
            "VALID"), ``stride`` and ``dilation`` as (h, w), ``activation`` (e.g.
            "RELU6"), and for DEPTHWISE_CONV_2D ``depth_multiplier``; for ADD and
            FULLY_CONNECTED ``activation``; for MEAN ``axes`` (NHWC axes) and ``keep_dims``.
    """

    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TfliteGraph:
    """A TFLite subgraph as compute ops in execution order.

    Attributes:
        ops: The compute ops, in the order the interpreter runs them.
        inputs: Ids of the graph's input tensors.
        outputs: Ids of the graph's output tensors, in the model's output order.
        tensor_names: Tensor id -> name, for the inputs and outputs (e.g. ``"input_1"``, ``"Identity_1"``).
        tensor_shapes: Tensor id -> shape as stored (NHWC for images; batch 1), for every activation tensor.
    """

    ops: list[TfliteOp]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    tensor_names: dict[int, str]
    tensor_shapes: dict[int, tuple[int, ...]]

    def num_weights(self) -> int:
        """Total number of constant weights (weights and biases) of the compute ops."""
        return sum(a.size for op in self.ops for a in (op.weight, op.bias) if a is not None)


def read_tflite_bytes(path: str | os.PathLike[str], member: str = BUNDLE_MEMBER) -> bytes:
    """The bytes of a ``.tflite`` file, or of the model ``member`` of a ``.task`` bundle.

    Args:
        path: A ``.tflite`` flatbuffer, or a MediaPipe ``.task`` bundle (a zip of models).
        member: The bundle member to read when ``path`` is a zip.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the bundle lacks ``member``, or the bytes are not a TFLite model.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no TFLite model or .task bundle at {path}")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as bundle:
            names = bundle.namelist()
            if member not in names:
                raise ValueError(f"{path} is a bundle without {member!r} (it holds {names})")
            data = bundle.read(member)
    else:
        data = path.read_bytes()
    # TFLite flatbuffers carry the file identifier "TFL3" at bytes 4..8.
    if data[4:8] != b"TFL3":
        raise ValueError(f"{path}{'::' + member if zipfile.is_zipfile(path) else ''} is not a TFLite model")
    return data


def _import_tflite() -> Any:
    try:
        import tflite
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ModuleNotFoundError(
            "reading a .tflite model needs the `tflite` schema bindings: pip install tflite"
        ) from err
    return tflite


def _constant(model: Any, tensor: Any, data: bytes) -> np.ndarray | None:
    """The constant value of a tensor as a numpy array, or None if it has no data."""
    tfl = _import_tflite()
    buffer = model.Buffers(tensor.Buffer())
    if buffer is None:
        return None
    if buffer.DataLength() > 0:
        raw = buffer.DataAsNumpy().tobytes()
    elif buffer.Offset() > 1:  # models over 2 GiB keep data after the flatbuffer
        raw = data[buffer.Offset() : buffer.Offset() + buffer.Size()]
    else:
        return None
    dtypes = {tfl.TensorType.FLOAT32: np.float32, tfl.TensorType.FLOAT16: np.float16, tfl.TensorType.INT32: np.int32}
    if tensor.Type() not in dtypes:
        raise ValueError(
            f"tensor {tensor.Name().decode()!r} has TFLite type {tensor.Type()}; only float32, float16 "
            "and int32 constants are supported (a quantized model needs its own port)"
        )
    shape = tuple(int(s) for s in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    return np.frombuffer(raw, dtype=dtypes[tensor.Type()]).reshape(shape)


def _activation(value: int, op_name: str) -> str:
    if value not in _ACTIVATIONS:
        raise ValueError(f"{op_name}: unknown fused activation {value}")
    return _ACTIVATIONS[value]


def _options(tfl: Any, kind: str, op: Any) -> dict[str, Any]:
    """The builtin options of a compute op as plain values."""
    table = op.BuiltinOptions()
    if kind == "CONV_2D":
        o = tfl.Conv2DOptions()
        o.Init(table.Bytes, table.Pos)
        return {
            "padding": _PADDINGS[o.Padding()],
            "stride": (o.StrideH(), o.StrideW()),
            "dilation": (o.DilationHFactor(), o.DilationWFactor()),
            "activation": _activation(o.FusedActivationFunction(), kind),
        }
    if kind == "DEPTHWISE_CONV_2D":
        o = tfl.DepthwiseConv2DOptions()
        o.Init(table.Bytes, table.Pos)
        return {
            "padding": _PADDINGS[o.Padding()],
            "stride": (o.StrideH(), o.StrideW()),
            "dilation": (o.DilationHFactor(), o.DilationWFactor()),
            "depth_multiplier": o.DepthMultiplier(),
            "activation": _activation(o.FusedActivationFunction(), kind),
        }
    if kind == "ADD":
        o = tfl.AddOptions()
        o.Init(table.Bytes, table.Pos)
        return {"activation": _activation(o.FusedActivationFunction(), kind)}
    if kind == "FULLY_CONNECTED":
        o = tfl.FullyConnectedOptions()
        o.Init(table.Bytes, table.Pos)
        if o.WeightsFormat() != 0:
            raise ValueError(f"{kind}: only the DEFAULT weights format is supported, got {o.WeightsFormat()}")
        return {"activation": _activation(o.FusedActivationFunction(), kind), "keep_num_dims": bool(o.KeepNumDims())}
    if kind == "MEAN":
        o = tfl.ReducerOptions()
        o.Init(table.Bytes, table.Pos)
        return {"keep_dims": bool(o.KeepDims())}
    return {}


def read_tflite_graph(path: str | os.PathLike[str], member: str = BUNDLE_MEMBER) -> TfliteGraph:
    """Parse a float TFLite model (or a bundle's model) into :class:`TfliteGraph`.

    Args:
        path: A ``.tflite`` file or a ``.task`` bundle (see :func:`read_tflite_bytes`).
        member: The bundle member to read when ``path`` is a bundle.

    Returns:
        The compute ops in execution order with float32 weights; every DEQUANTIZE of
        a float16 constant is folded away (its output becomes the float32 constant).

    Raises:
        ValueError: If the model has more than one subgraph, an op outside
            :data:`SUPPORTED_OPS`, or a constant of an unsupported type.
    """
    tfl = _import_tflite()
    data = read_tflite_bytes(path, member)
    model = tfl.Model.GetRootAsModel(data, 0)
    if model.SubgraphsLength() != 1:
        raise ValueError(f"{path}: expected one subgraph, found {model.SubgraphsLength()}")
    graph = model.Subgraphs(0)
    op_names = {v: k for k, v in vars(tfl.BuiltinOperator).items() if not k.startswith("_")}

    # Constants by tensor id: stored tensors first, DEQUANTIZE outputs as they are met.
    constants: dict[int, np.ndarray] = {}
    for t in range(graph.TensorsLength()):
        value = _constant(model, graph.Tensors(t), data)
        if value is not None:
            constants[t] = value

    ops: list[TfliteOp] = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        # Codes below 127 are also kept in the deprecated int8 field; the larger wins.
        kind = op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        operands = [op.Inputs(j) for j in range(op.InputsLength())]
        outputs = tuple(op.Outputs(j) for j in range(op.OutputsLength()))
        if kind == "DEQUANTIZE" and operands[0] in constants:
            constants[outputs[0]] = constants[operands[0]].astype(np.float32)
            continue
        if kind not in SUPPORTED_OPS:
            raise ValueError(
                f"{path}: op #{i} is {kind}, which the PyTorch port does not implement "
                f"(supported: {', '.join(SUPPORTED_OPS)})"
            )
        options = _options(tfl, kind, op)
        weight = bias = None
        activations: list[int] = []
        for pos, tid in enumerate(operands):
            if tid < 0:  # an omitted optional operand (e.g. no bias)
                continue
            if tid not in constants:
                activations.append(tid)
            elif kind == "MEAN":
                options["axes"] = tuple(int(a) for a in np.atleast_1d(constants[tid]))
            elif pos == 1:
                weight = constants[tid].astype(np.float32)
            elif pos == 2:
                bias = constants[tid].astype(np.float32)
            else:
                raise ValueError(f"{path}: op #{i} ({kind}) has an unexpected constant operand at position {pos}")
        ops.append(TfliteOp(kind, tuple(activations), outputs, weight, bias, options))

    def name(t: int) -> str:
        return graph.Tensors(t).Name().decode()

    inputs = tuple(graph.Inputs(j) for j in range(graph.InputsLength()))
    outputs = tuple(graph.Outputs(j) for j in range(graph.OutputsLength()))
    shapes = {
        t: tuple(int(s) for s in graph.Tensors(t).ShapeAsNumpy())
        for t in range(graph.TensorsLength())
        if t not in constants and graph.Tensors(t).ShapeLength()
    }
    return TfliteGraph(ops, inputs, outputs, {t: name(t) for t in inputs + outputs}, shapes)

"""Identical random weights on both sides of an upstream parity check.

A native port equals the authors' code only if both run with the same weights. Neither
side may import the other's code, so the weights are a pure function of the upstream
checkpoint's key names and shapes: each tensor is drawn from its own generator, seeded
from the run seed and the key's CRC32, so the fill does not depend on key order, on
which other keys exist, or on the model class that holds them.

The upstream side (a throwaway script in its own venv, outside the project) loads this
file by path, fills the upstream model's ``state_dict()``, runs the upstream code and
saves its outputs; the project side fills the same upstream key list (the committed key
fixture), converts it with the port's converter and compares against those outputs.

Scales keep activations of deep random networks finite: weights ~ N(0, 1/fan_in), biases
~ N(0, 0.02²), one-dimensional weights (norm scales) ~ 1 + N(0, 0.02²). Integer and bool
buffers keep the value the model gave them.
"""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path
from typing import Any, Mapping

import torch


def key_seed(seed: int, key: str) -> int:
    """The generator seed of one tensor: independent of every other key."""
    return (seed * 1_000_003 + zlib.crc32(key.encode("utf-8"))) % (2**63 - 1)


def seeded_tensor(seed: int, key: str, shape: tuple[int, ...], like: torch.Tensor | None = None) -> torch.Tensor:
    """The deterministic float32 value of the tensor ``key`` of the given shape."""
    if like is not None and not like.is_floating_point():
        return like.clone()
    generator = torch.Generator().manual_seed(key_seed(seed, key))
    values = torch.randn(tuple(shape), generator=generator, dtype=torch.float64)
    name = key.rsplit(".", 1)[-1]
    if name == "bias" or len(shape) == 0:
        values = values * 0.02
    elif len(shape) == 1:
        values = 1.0 + values * 0.02
    else:
        fan_in = math.prod(shape[1:])
        values = values / math.sqrt(max(fan_in, 1))
    return values.to(torch.float32)


def seeded_state_dict(shapes: Mapping[str, Any], seed: int = 0, like: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Fill every key of ``shapes`` (key → shape, or key → tensor) deterministically.

    Args:
        shapes: Key → shape (list/tuple) or key → tensor (its shape is used; integer
            buffers are kept).
        seed: The run seed.
        like: Optional tensors whose non-float entries are kept as they are.
    """
    out = {}
    for key, value in shapes.items():
        tensor = value if isinstance(value, torch.Tensor) else None
        shape = tuple(tensor.shape) if tensor is not None else tuple(value)
        reference = (like or {}).get(key, tensor)
        out[key] = seeded_tensor(seed, key, shape, like=reference)
    return out


def fill_module(module: torch.nn.Module, seed: int = 0) -> None:
    """Overwrite a module's float parameters and buffers in place with the seeded fill."""
    state = module.state_dict()
    filled = seeded_state_dict(state, seed, like=state)
    module.load_state_dict(filled, strict=True)


def save_key_list(path: str | Path, state: Mapping[str, torch.Tensor], provenance: Mapping[str, Any]) -> None:
    """Write ``{"provenance": ..., "keys": {key: shape}}`` as JSON (sorted keys)."""
    keys = {k: list(v.shape) for k, v in sorted(state.items())}
    Path(path).write_text(json.dumps({"provenance": dict(provenance), "keys": keys}, indent=1) + "\n")


def load_key_list(path: str | Path) -> tuple[dict[str, tuple[int, ...]], dict[str, Any]]:
    """The key → shape map and the provenance of a key-list fixture."""
    data = json.loads(Path(path).read_text())
    return {k: tuple(v) for k, v in data["keys"].items()}, data["provenance"]

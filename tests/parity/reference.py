"""Saved upstream outputs: small safetensors files with their provenance.

A reference file holds the inputs given to the upstream code and the outputs it gave
(float32), plus string metadata saying where they came from: the upstream repository
and commit, the config, the seed of the weight fill, how the file was made and the
tolerance the port is held to. Tests read it with `load_reference` and compare with
`assert_close_reported`, which names the largest difference on failure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch

REQUIRED_PROVENANCE = ("upstream", "commit", "config", "seed", "how", "atol", "rtol")


def save_reference(path: str | Path, tensors: Mapping[str, torch.Tensor], provenance: Mapping[str, Any]) -> None:
    """Write tensors (made contiguous float32 where floating) and their provenance."""
    from safetensors.torch import save_file

    missing = [k for k in REQUIRED_PROVENANCE if k not in provenance]
    if missing:
        raise ValueError(f"reference {path}: provenance lacks {missing}")
    data = {k: (v.float() if v.is_floating_point() else v).contiguous().cpu() for k, v in tensors.items()}
    save_file(data, str(path), metadata={"provenance": json.dumps(dict(provenance), sort_keys=True)})


def load_reference(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and the provenance of a reference file."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        provenance = json.loads((f.metadata() or {}).get("provenance", "{}"))
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return tensors, provenance


def max_differences(actual: torch.Tensor, expected: torch.Tensor) -> tuple[float, float]:
    """(max absolute difference, max difference relative to the expected's max magnitude)."""
    diff = (actual.double() - expected.double()).abs().max().item()
    scale = expected.double().abs().max().item()
    return diff, diff / scale if scale else diff


def assert_close_reported(actual: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float, what: str) -> None:
    """`torch.testing.assert_close` with the measured differences in the message."""
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != reference {tuple(expected.shape)}"
    abs_diff, rel_diff = max_differences(actual, expected)
    torch.testing.assert_close(
        actual.double(), expected.double(), atol=atol, rtol=rtol,
        msg=lambda m: f"{what}: max |diff| {abs_diff:.3g} (relative to max |ref| {rel_diff:.3g}); {m}",
    )

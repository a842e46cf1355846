"""The prior motion-area mask: where hands act, on average, over a training set (paper §3.1).

Stage 1 of HANDI has the same UNet as stage 2, so it too takes a mask channel; during
stage 1 that channel is the *prior mask*, "the normalized coverage over all
groundtruth masks in the training set, indicating the prior distribution of the MA"
(paper §3.1). Here the coverage of a pixel is the fraction of training masks that
contain it, and the normalization divides by the largest coverage, so the most often
covered pixel reads 1 and a pixel no mask covers reads 0.

`save_prior_mask` writes it beside the split's masks as ``prior_mask.npy`` (float32,
exact) and ``prior_mask.png`` (uint8 0..255, to look at); `load_prior_mask` reads it
back for the model.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np

from hcvg.atomic import atomic_write_bytes
from hcvg.errors import InputNotFoundError, InvalidInputError

PRIOR_MASK_STEM = "prior_mask"


@dataclass(frozen=True)
class PriorMaskStats:
    """What a prior mask was made of, printed by `hcvg masks prior` and saved beside it.

    Attributes:
        num_masks: Ground-truth masks counted (empty ones included).
        num_empty: Of those, masks with no pixel set (clips where no hand was found).
        coverage: Fraction of pixels that at least one mask covers (prior > 0).
        peak_fraction: Fraction of the masks covering the most covered pixel: the
            divisor of the normalization.
        mean: Mean of the normalized prior over the frame.
    """

    num_masks: int
    num_empty: int
    coverage: float
    peak_fraction: float
    mean: float


def coverage_counts(masks: Iterable[np.ndarray]) -> tuple[np.ndarray, int, int]:
    """Per-pixel count of the masks covering each pixel, streamed (masks are never stacked).

    Args:
        masks: bool ``[H, W]`` masks, all of one size.

    Returns:
        ``(counts, num_masks, num_empty)``: counts int64 ``[H, W]`` in ``[0, num_masks]``.

    Raises:
        InvalidInputError: If there is no mask, a mask is not a 2-D bool array, or two
            masks differ in size (masks are never resized: resizing a training set's
            masks is the caller's explicit choice, not a silent one here).
    """
    counts: np.ndarray | None = None
    num_masks = num_empty = 0
    for index, mask in enumerate(masks):
        mask = np.asarray(mask)
        if mask.dtype != np.bool_ or mask.ndim != 2:
            raise InvalidInputError(
                f"mask {index} must be bool [H, W], got {mask.dtype} {mask.shape}; "
                "threshold a soft or 0/255 mask first (e.g. mask > 0.5)"
            )
        if counts is None:
            counts = np.zeros(mask.shape, dtype=np.int64)
        elif mask.shape != counts.shape:
            raise InvalidInputError(
                f"mask {index} is {mask.shape[0]}x{mask.shape[1]} but mask 0 is {counts.shape[0]}x{counts.shape[1]}; "
                "a prior mask needs masks of one size (resize them to the benchmark's frame size first)"
            )
        counts += mask
        num_masks += 1
        num_empty += not mask.any()
    if counts is None:
        raise InvalidInputError("no masks given: a prior mask is the coverage over a set of ground-truth masks")
    return counts, num_masks, num_empty


def prior_mask(masks: Iterable[np.ndarray]) -> np.ndarray:
    """The prior mask: normalized coverage over ground-truth motion-area masks (paper §3.1).

    ``prior[y, x] = c[y, x] / max(c)`` where ``c[y, x]`` is the fraction of the masks
    containing pixel (y, x). Dividing by the maximum (not by the number of masks)
    makes the prior span [0, 1] whatever the size of the set: the most covered pixel
    is 1, an uncovered one 0.

    Args:
        masks: bool ``[H, W]`` ground-truth motion-area masks of the training set, all
            of one size (a list or any iterable, consumed once).

    Returns:
        float32 ``[H, W]`` in [0, 1], with a maximum of exactly 1.

    Raises:
        InvalidInputError: If there is no mask, a mask is not bool ``[H, W]``, sizes
            differ, or every mask is empty (nothing to normalize by).
    """
    return _normalize(*coverage_counts(masks))[0]


def prior_mask_with_stats(masks: Iterable[np.ndarray]) -> tuple[np.ndarray, PriorMaskStats]:
    """`prior_mask` and its `PriorMaskStats`, in one pass over ``masks``."""
    return _normalize(*coverage_counts(masks))


def _normalize(counts: np.ndarray, num_masks: int, num_empty: int) -> tuple[np.ndarray, PriorMaskStats]:
    peak = int(counts.max())
    if peak == 0:
        raise InvalidInputError(
            f"all {num_masks} masks are empty, so the prior has no maximum to normalize by; "
            "check that the split's hands were detected (`hcvg masks build`)"
        )
    prior = (counts / peak).astype(np.float32)  # fraction / max fraction = count / max count
    stats = PriorMaskStats(
        num_masks=num_masks,
        num_empty=num_empty,
        coverage=float((counts > 0).mean()),
        peak_fraction=peak / num_masks,
        mean=float(prior.mean()),
    )
    return prior, stats


def prior_mask_paths(path: str | Path) -> tuple[Path, Path]:
    """The ``.npy`` and ``.png`` files of a prior mask named by a folder or either file.

    Args:
        path: A folder (then ``<folder>/prior_mask.npy`` and ``.png``) or a file path
            whose suffix is replaced by ``.npy`` and ``.png``.
    """
    path = Path(path)
    if path.is_dir() or not path.suffix:
        path = path / f"{PRIOR_MASK_STEM}.npy"
    return path.with_suffix(".npy"), path.with_suffix(".png")


def save_prior_mask(path: str | Path, prior: np.ndarray, meta: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write a prior mask as ``.npy`` float32 and ``.png`` uint8 0..255, atomically.

    Args:
        path: A folder or a file path (see `prior_mask_paths`).
        prior: float ``[H, W]`` in [0, 1].
        meta: If given, also written as ``<stem>.json`` (statistics, provenance).

    Returns:
        The ``.npy`` and ``.png`` paths.

    Raises:
        InvalidInputError: If ``prior`` is not 2-D or leaves [0, 1].
    """
    prior = _checked(np.asarray(prior, dtype=np.float32), "the prior to save")
    npy_path, png_path = prior_mask_paths(path)
    buffer = io.BytesIO()
    np.save(buffer, prior)
    atomic_write_bytes(npy_path, buffer.getvalue())
    ok, png = cv2.imencode(".png", np.round(prior * 255).astype(np.uint8))
    if not ok:
        raise OSError(f"{png_path}: OpenCV could not encode the prior mask as PNG")
    atomic_write_bytes(png_path, png.tobytes())
    if meta is not None:
        atomic_write_bytes(npy_path.with_suffix(".json"), (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    return npy_path, png_path


def load_prior_mask(path: str | Path) -> np.ndarray:
    """Read a prior mask for the model (stage-1 mask channel).

    Args:
        path: The ``.npy`` written by `save_prior_mask` (exact), its ``.png`` (8-bit,
            scaled back by 1/255), or the folder holding ``prior_mask.npy``.

    Returns:
        float32 ``[H, W]`` in [0, 1].

    Raises:
        InputNotFoundError: If the file is missing (says how to make it).
        InvalidInputError: If it is not a 2-D map in [0, 1].
    """
    path = Path(path)
    if path.is_dir():
        path = path / f"{PRIOR_MASK_STEM}.npy"
    if not path.is_file():
        raise InputNotFoundError(
            f"no prior mask at {path}; make it with `hcvg masks prior --split TRAIN_SPLIT [--hands DIR] --out {path}`"
        )
    if path.suffix == ".png":
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None or image.dtype != np.uint8:
            raise InvalidInputError(f"{path}: not an 8-bit PNG prior mask")
        prior = image.astype(np.float32) / 255.0
    else:
        prior = np.load(path, allow_pickle=False).astype(np.float32, copy=False)
    return _checked(prior, str(path))


def _checked(prior: np.ndarray, what: str) -> np.ndarray:
    if prior.ndim != 2:
        raise InvalidInputError(f"{what}: a prior mask is [H, W], got shape {prior.shape}")
    if not np.isfinite(prior).all() or prior.min() < 0 or prior.max() > 1:
        raise InvalidInputError(f"{what}: a prior mask lies in [0, 1], got [{prior.min()}, {prior.max()}]")
    return prior


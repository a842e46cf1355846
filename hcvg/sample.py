"""The `Sample`: one benchmark item (context frame, action text, ground-truth clip)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hcvg.errors import InvalidInputError


class UnsafeNameError(InvalidInputError):
    """A sample id or label would name a file outside its folder (``../x``, ``/etc``, ``a/b``)."""


def check_path_component(name: object, what: str) -> str:
    """Refuse a name that becomes one path component unless it stays one, inside its folder.

    Sample ids and adapter/split labels name folders and files of the run store
    (``videos/<label>/<split>/seed-<k>/<id>.mkv``). A split or a matrix written by
    someone else may carry ``../x`` or an absolute path, which would write outside the
    run directory; such a name is refused before anything is written.

    Args:
        name: The id or label.
        what: What it is, for the message (``"sample id"``, ``"adapter label"``).

    Returns:
        ``name``, unchanged.

    Raises:
        UnsafeNameError: If ``name`` is not a string, is empty, starts with ``.`` (``..``,
            hidden names), or holds ``/``, ``\\``, a NUL or another control character.
    """
    if not isinstance(name, str) or not name.strip():
        raise UnsafeNameError(f"{what} {name!r} is empty or not text; give every {what} a name")
    bad = [char for char in ("/", "\\") if char in name]
    if bad:
        reason = f"it holds {' and '.join(repr(c) for c in bad)}"
    elif name.startswith("."):  # "..", ".", and hidden names, which the run store keeps for its temporary files
        reason = "it is a relative path" if name in (".", "..") else "it starts with '.' (a hidden file)"
    elif any(ord(char) < 32 for char in name):
        reason = "it holds a control character"
    else:
        return name
    raise UnsafeNameError(
        f"{what} {name!r} cannot name a file: {reason}. It names a file or folder in the run directory, so it must be "
        "a single name without '/', '\\', a leading '.' or control characters (it could otherwise escape its folder); "
        "rename it"
    )


@dataclass(frozen=True, eq=False)
class Sample:
    """One hand-centric video-generation item.

    Attributes:
        id: Unique id within the split (also the file stem of generated videos): one
            path component (`check_path_component`), never ``..`` or holding ``/``.
        split: Name of the split the sample belongs to.
        prompt: The action text, e.g. ``"cut carrot"``.
        context: uint8 ``[H, W, 3]`` RGB, frame 0 of the clip.
        target: uint8 ``[L, H, W, 3]`` RGB, frames 1..L of the clip.
        expanded_prompt: Optional enriched description (LEGO-style).
        keypoints: Optional float32 ``[L+1, 2, 21, 2]`` hand keypoints for frames
            0..L, normalized (x, y) in [0, 1]; hand 0 = left, hand 1 = right; NaN where
            a hand or joint is missing.
        motion_area: Optional bool ``[H, W]`` ground-truth motion-area mask (union over
            frames of each hand's filled convex hull, paper §3.1).
        meta: Free-form provenance (source video, frame indices, ...).
    """

    id: str
    split: str
    prompt: str
    context: np.ndarray
    target: np.ndarray
    expanded_prompt: str | None = None
    keypoints: np.ndarray | None = None
    motion_area: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_path_component(self.id, "sample id")
        if self.context.dtype != np.uint8 or self.context.ndim != 3 or self.context.shape[-1] != 3:
            raise ValueError(f"sample {self.id}: context must be uint8 [H,W,3], got {self.context.dtype} {self.context.shape}")
        if self.target.dtype != np.uint8 or self.target.ndim != 4 or self.target.shape[1:] != self.context.shape:
            raise ValueError(
                f"sample {self.id}: target must be uint8 [L,H,W,3] matching context {self.context.shape}, "
                f"got {self.target.dtype} {self.target.shape}"
            )
        if self.keypoints is not None and self.keypoints.shape != (self.num_frames + 1, 2, 21, 2):
            raise ValueError(
                f"sample {self.id}: keypoints must be [L+1,2,21,2] = {(self.num_frames + 1, 2, 21, 2)}, "
                f"got {self.keypoints.shape}"
            )
        if self.motion_area is not None and self.motion_area.shape != self.context.shape[:2]:
            raise ValueError(
                f"sample {self.id}: motion_area must be bool [H,W] = {self.context.shape[:2]}, got {self.motion_area.shape}"
            )

    @property
    def num_frames(self) -> int:
        """L, the number of target frames."""
        return int(self.target.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of every frame."""
        return int(self.context.shape[0]), int(self.context.shape[1])

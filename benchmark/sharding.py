"""Which job of ``--shard i/n`` owns a sample: a stable hash, so shards never overlap.

A sample belongs to shard ``i`` of ``n`` when

    int.from_bytes(sha256(f"{split_label}\\0{sample_id}".encode("utf-8")).digest()[:8], "big") % n == i

The hash depends on the split's label and the sample's id only: not on the order the
split lists its samples, on the other shards, on Python's per-process ``hash`` seed, or
on what an earlier invocation finished. So ``--resume`` of a shard sees the same
samples, and the ``n`` jobs of one matrix cover every sample exactly once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from hcvg.errors import InvalidInputError

#: Written into the run config beside the shard, so a reader can recompute the selection.
SHARD_HASH = 'int.from_bytes(sha256(f"{split_label}\\0{sample_id}").digest()[:8], "big") % count'

_SHARD_TEXT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def sample_bucket(split_label: str, sample_id: str, count: int) -> int:
    """The shard index (``0 <= index < count``) of one sample; see the module docstring."""
    digest = hashlib.sha256(f"{split_label}\0{sample_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based): the samples whose `sample_bucket` is ``index``.

    Raises:
        InvalidInputError: Unless ``count >= 1`` and ``0 <= index < count``.
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise InvalidInputError(
                f"shard {self.index}/{self.count}: the index is 0-based and below the count (e.g. 0/4 … 3/4)"
            )

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """``"i/n"`` (e.g. ``"0/4"``) as a shard.

        Raises:
            InvalidInputError: On anything else than two integers ``i/n`` with ``0 <= i < n``.
        """
        match = _SHARD_TEXT.match(str(text))
        if match is None:
            raise InvalidInputError(f"--shard {text!r}: write INDEX/COUNT with a 0-based index, e.g. 0/4")
        return cls(int(match.group(1)), int(match.group(2)))

    def owns(self, split_label: str, sample_id: str) -> bool:
        """Whether this shard computes the sample."""
        return sample_bucket(split_label, sample_id, self.count) == self.index

    def to_dict(self) -> dict[str, object]:
        """For the run config: index, count and the hash that assigns samples."""
        return {"index": self.index, "count": self.count, "hash": SHARD_HASH}

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

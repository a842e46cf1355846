"""The split contract: an ordered set of samples, loaded one at a time."""

from __future__ import annotations

import abc
from typing import Iterator

from hcvg.sample import Sample


class Split(abc.ABC):
    """An ordered collection of samples addressed by id.

    Real datasets are too large to hold in memory (8,857 EK test clips are 26 GB as
    uint8), so a split lists ids cheaply and loads each sample on demand.
    """

    name: str

    @abc.abstractmethod
    def ids(self) -> list[str]:
        """Sample ids, in the split's fixed order."""

    @abc.abstractmethod
    def get(self, sample_id: str) -> Sample:
        """Load one sample.

        Raises:
            KeyError: If the id is not in the split.
        """

    def __len__(self) -> int:
        return len(self.ids())

    def __iter__(self) -> Iterator[Sample]:
        for sample_id in self.ids():
            yield self.get(sample_id)

    def describe(self) -> dict:
        """Provenance written into the run config."""
        return {"name": self.name, "num_samples": len(self)}


class InMemorySplit(Split):
    """A split whose samples are already in memory (the demo, tests)."""

    def __init__(self, name: str, samples: list[Sample], description: dict | None = None):
        self.name = name
        self._samples = {s.id: s for s in samples}
        if len(self._samples) != len(samples):
            raise ValueError(f"split {name}: duplicate sample ids")
        self._description = description or {}

    def ids(self) -> list[str]:
        return list(self._samples)

    def get(self, sample_id: str) -> Sample:
        try:
            return self._samples[sample_id]
        except KeyError:
            raise KeyError(f"split {self.name}: no sample {sample_id!r}") from None

    def describe(self) -> dict:
        return {**super().describe(), **self._description}

"""`oracle`: returns the ground-truth clip — the upper bound of every fidelity metric."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from hcvg.adapter import Adapter, Capabilities, GenerationRequest


class OracleAdapter(Adapter):
    """Returns the ground-truth target clip; the only adapter allowed to read it."""

    name: ClassVar[str] = "oracle"
    capabilities: ClassVar[Capabilities] = Capabilities(needs_ground_truth=True, max_batch_size=64)

    def generate(self, requests: list[GenerationRequest]) -> list[np.ndarray]:
        videos = []
        for request in requests:
            if request.target is None:
                raise ValueError(f"sample {request.sample_id}: the oracle needs the ground-truth clip, none was given")
            videos.append(request.target.copy())
        return videos

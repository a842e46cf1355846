"""`static`: repeats the context frame — the no-motion lower bound."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from hcvg.adapter import Adapter, Capabilities, GenerationRequest


class StaticAdapter(Adapter):
    """Returns the context frame repeated L times.

    It scores perfect background fidelity and zero background motion, and shows how
    much of a model's fidelity score comes from not moving at all.
    """

    name: ClassVar[str] = "static"
    capabilities: ClassVar[Capabilities] = Capabilities(max_batch_size=64)

    def generate(self, requests: list[GenerationRequest]) -> list[np.ndarray]:
        videos = []
        for request in requests:
            if request.context.shape[:2] != tuple(request.size):
                raise ValueError(
                    f"sample {request.sample_id}: context is {request.context.shape[:2]}, requested size {request.size}"
                )
            videos.append(np.repeat(request.context[None], request.num_frames, axis=0))
        return videos

"""How well a real hand detector finds the demo split's drawn hands.

The demo split draws its hands to be findable by the MediaPipe hand landmarker
(DESIGN.md, "The demo split"); this module measures it: the share of drawn hands the
detector finds, and its keypoint error against the drawing's own joints, overall, per
action and per number of hands in the clip.

Run ``python -m benchmark.splits.demo_detection [--num-samples N] [--model-path P]``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from benchmark.splits.demo import DemoConfig, load_demo_split


class _ImageDetector(Protocol):
    def detect_images(self, frames: np.ndarray) -> Any:
        """uint8 ``[T, H, W, 3]`` RGB -> object with ``.keypoints`` float ``[T, 2, 21, 2]``."""
        ...


@dataclass
class _Tally:
    """Counts for one group of drawn hands."""

    drawn: int = 0
    found: int = 0
    same_slot: int = 0
    errors: list = field(default_factory=list)

    def add(self, found: bool, error: float | None, same_slot: bool) -> None:
        self.drawn += 1
        if found:
            self.found += 1
            self.same_slot += int(same_slot)
            self.errors.append(error)

    def summary(self) -> dict:
        return {
            "hands_drawn": self.drawn,
            "hands_found": self.found,
            "rate": self.found / self.drawn if self.drawn else float("nan"),
            "mean_error_px": float(np.mean(self.errors)) if self.errors else float("nan"),
            "median_error_px": float(np.median(self.errors)) if self.errors else float("nan"),
            "handedness_agreement": self.same_slot / self.found if self.found else float("nan"),
        }


def _match(drawn: np.ndarray, detected: np.ndarray, size: int) -> dict[int, tuple[int, float]]:
    """Pair drawn hands with detected hands by the smallest mean joint distance.

    Args:
        drawn: float ``[2, 21, 2]`` normalized, NaN for absent hands / joints.
        detected: float ``[2, 21, 2]`` normalized, NaN for absent hands.
        size: Frame size in pixels (errors are reported in pixels).

    Returns:
        ``{drawn_slot: (detected_slot, mean_error_px)}`` for each drawn hand that got a
        detection; the label the detector gave is ignored, so a hand with the wrong
        handedness still counts as found (agreement is reported apart).
    """
    dist = np.full((2, 2), np.inf)
    for a in range(2):
        for b in range(2):
            if np.isfinite(detected[b]).all():
                err = np.linalg.norm(drawn[a] - detected[b], axis=-1) * size
                err = err[np.isfinite(err)]
                if len(err):
                    dist[a, b] = err.mean()
    straight, crossed = dist[0, 0] + dist[1, 1], dist[0, 1] + dist[1, 0]
    if np.isinf(straight) and np.isinf(crossed):
        # At most one usable pair: take the single best.
        pairs = [(a, b) for a in range(2) for b in range(2) if np.isfinite(dist[a, b])]
        pairs = [min(pairs, key=lambda p: dist[p])] if pairs else []
    elif straight <= crossed:
        pairs = [(0, 0), (1, 1)]
    else:
        pairs = [(0, 1), (1, 0)]
    return {a: (b, float(dist[a, b])) for a, b in pairs if np.isfinite(dist[a, b])}


def measure_demo_detection(detector: _ImageDetector, config: DemoConfig | None = None, max_error_px: float = 20.0) -> dict:
    """Run ``detector`` on every frame of the demo split and score it against the drawing.

    A drawn hand counts when all 21 of its joints are inside the frame; it is found
    when a detected hand lies within ``max_error_px`` mean joint distance of it.

    Args:
        detector: Anything with ``detect_images(uint8 [T, H, W, 3]) -> .keypoints``
            (float ``[T, 2, 21, 2]`` normalized, NaN where absent), e.g.
            :class:`handi.hands.detector.MediaPipeHandDetector`.
        config: Which demo split to generate; defaults to :class:`DemoConfig`.
        max_error_px: Largest mean joint distance, in pixels, for a detection to count
            as the drawn hand.

    Returns:
        ``{"samples", "frames", "hands_drawn", "hands_found", "rate", "mean_error_px",
        "median_error_px", "handedness_agreement", "extra_detections", "by_action",
        "by_hand_count", "config"}``; the ``by_*`` entries map a group name to the same
        counts for that group.
    """
    cfg = config or DemoConfig()
    samples = load_demo_split(cfg)
    overall = _Tally()
    by_action: dict[str, _Tally] = defaultdict(_Tally)
    by_count: dict[str, _Tally] = defaultdict(_Tally)
    frames_seen = extra = 0
    for sample in samples:
        frames = np.concatenate([sample.context[None], sample.target])
        detected = np.asarray(detector.detect_images(frames).keypoints, dtype=np.float64)
        drawn = sample.keypoints.astype(np.float64)
        count = f"{len(sample.meta['hands'])} hand" + ("s" if len(sample.meta["hands"]) > 1 else "")
        for t in range(len(frames)):
            frames_seen += 1
            matches = _match(drawn[t], detected[t], cfg.size)
            visible = [a for a in range(2) if np.isfinite(drawn[t, a]).all()]
            used = {matches[a][0] for a in visible if a in matches and matches[a][1] <= max_error_px}
            extra += int(sum(np.isfinite(detected[t, b]).all() for b in range(2) if b not in used))
            for a in visible:
                found = a in matches and matches[a][1] <= max_error_px
                error = matches[a][1] if found else None
                same = found and matches[a][0] == a
                for tally in (overall, by_action[sample.meta["action"]], by_count[count]):
                    tally.add(found, error, same)
    return {
        "samples": len(samples),
        "frames": frames_seen,
        **overall.summary(),
        "extra_detections": extra,
        "by_action": {k: v.summary() for k, v in sorted(by_action.items())},
        "by_hand_count": {k: v.summary() for k, v in sorted(by_count.items())},
        "config": {**asdict(cfg), "max_error_px": max_error_px},
    }


def main(argv: list[str] | None = None) -> None:
    """Print the detection report for the demo split as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-path", default=None, help="hand_landmarker.task (default: the asset cache)")
    parser.add_argument("--max-error-px", type=float, default=20.0)
    args = parser.parse_args(argv)

    from handi.hands.detector import MediaPipeHandDetector

    detector = MediaPipeHandDetector(model_path=args.model_path)
    report = measure_demo_detection(detector, DemoConfig(num_samples=args.num_samples, seed=args.seed), args.max_error_px)
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()

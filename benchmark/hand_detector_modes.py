"""Which running mode the HS-Err hand detector should use: IMAGE vs VIDEO, measured.

HS-Err, hand-recall and hand-precision read the ``hand-keypoints`` extractor, whose
``mode`` option runs MediaPipe's hand landmarker frame by frame (``image``) or tracking
through the clip (``video``, timestamps from ``fps``). This module scores each mode on:

* **demo**: the demo split, whose drawn joints are ground truth. A drawn hand with all
  21 joints in the frame is a positive; a detection within ``max_error`` mean joint
  distance of a drawn hand (visible or partly cut off) is a true positive.
* **real**: the real clips in ``../shared/data/hands/videos`` against its reference
  ``detections.json`` (MediaPipe HandLandmarker in IMAGE mode, frame by frame, thresholds
  0.5; see its SOURCES.md), at the file's own frame rate, and as a 16-frame clip evenly
  sampled over the file, the way benchmark clips are sampled from a segment.
* **generated**: the same for the HANDI-generated clips in ``generated/`` (what HS-Err
  is computed on is generated video).

VIDEO mode runs at the benchmark clips' nominal 8 fps (what the extractor is told) and
at the source rate: 30 fps for the demo (a stand-in: drawn clips have no camera), the
file's fps for real clips. Per mode: hand-presence precision and recall, mean and median
keypoint error (pixels at 256², the benchmark's frame size), how often a found hand
lands in the reference's left/right slot (HS-Err compares slot by slot), and the frames
whose hand count agrees with the reference; on the demo also HS-Err itself (Eq. 2, scope
full) of the detected GT against the drawn joints and of the `static` adapter.

Run ``python -m benchmark.hand_detector_modes [--demo-samples 48] [--json OUT]``
(about 4.5 minutes of CPU; --demo-samples 24 halves the demo part).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from handi.hands.detector import NUM_HANDS, NUM_JOINTS, assign_hand_slots

#: Errors are reported in pixels of a 256² frame, the size benchmark clips are scored at.
SCALE_PX = 256.0
#: A detection further than this (mean joint distance, px at 256²) is not that hand.
MAX_ERROR_PX = 20.0
#: Frames per benchmark-like clip (the context frame plus L = 15).
CLIP_FRAMES = 16
#: Stand-in source rate for the drawn demo clips (a common egocentric camera rate).
DEMO_SOURCE_FPS = 30.0

Detect = Callable[[np.ndarray], np.ndarray]


# -- scoring -------------------------------------------------------------------------
def match_hands(truth: np.ndarray, detected: np.ndarray, max_error_px: float = MAX_ERROR_PX) -> list[tuple[int, int, float]]:
    """Pair one frame's true hands with detected hands, one to one, by mean joint distance.

    Args:
        truth: float ``[2, 21, 2]`` normalized (x / W, y / H); NaN for an absent hand or
            for joints outside the frame.
        detected: float ``[2, 21, 2]`` normalized; NaN for an absent hand.
        max_error_px: Largest mean joint distance (px at 256²) for a pair to count.

    Returns:
        ``(truth_slot, detected_slot, error_px)`` for each pair, the assignment with the
        smallest total error among those pairing as many hands as possible; the slots
        may differ (the detector's left/right label is scored apart).
    """
    dist = np.full((NUM_HANDS, NUM_HANDS), np.inf)
    for a, b in itertools.product(range(NUM_HANDS), repeat=2):
        if np.isfinite(detected[b]).all():
            err = np.linalg.norm(truth[a] - detected[b], axis=-1) * SCALE_PX
            err = err[np.isfinite(err)]
            if len(err) and err.mean() <= max_error_px:
                dist[a, b] = err.mean()
    best: list[tuple[int, int, float]] = []
    for perm in itertools.permutations(range(NUM_HANDS)):
        pairs = [(a, b, float(dist[a, b])) for a, b in enumerate(perm) if np.isfinite(dist[a, b])]
        if (len(pairs), -sum(p[2] for p in pairs)) > (len(best), -sum(p[2] for p in best)):
            best = pairs
    return best


@dataclass
class ModeScore:
    """Counts for one mode over many frames (see `add_clip`)."""

    frames: int = 0
    frames_same_count: int = 0
    positives: int = 0
    found: int = 0
    detections: int = 0
    true_detections: int = 0
    same_slot: int = 0
    errors: list = field(default_factory=list)
    seconds: float = 0.0

    def add_clip(self, truth: np.ndarray, positive: np.ndarray, detected: np.ndarray, max_error_px: float = MAX_ERROR_PX) -> None:
        """Score one clip.

        Args:
            truth: float ``[T, 2, 21, 2]`` true (or reference) keypoints, NaN where absent.
            positive: bool ``[T, 2]``: the true hands recall counts (e.g. fully visible).
            detected: float ``[T, 2, 21, 2]`` the mode's keypoints, NaN where absent.
            max_error_px: See `match_hands`.
        """
        present = np.isfinite(detected).all(axis=(-1, -2))
        for t in range(len(truth)):
            pairs = match_hands(truth[t], detected[t], max_error_px)
            self.frames += 1
            self.frames_same_count += int(positive[t].sum() == present[t].sum())
            self.positives += int(positive[t].sum())
            self.detections += int(present[t].sum())
            self.true_detections += len(pairs)
            for a, b, err in pairs:
                if positive[t, a]:
                    self.found += 1
                    self.same_slot += int(a == b)
                    self.errors.append(err)

    def summary(self) -> dict[str, Any]:
        """Precision, recall, keypoint error (px at 256²), slot agreement and counts."""
        nan = float("nan")
        return {
            "frames": self.frames,
            "hands_true": self.positives,
            "hands_detected": self.detections,
            "precision": self.true_detections / self.detections if self.detections else nan,
            "recall": self.found / self.positives if self.positives else nan,
            "mean_error_px": float(np.mean(self.errors)) if self.errors else nan,
            "median_error_px": float(np.median(self.errors)) if self.errors else nan,
            "slot_agreement": self.same_slot / self.found if self.found else nan,
            "frames_same_count": self.frames_same_count,
            "seconds": round(self.seconds, 2),
        }


# -- detectors -----------------------------------------------------------------------
def make_detector(mode: str, fps: float | None = None, model_path: str | None = None) -> Detect:
    """The ``hand-keypoints`` extractor in ``mode`` as a function of one clip.

    Args:
        mode: "image" or "video".
        fps: VIDEO mode's frame rate (None: the extractor's default).
        model_path: The ``hand_landmarker.task`` bundle (None: the asset cache).

    Returns:
        uint8 ``[T, H, W, 3]`` RGB -> float ``[T, 2, 21, 2]`` keypoints.
    """
    from metrics.features.hand_keypoints import HandKeypointsExtractor

    extractor = HandKeypointsExtractor(model_path=model_path, mode=mode, fps=fps)
    return lambda frames: extractor.extract([frames])[0].astype(np.float64)


def _timed(score: ModeScore, detect: Detect, frames: np.ndarray) -> np.ndarray:
    start = time.perf_counter()
    out = detect(frames)
    score.seconds += time.perf_counter() - start
    return out


# -- the demo split ------------------------------------------------------------------
def measure_demo(modes: dict[str, Detect], num_samples: int = 48, seed: int = 0, max_error_px: float = MAX_ERROR_PX) -> dict[str, dict]:
    """Score each mode against the demo split's drawn joints.

    Args:
        modes: Mode label -> detector (see `make_detector`).
        num_samples: Demo clips (16 frames each).
        seed: Demo seed.
        max_error_px: See `match_hands`.

    Returns:
        Mode label -> `ModeScore.summary`.
    """
    from benchmark.splits.demo import DemoConfig, load_demo_split

    from metrics.hs_err import hand_structure_error

    scores = {label: ModeScore() for label in modes}
    hs_err: dict[str, dict[str, list]] = {label: {"detected_gt_vs_drawn": [], "static_vs_gt": []} for label in modes}
    for sample in load_demo_split(DemoConfig(num_samples=num_samples, seed=seed)):
        frames = np.concatenate([sample.context[None], sample.target])
        truth = sample.keypoints.astype(np.float64)
        visible = np.isfinite(truth).all(axis=(-1, -2))
        static = np.repeat(sample.context[None], len(sample.target), axis=0)
        for label, detect in modes.items():
            scores[label].add_clip(truth, visible, _timed(scores[label], detect, frames), max_error_px)
            # What HS-Err itself sees at scope full: the L target frames (the runner
            # extracts them without the context), the detected GT against the drawn
            # joints (the metric's own noise floor) and the `static` adapter against it.
            gt = detect(sample.target)
            hs_err[label]["detected_gt_vs_drawn"].append(hand_structure_error(gt, truth[1:]))
            hs_err[label]["static_vs_gt"].append(hand_structure_error(detect(static), gt))
    return {
        label: {**s.summary(), **{f"hs_err_{k}": float(np.mean(v)) for k, v in hs_err[label].items()}}
        for label, s in scores.items()
    }


# -- real clips against the reference detections -------------------------------------------
def reference_keypoints(frames: Iterable[dict], mirrored_input: bool = False) -> np.ndarray:
    """The reference's hands in our slots: float ``[T, 2, 21, 2]``, NaN where absent.

    Slots follow `assign_hand_slots` on the reference's MediaPipe labels, the rule our
    detector applies, so a slot disagreement is a labelling difference between modes.
    """
    frames = list(frames)
    out = np.full((len(frames), NUM_HANDS, NUM_JOINTS, 2), np.nan)
    for t, frame in enumerate(frames):
        hands = frame["hands"]
        slots = assign_hand_slots([h["handedness"] for h in hands], [h["handedness_score"] for h in hands], mirrored_input)
        for hand, slot in zip(hands, slots):
            if slot is not None:
                out[t, slot] = np.asarray(hand["keypoints"], dtype=np.float64)
    return out


def read_reference_media(hands_dir: Path, name: str, entry: dict) -> np.ndarray:
    """Decode a reference clip as ``detections.json`` was made: uint8 ``[T, H, W, 3]`` RGB.

    Raises:
        ValueError: If the decoded frame count differs from the reference's.
    """
    path = hands_dir / name
    if entry["kind"] == "frame_sequence":
        import cv2

        frames = np.stack([cv2.cvtColor(cv2.imread(str(path / f["file"]), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for f in entry["frames"]])
    else:
        import av

        with av.open(str(path)) as container:
            frames = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])
    if len(frames) != entry["num_frames"]:
        raise ValueError(f"{name}: decoded {len(frames)} frames, the reference has {entry['num_frames']}; was the file changed?")
    return frames


def source_fps(entry: dict) -> float:
    """The file's frame rate; a frame sequence's from SOURCES.md (every 6th of 60 fps = 10)."""
    return float(entry.get("fps") or 10.0)


def measure_reference_clips(
    hands_dir: Path,
    folder: str,
    make: Callable[[str, float | None], Detect],
    clip_frames: int | None = None,
    max_error_px: float = MAX_ERROR_PX,
    names: Iterable[str] | None = None,
) -> dict[str, dict]:
    """Score IMAGE, VIDEO at 8 fps and VIDEO at the source fps against ``detections.json``.

    Args:
        hands_dir: The ``hands`` folder of the shared data.
        folder: "videos" (real footage) or "generated" (HANDI outputs).
        make: ``(mode, fps) -> detector``, e.g. `make_detector`.
        clip_frames: None scores every frame at the file's rate; N scores N frames evenly
            sampled over the file (a benchmark-like clip), where VIDEO's "source" rate
            is the sampled clip's own (N - 1 over the file's duration).
        max_error_px: See `match_hands`.
        names: Only these reference entries (None: every clip in ``folder``).

    Returns:
        Mode label -> `ModeScore.summary` over all of the folder's clips, plus
        ``"per_clip"``: clip name -> mode label -> summary.
    """
    reference = json.loads((hands_dir / "detections.json").read_text())
    labels = ("image", "video@8fps", "video@source-fps")
    totals = {label: ModeScore() for label in labels}
    per_clip: dict[str, dict] = {}
    wanted = None if names is None else set(names)
    for name, entry in sorted(reference["files"].items()):
        if entry["kind"] == "image" or not name.startswith(folder + "/") or (wanted is not None and name not in wanted):
            continue
        frames = read_reference_media(hands_dir, name, entry)
        fps = source_fps(entry)
        index = np.arange(len(frames))
        if clip_frames is not None and len(frames) > clip_frames:
            index = np.linspace(0, len(frames) - 1, clip_frames).round().astype(int)
            fps = (clip_frames - 1) * fps / (len(frames) - 1)
        truth = reference_keypoints(entry["frames"][i] for i in index)
        positive = np.isfinite(truth).all(axis=(-1, -2))
        detectors = {"image": make("image", None), "video@8fps": make("video", 8.0), "video@source-fps": make("video", fps)}
        per_clip[name] = {"source_fps": round(fps, 3), "frames": len(index)}
        for label in labels:
            clip = ModeScore()
            detected = _timed(clip, detectors[label], frames[index])
            clip.add_clip(truth, positive, detected, max_error_px)
            totals[label].add_clip(truth, positive, detected, max_error_px)
            totals[label].seconds += clip.seconds
            per_clip[name][label] = clip.summary()
    return {**{label: s.summary() for label, s in totals.items()}, "per_clip": per_clip}


# -- report --------------------------------------------------------------------------
def markdown_table(results: dict[str, dict[str, dict]]) -> str:
    """One row per (data, mode): precision, recall, keypoint error, slots, count agreement."""
    lines = [
        "| data | mode | hands (true / detected) | precision | recall | kp error px@256 (mean / median) | same L/R slot | frames, same hand count |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for data, modes in results.items():
        for label, s in modes.items():
            if label == "per_clip":
                continue
            lines.append(
                f"| {data} | {label} | {s['hands_true']} / {s['hands_detected']} | {s['precision']:.3f} | {s['recall']:.3f} "
                f"| {s['mean_error_px']:.2f} / {s['median_error_px']:.2f} | {s['slot_agreement']:.3f} "
                f"| {s['frames_same_count']} of {s['frames']} |"
            )
    hs = [(data, label, s) for data, modes in results.items() for label, s in modes.items() if "hs_err_static_vs_gt" in s]
    if hs:
        lines += [
            "",
            "| data | mode | HS-Err ×10³, detected GT vs drawn joints | HS-Err ×10³, `static` vs GT |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {data} | {label} | {1e3 * s['hs_err_detected_gt_vs_drawn']:.3f} | {1e3 * s['hs_err_static_vs_gt']:.3f} |"
            for data, label, s in hs
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Measure every mode on the demo split and the reference clips; print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-samples", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    # The shared data lies beside the repository (HCVG_SHARED_DATA elsewhere), as the tests expect.
    shared = Path(os.environ.get("HCVG_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--hands-dir", type=Path, default=shared / "hands", help="default: %(default)s")
    parser.add_argument("--model-path", default=None, help="hand_landmarker.task (default: the asset cache)")
    parser.add_argument("--max-error-px", type=float, default=MAX_ERROR_PX)
    parser.add_argument("--json", type=Path, default=None, help="also write every figure, per clip, here")
    args = parser.parse_args(argv)

    def make(mode: str, fps: float | None) -> Detect:
        return make_detector(mode, fps, args.model_path)

    results: dict[str, dict] = {
        f"demo ({args.demo_samples} clips, drawn GT)": measure_demo(
            {"image": make("image", None), "video@8fps": make("video", 8.0), f"video@{DEMO_SOURCE_FPS:g}fps": make("video", DEMO_SOURCE_FPS)},
            args.demo_samples, args.seed, args.max_error_px,
        )
    }
    if (args.hands_dir / "detections.json").is_file():
        for folder in ("videos", "generated"):
            what = "real" if folder == "videos" else "HANDI-generated"
            results[f"{what} clips, all frames (ref: detections.json)"] = measure_reference_clips(
                args.hands_dir, folder, make, None, args.max_error_px
            )
            results[f"{what} clips, {CLIP_FRAMES} frames sampled (ref: detections.json)"] = measure_reference_clips(
                args.hands_dir, folder, make, CLIP_FRAMES, args.max_error_px
            )
    else:
        print(f"(no reference detections at {args.hands_dir}; real clips skipped: pass --hands-dir)")
    print(markdown_table(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

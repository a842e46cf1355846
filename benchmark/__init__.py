"""Benchmark core: samples, splits, video I/O, the run store, the runner and the CLI.

Kept import-light: heavy modules (torch, mediapipe) load only where used.
"""

NUM_FRAMES = 15  # L: generated frames, not counting the context frame (paper §4)
FRAME_SIZE = 256  # frames are resized and center-cropped to 256 x 256 (paper §4)

"""HANDI: hand-centric text-and-image conditioned video generation (the method only).

Hands (detector, keypoints), motion areas, and — next — the two-stage model, its
losses, pipeline and training. It builds on the kernel (`hcvg`) and nothing else of
the project; the benchmark's layers above it import it, never the reverse.
"""

"""HANDI: hand-centric text-and-image conditioned video generation.

This package is the bottom layer of handi-bench: it imports nothing from the
other packages, so its two shared utilities (`handi.registry` and
`handi.assets`) can be used everywhere above it.
"""

"""AVDC, native (docstring completed below)."""

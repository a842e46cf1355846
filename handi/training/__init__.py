"""Training HANDI's two stages (paper §3.3, §4 "Implementation Details") on accelerate."""

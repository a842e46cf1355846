"""Leaderboards and the paper's tables, rendered from pandas-level results only."""

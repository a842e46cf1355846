"""Metrics: per-sample and distribution-level scores at scope `full` or `ma`."""

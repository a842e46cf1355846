"""Feature extractors: one module per backbone, each run once per clip and scope."""

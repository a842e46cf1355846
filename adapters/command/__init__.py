"""The `command` adapter: an external program per batch, through a file contract; presets for the baselines' repositories."""

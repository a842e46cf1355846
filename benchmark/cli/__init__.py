"""The `hcvg` command line: one class per subcommand, behind one console script."""

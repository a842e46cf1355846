"""Speed benchmarks of generation and evaluation (issue 16); `hcvg bench speed` runs them."""

"""The one mapping from the paper's metric labels to the project's metric names.

The published data (``leaderboards/data/*.csv``) keeps each metric's label as the
paper prints it ("HS-Err.", "CLIP_GT", ...); everything that compares published
numbers with a run's ``summary.parquet`` goes through `PAPER_METRICS`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperMetric:
    """One metric as the paper prints it and as the project names it.

    Attributes:
        paper_label: Label in the published data, e.g. ``"CLIP_GT"``.
        metric: The project's metric name, e.g. ``"clip-gt"``.
        higher_is_better: The paper's ↑ / ↓.
        markdown: Column label for Markdown / HTML / CSV.
        latex: Column label for LaTeX (math mode where the paper uses subscripts).
        aliases: Other project metric names that measure the same thing; a run that
            has one of them fills the column when it lacks ``metric`` itself.
    """

    paper_label: str
    metric: str
    higher_is_better: bool
    markdown: str
    latex: str
    aliases: tuple[str, ...] = ()


_METRICS = (
    PaperMetric("HS-Err.", "hs-err", False, "HS-Err.", "HS-Err."),
    PaperMetric("FID", "fid", False, "FID", "FID"),
    PaperMetric("CLIP_GT", "clip-gt", True, "CLIP_GT", r"CLIP$_{GT}$"),
    PaperMetric("FVD", "fvd", False, "FVD", "FVD"),
    PaperMetric("EgoVLP", "egovlp", True, "EgoVLP", "EgoVLP"),
    PaperMetric("CLIP_Cs.", "clip-cs", True, "CLIP_Cs.", r"CLIP$_{Cs.}$"),
    PaperMetric("CLIP_Tx.", "clip-tx", True, "CLIP_Tx.", r"CLIP$_{Tx.}$"),
    # Table 1's BLIP is the large captioner (it equals Table 3's BLIP_large cell for cell).
    PaperMetric("BLIP", "blip", True, "BLIP", "BLIP", aliases=("blip-large",)),
    PaperMetric("BLIP_large", "blip-large", True, "BLIP_large", r"BLIP$_{large}$", aliases=("blip",)),
    PaperMetric("BLIP_base", "blip-base", True, "BLIP_base", r"BLIP$_{base}$"),
    PaperMetric("seconds per clip", "seconds-per-clip", False, "s/clip", "s/clip"),
)

PAPER_METRICS: dict[str, PaperMetric] = {m.paper_label: m for m in _METRICS}
BY_METRIC: dict[str, PaperMetric] = {m.metric: m for m in _METRICS}

# Where a benchmark scores a column with a different model: EgoVLP on Ego4D uses the
# Ego4D-pretrained checkpoint (4 frames), registered as its own metric.
BENCHMARK_METRICS: dict[tuple[str, str], str] = {("Ego4D", "EgoVLP"): "egovlp-ego4d"}


def paper_metric(label: str) -> PaperMetric:
    """Look up a metric by the paper's label.

    Raises:
        KeyError: If the label is not one the paper prints (the message lists them).
    """
    try:
        return PAPER_METRICS[label]
    except KeyError:
        raise KeyError(f"unknown paper metric label {label!r}; known: {sorted(PAPER_METRICS)}") from None


def project_metric(label: str) -> str:
    """The project's metric name for a paper label, e.g. ``"CLIP_Tx." -> "clip-tx"``."""
    return paper_metric(label).metric


def run_metric_names(label: str, benchmark: str = "") -> tuple[str, ...]:
    """The project metrics that fill a paper column on a benchmark, in order of preference.

    Args:
        label: The paper's metric label.
        benchmark: The paper's benchmark name ("EpicKitchens", "Ego4D", ...).

    Returns:
        The benchmark-specific metric alone where there is one (a different model
        must not stand in for it), else the metric and its aliases.
    """
    if (benchmark, label) in BENCHMARK_METRICS:
        return (BENCHMARK_METRICS[(benchmark, label)],)
    info = paper_metric(label)
    return (info.metric, *info.aliases)

"""Declarative descriptions of the paper's tables: rows, column groups, splits, scopes.

A `TableSpec` says what a table looks like and where each cell comes from, both in
the published data (``leaderboards/data``) and in a run's ``summary.parquet``; the same
spec renders the paper's numbers and ours side by side (`leaderboards.paper_tables`).

Ablation rows (Table 2) are named by adapter and options with `variant_label`, e.g.
``handi[mask=stage1,hrl=on]``; `ablation_adapter_specs` gives the ``hcvg run
--adapters`` arguments that produce exactly those labels, so the whole grid is one run
(`benchmark.run_config.ComponentSpec.parse` splits options on commas outside brackets,
so a bracketed label passes through ``label=`` whole).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hcvg.registry import Registry
from leaderboards.metric_names import PaperMetric, paper_metric

# Benchmark → split name in the project's split registry.
BENCHMARK_SPLITS = {
    "EpicKitchens": "ek100-test",
    "Ego4D": "ego4d-test",
    "Motion Intensive": "ek100-motion-intensive",
}
# Table 2's "Scope" column → the project's scope names.
PAPER_SCOPES = {"Full": "full", "MA": "ma"}

# Table 2's printed configurations → the HANDI adapter's option values.
PRINTED_MASK = {"×": "none", "Stage 1": "stage1", "Prior": "prior", "GT": "gt"}
PRINTED_HRL = {"×": "off", "✓": "on"}


def variant_label(adapter: str, **options: str) -> str:
    """The adapter label of a configured variant: ``handi[mask=stage1,hrl=on]``.

    The one place that defines the convention; options keep the order given.

    Args:
        adapter: Registered adapter name, e.g. ``"handi"``.
        **options: Option values as the adapter takes them (strings).

    Returns:
        ``adapter`` alone without options, else ``adapter[k=v,k=v]``.
    """
    if not options:
        return adapter
    return f"{adapter}[{','.join(f'{k}={v}' for k, v in options.items())}]"


def parse_variant_label(label: str) -> tuple[str, dict[str, str]]:
    """Invert `variant_label`.

    Returns:
        (adapter name, options); options are empty for a plain label.
    """
    if not label.endswith("]") or "[" not in label:
        return label, {}
    adapter, _, body = label[:-1].partition("[")
    options = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        options[key.strip()] = value.strip()
    return adapter, options


def same_variant(a: str, b: str) -> bool:
    """Whether two adapter labels name the same adapter with the same options (in any order)."""
    return parse_variant_label(a) == parse_variant_label(b)


@dataclass(frozen=True)
class ColumnSpec:
    """One metric column.

    Attributes:
        label: The paper's metric label (key of `leaderboards.metric_names.PAPER_METRICS`).
        decimals: Decimal places the paper prints; our values are rounded the same way.
        group: The header group above it ("VisualSim.-Frame", ...); "" for none.
    """

    label: str
    decimals: int
    group: str = ""

    @property
    def info(self) -> PaperMetric:
        return paper_metric(self.label)


@dataclass(frozen=True)
class RowSpec:
    """One row: a method (Table 1) or a configuration (Table 2).

    Attributes:
        cells: The row's leading cells as printed, e.g. ``("PIA [79]",)`` or
            ``("4", "Stage 1", "✓")``.
        adapter: The adapter label that fills the row from a run.
        published: Columns of the published data that select this row's cells,
            e.g. ``{"method": "PIA"}``.
        aliases: Other adapter labels that fill the row when ``adapter`` is absent.
    """

    cells: tuple[str, ...]
    adapter: str
    published: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def adapter_labels(self) -> tuple[str, ...]:
        return (self.adapter, *self.aliases)


@dataclass(frozen=True)
class SectionSpec:
    """A block of rows sharing a benchmark and scope; emphasis is ranked within it.

    Attributes:
        title: As printed in the first column ("EpicKitchens", "MA").
        split: The project's split that fills it from a run.
        scope: "full" or "ma".
        published: Columns of the published data that select the section.
        rows: Its rows in printed order.
    """

    title: str
    split: str
    scope: str
    published: dict[str, str]
    rows: tuple[RowSpec, ...]


@dataclass(frozen=True)
class TableSpec:
    """A paper table.

    Attributes:
        name: CLI name ("table1").
        title: "Table 1".
        caption: Short caption.
        reference: Key of the published data (`leaderboards.reference.REFERENCE_FILES`).
        section_header: Header of the section column ("Benchmark", "Scope").
        row_header: Headers of the leading row cells (("Method",), ("No.", "Mask", "HRL")).
        columns: Metric columns in printed order.
        sections: Sections in printed order.
    """

    name: str
    title: str
    caption: str
    reference: str
    section_header: str
    row_header: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    sections: tuple[SectionSpec, ...]

    def adapters(self) -> list[str]:
        """Every adapter label the spec reads, in order, without repeats."""
        seen: dict[str, None] = {}
        for section in self.sections:
            for row in section.rows:
                seen.setdefault(row.adapter, None)
        return list(seen)


# -- Table 1 -------------------------------------------------------------------
_GROUPS = {"FID": "VisualSim.-Frame", "CLIP_GT": "VisualSim.-Frame", "FVD": "VisualSim.-Video",
           "EgoVLP": "VisualSim.-Video", "CLIP_Cs.": "Consistency", "CLIP_Tx.": "SemanticSim.", "BLIP": "SemanticSim."}


def _columns(decimals: dict[str, int]) -> tuple[ColumnSpec, ...]:
    return tuple(ColumnSpec(label, places, _GROUPS.get(label, "")) for label, places in decimals.items())


# (printed cell, method in the data, adapter name) in the paper's row order.
TABLE1_METHODS = (
    ("LFDM [42]", "LFDM", "lfdm"),
    ("AA [14]", "AA", "animate-anything"),
    ("AVDC [75]", "AVDC", "avdc"),
    ("PIA [79]", "PIA", "pia"),
    ("Open Sora [80]", "Open Sora", "open-sora"),
    ("DynamiCrafter [68]", "DynamiCrafter", "dynamicrafter"),
    ("CogVideoX [74]", "CogVideoX", "cogvideox-t2v"),  # run text-to-video, as the paper did
    ("HANDI", "HANDI", "handi"),
)


def _method_rows(methods) -> tuple[RowSpec, ...]:
    return tuple(RowSpec((printed,), adapter, {"method": method}) for printed, method, adapter in methods)


TABLE1 = TableSpec(
    name="table1",
    title="Table 1",
    caption="Quantitative results on EpicKitchens, Ego4D and a Motion Intensive subset of EpicKitchens. "
    "Bold: best per column and benchmark; underline: second best.",
    reference="table1",
    section_header="Benchmark",
    row_header=("Method",),
    columns=_columns({"HS-Err.": 5, "FID": 2, "CLIP_GT": 4, "FVD": 2, "EgoVLP": 3, "CLIP_Cs.": 4, "CLIP_Tx.": 2, "BLIP": 3}),
    sections=tuple(
        SectionSpec(benchmark, split, "full", {"benchmark": benchmark, "scope": "Full"}, _method_rows(TABLE1_METHODS))
        for benchmark, split in BENCHMARK_SPLITS.items()
    ),
)

# -- Table 2 -------------------------------------------------------------------
# (No., printed Mask, printed HRL) in the paper's row order; No. 4 is the full HANDI.
TABLE2_CONFIGS = (
    ("1", "×", "×"), ("2", "Stage 1", "×"), ("3", "×", "✓"), ("4", "Stage 1", "✓"),
    ("5", "Prior", "✓"), ("6", "Prior", "×"), ("7", "GT", "×"), ("8", "GT", "✓"),
)
HANDI_ADAPTER = "handi"


def ablation_label(mask: str, hrl: str) -> str:
    """Adapter label of one Table 2 configuration, from the printed Mask and HRL cells."""
    return variant_label(HANDI_ADAPTER, mask=PRINTED_MASK[mask], hrl=PRINTED_HRL[hrl])


def ablation_adapter_specs() -> list[str]:
    """``hcvg run --adapters`` arguments that run the whole Table 2 grid in one run.

    The HANDI adapter takes ``mask`` (none | stage1 | prior | gt) and ``hrl`` (on | off);
    each spec's ``label=`` is the row's `ablation_label`.
    """
    specs = []
    for _, mask, hrl in TABLE2_CONFIGS:
        options = f"mask={PRINTED_MASK[mask]},hrl={PRINTED_HRL[hrl]}"
        specs.append(f"{HANDI_ADAPTER}:{options},label={ablation_label(mask, hrl)}")
    return specs


def _ablation_rows() -> tuple[RowSpec, ...]:
    rows = []
    for number, mask, hrl in TABLE2_CONFIGS:
        # The full method also fills its row from a run of the plain `handi` adapter.
        aliases = (HANDI_ADAPTER,) if (mask, hrl) == ("Stage 1", "✓") else ()
        rows.append(RowSpec((number, mask, hrl), ablation_label(mask, hrl), {"mask": mask, "hrl": hrl}, aliases))
    return tuple(rows)


TABLE2 = TableSpec(
    name="table2",
    title="Table 2",
    caption="Ablation on EpicKitchens: motion-area mask generation (Mask) and Hand Refinement Loss (HRL), "
    "scored inside the GT motion area (MA) and on full frames. No. 4 is the full HANDI.",
    reference="table2",
    section_header="Scope",
    row_header=("No.", "Mask", "HRL"),
    columns=_columns({"HS-Err.": 5, "FID": 3, "CLIP_GT": 4, "FVD": 2, "EgoVLP": 3, "CLIP_Cs.": 4, "CLIP_Tx.": 3, "BLIP": 3}),
    sections=tuple(
        SectionSpec(title, BENCHMARK_SPLITS["EpicKitchens"], PAPER_SCOPES[title], {"benchmark": "EpicKitchens", "scope": title}, _ablation_rows())
        for title in ("MA", "Full")
    ),
)

# -- Table 3 (supplementary: BLIP large and base) ---------------------------------
TABLE3_METHODS = tuple(m for m in TABLE1_METHODS if m[1] in {"LFDM", "AA", "AVDC", "PIA", "HANDI"})

TABLE3 = TableSpec(
    name="table3",
    title="Table 3",
    caption="BLIP scores with the large and base captioners (supplementary material).",
    reference="table3",
    section_header="Dataset",
    row_header=("Method",),
    columns=(ColumnSpec("BLIP_large", 3), ColumnSpec("BLIP_base", 3)),
    sections=tuple(
        SectionSpec(benchmark, BENCHMARK_SPLITS[benchmark], "full", {"benchmark": benchmark, "scope": "Full"}, _method_rows(TABLE3_METHODS))
        for benchmark in ("EpicKitchens", "Ego4D")
    ),
)

# -- Generation time (quoted in the text, "Computational Efficiency Analysis") ---
TIMING_METHODS = (
    ("HANDI", "HANDI", "handi"),
    ("AnimateAnything [14]", "AnimateAnything", "animate-anything"),
    ("DynamiCrafter [68]", "DynamiCrafter", "dynamicrafter"),
    ("PIA [79]", "PIA", "pia"),
    ("OpenSora [80]", "OpenSora", "open-sora"),
    ("AVDC [75]", "AVDC", "avdc"),
    ("CogVideoX [74]", "CogVideoX", "cogvideox-t2v"),  # run text-to-video, as the paper did
)

TIMINGS = TableSpec(
    name="timings",
    title="Generation time",
    caption="Seconds to generate one 256x256 clip on one NVIDIA H100 (EpicKitchens), as quoted in the text.",
    reference="timings",
    section_header="Benchmark",
    row_header=("Method",),
    columns=(ColumnSpec("seconds per clip", 1),),
    sections=(
        SectionSpec("EpicKitchens", BENCHMARK_SPLITS["EpicKitchens"], "full", {"benchmark": "EpicKitchens"}, _method_rows(TIMING_METHODS)),
    ),
)

PAPER_TABLES: Registry[TableSpec] = Registry("paper table")

# The one list of paper tables (the choices of `hcvg tables --paper`); sorted by name,
# they come in the paper's order.
for _spec in (TABLE1, TABLE2, TABLE3, TIMINGS):
    PAPER_TABLES.register(_spec.name, _spec)


def get_table_spec(name: str) -> TableSpec:
    """The spec of a paper table by CLI name.

    Raises:
        UnknownNameError: For an unknown name (a `KeyError`; the message lists the
            known ones and close matches).
    """
    return PAPER_TABLES.get(name)

"""A run's matrix as data: the YAML file of ``hcvg run --config`` and the one builder.

`run_config_from_dict` is the only way the CLI makes a `RunConfig`: ``hcvg run
--config matrix.yaml`` reads the file into a dict, the command-line flags write their
values over its keys, and the same function checks and types the result. So a matrix
written as YAML and the same matrix written as flags give the same run.

A matrix file::

    out: runs/mine
    adapters:
      - static
      - name: folder
        label: my-model
        options: {root: outputs/my_model, frames: even}
    splits: ["demo:num_samples=40"]
    metrics: [psnr, "hs-err:missing=penalize"]
    extractors:
      inception-pool3: {mode: clean}
    scopes: [full, ma]
    seeds: [0, 1, 2]

Components are written as ``NAME:key=value,...`` strings or as mappings
(`ComponentSpec.of`); option values may be YAML values or text, and are coerced to
the types the component's constructor declares (`hcvg.options`). Relative paths are
relative to the current directory, as on the command line.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any, Iterable, Mapping

from benchmark.run_config import ComponentSpec, RunConfig
from hcvg.errors import InputNotFoundError, UserError
from hcvg.options import coerce_options
from hcvg.registry import Registry

# The keys of a matrix file: the fields of `RunConfig`.
MATRIX_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunConfig))
DEFAULT_SPLITS = ("demo",)  # the embedded split: runs with nothing downloaded


class MatrixError(UserError, ValueError):
    """A matrix file or dict that cannot describe a run (unknown key, bad shape)."""


def read_matrix_file(path: Path) -> dict[str, Any]:
    """The mapping a YAML matrix file holds.

    Raises:
        InputNotFoundError: If ``path`` does not exist (a `FileNotFoundError` and a `UserError`).
        MatrixError: If the file is not YAML, or holds something else than a mapping.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"matrix file {path} not found; pass the path of a YAML matrix (see `hcvg run --help`)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise MatrixError(f"matrix file {path} is not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise MatrixError(f"matrix file {path} must hold a mapping of {', '.join(MATRIX_KEYS)}; got a {type(data).__name__}")
    return dict(data)


def run_config_from_dict(
    data: Mapping[str, Any],
    adapters: Registry | None = None,
    splits: Registry | None = None,
    metrics: Registry | None = None,
    features: Registry | None = None,
) -> RunConfig:
    """Check and type a matrix and build its `RunConfig`.

    Every component's options are coerced by its registry here, at the edge, so the
    config (and the ``run_config.json`` written from it) holds typed values whichever
    way the matrix was written.

    Args:
        data: Keys of `MATRIX_KEYS`; ``adapters`` and ``out`` are required, ``splits``
            defaults to ``demo``, ``metrics`` to every registered metric. ``extractors``
            is a mapping name → options, or a list of ``NAME:key=value`` strings.
        adapters: Adapter registry (default: the built-ins and entry points).
        splits: Split registry.
        metrics: Metric registry.
        features: Feature-extractor registry.

    Raises:
        MatrixError: On an unknown key, a missing required one, an extractor no metric
            reads, or a component in no known form.
        UnknownNameError: On a component name no registry holds.
        OptionError: On an option a component does not take, or a value it does not allow.
    """
    adapters, splits, metrics, features = _registries(adapters, splits, metrics, features)
    unknown = [key for key in data if key not in MATRIX_KEYS]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), MATRIX_KEYS, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise MatrixError(f"matrix: unknown key {key!r}{hint} (accepted: {', '.join(MATRIX_KEYS)})")
    for key in ("adapters", "out"):
        if data.get(key) in (None, [], ""):
            raise MatrixError(f"matrix: {key!r} is required (give it in the matrix file or as --{key})")
    from benchmark.splits import coerce_split_options

    adapter_specs = [_typed(spec, adapters.coerce(spec.name, spec.options)) for spec in _specs(data["adapters"], "adapters")]
    split_specs = [
        _typed(spec, coerce_split_options(spec.name, spec.options, splits))
        for spec in _specs(data.get("splits") or DEFAULT_SPLITS, "splits")
    ]
    metric_specs = [
        _typed(spec, metrics.coerce(spec.name, spec.options)) for spec in _specs(data.get("metrics") or metrics.names(), "metrics")
    ]
    extractors = _extractor_options(data.get("extractors") or {}, features)
    _check_extractors_are_read(extractors, metric_specs, metrics)
    scalars = {k: v for k, v in data.items() if k not in ("adapters", "splits", "metrics", "extractors")}
    typed = coerce_options(RunConfig, scalars, "matrix", require_all=False)  # the components are typed above
    labels = [spec.label for spec in adapter_specs]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise MatrixError(f"matrix: adapter labels must be unique, got {repeated} twice; add label=NAME to tell them apart")
    return RunConfig(adapters=adapter_specs, splits=split_specs, metrics=metric_specs, extractors=extractors, **typed)


def _registries(*given: Registry | None) -> tuple[Registry, Registry, Registry, Registry]:
    """The given registries, the global ones where None (imported only then)."""
    from adapters.registry import ADAPTERS
    from benchmark.splits import SPLITS
    from metrics.features.registry import FEATURES
    from metrics.registry import METRICS

    defaults = (ADAPTERS, SPLITS, METRICS, FEATURES)
    return tuple(registry if registry is not None else default for registry, default in zip(given, defaults))  # type: ignore[return-value]


def _specs(value: Any, key: str) -> list[ComponentSpec]:
    if isinstance(value, (str, Mapping)):
        value = [value]  # one component written alone
    if not isinstance(value, Iterable):
        raise MatrixError(f"matrix: {key!r} must be a list of components, got {value!r}")
    try:
        return [ComponentSpec.of(item) for item in value]
    except ValueError as err:
        raise MatrixError(f"matrix: {key}: {err}") from err


def _typed(spec: ComponentSpec, options: dict[str, Any]) -> ComponentSpec:
    return ComponentSpec(spec.name, options, spec.label)


def _extractor_options(value: Any, features: Registry) -> dict[str, dict[str, Any]]:
    """``extractors`` as name → coerced options, from a mapping or a list of specs."""
    if isinstance(value, Mapping):
        specs = []
        for name, options in value.items():
            if options is not None and not isinstance(options, Mapping):
                raise MatrixError(f"matrix: extractors: {name!r} must map to its options (key: value), got {options!r}")
            specs.append(ComponentSpec(str(name), dict(options or {})))
    else:
        specs = _specs(value, "extractors")
    extractors: dict[str, dict[str, Any]] = {}
    for spec in specs:
        if spec.label != spec.name:
            raise MatrixError(f"matrix: extractor {spec.name!r} cannot take a label")
        if spec.name in extractors:
            raise MatrixError(f"matrix: extractor {spec.name!r} is configured twice; give all its options at once")
        extractors[spec.name] = features.coerce(spec.name, spec.options)
    return extractors


def _check_extractors_are_read(extractors: dict[str, Any], metric_specs: list[ComponentSpec], metrics: Registry) -> None:
    """Options for an extractor no metric of the run reads would be ignored: refuse them."""
    read = {name for spec in metric_specs for name in getattr(metrics.get(spec.name), "features", ())}
    unread = sorted(set(extractors) - read)
    if unread:
        raise MatrixError(
            f"matrix: extractor(s) {unread} are configured, but no metric of the run reads them "
            f"(the metrics read: {', '.join(sorted(read)) or 'no extractor'}); add a metric that does, or drop the options"
        )

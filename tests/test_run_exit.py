"""What a run owes its caller: cell counts, fast refusals, restarts, short mismatch messages."""

from __future__ import annotations

import pytest

from benchmark.run_config import ComponentSpec, RunConfig
from benchmark.run_store import RunExistsError
from benchmark.runner import RunConfigMismatch, Runner, check_resumable, matrix_differences
from benchmark.splits import InMemorySplit
from hcvg.registry import Registry
from metrics.base import Metric
from metrics.registry import METRICS
from metrics.ssim import SSIM
from tests.test_runner import registries

BUILT: list[str] = []


class CountedSSIM(SSIM):
    """The real SSIM, counting its constructions (to see what a refused run builds)."""

    def __init__(self, **options):
        BUILT.append("metric")
        super().__init__(**options)


def fresh_metrics() -> Registry:
    registry = Registry("metric", base=Metric)
    registry.register("ssim", CountedSSIM)
    registry.register("psnr", METRICS.get("psnr"))
    return registry


def runner(tmp_path, samples, adapters, resume=False, metrics=("ssim",), scopes=("full",)):
    adapter_registry, _ = registries(samples)
    splits = Registry("split")
    splits.register("squares", lambda: BUILT.append("split") or InMemorySplit("squares", samples))
    config = RunConfig(
        out=tmp_path / "run",
        adapters=[a if isinstance(a, ComponentSpec) else ComponentSpec(a) for a in adapters],
        splits=[ComponentSpec("squares")], metrics=list(metrics), scopes=list(scopes), batch_size=2,
    )
    return Runner(config, resume=resume, adapters=adapter_registry, metrics=fresh_metrics(), splits=splits, progress=False)


def test_result_counts_the_matrix_cells_and_those_scored(tmp_path, square_samples):
    # flaky fails on 2 of 4 samples; static scores all: 2 adapters × 4 samples × 2 metrics × 1 scope.
    result = runner(tmp_path, square_samples, ["static", "flaky"], metrics=("ssim", "psnr")).run()
    assert result.matrix_cells == 16 and result.scored_cells == 12 and not result.complete
    assert {f["sample"] for f in result.new_failures} == {"sq-1", "sq-2"}
    # A resume retries the failed cells (they fail again: recorded again, still missing).
    again = runner(tmp_path, square_samples, ["static", "flaky"], metrics=("ssim", "psnr"), resume=True).run()
    assert again.matrix_cells == 16 and again.scored_cells == 12 and len(again.new_failures) == 2
    assert len(again.failures) == 4  # the file keeps both invocations' records
    # The cells of this invocation's matrix only: the static adapter alone is complete.
    alone = runner(tmp_path, square_samples, ["static"], metrics=("ssim", "psnr"), resume=True).run()
    assert alone.matrix_cells == alone.scored_cells == 8 and alone.complete and alone.new_failures == []


def test_existing_run_is_refused_before_metrics_or_splits_are_built(tmp_path, square_samples):
    assert runner(tmp_path, square_samples, ["static"]).run().complete
    BUILT.clear()
    with pytest.raises(RunExistsError, match="already holds a run; pass --resume"):
        runner(tmp_path, square_samples, ["static"]).run()
    assert BUILT == []
    with pytest.raises(RunConfigMismatch):
        runner(tmp_path, square_samples, [ComponentSpec("oracle", label="static")], resume=True).run()
    assert BUILT == []


def test_run_that_scored_nothing_restarts_in_place(tmp_path, square_samples):
    empty = tmp_path / "empty"
    empty.mkdir()
    folder = ComponentSpec("folder", {"root": str(empty)}, label="m")
    first = runner(tmp_path, square_samples, [folder]).run()
    assert first.scored_cells == 0 and first.matrix_cells == 4 and len(first.new_failures) == 4
    # Resuming it under another definition is refused, with the way out.
    with pytest.raises(RunConfigMismatch, match="run without --resume to start it afresh"):
        runner(tmp_path, square_samples, [ComponentSpec("static", label="m")], resume=True).run()
    # Without --resume it starts afresh: the old config, failures and clips are gone.
    again = runner(tmp_path, square_samples, [ComponentSpec("static", label="m")]).run()
    assert again.complete and again.failures == [] and again.generated == 4
    assert again.store.read_config()["matrix"]["adapters"][0]["name"] == "static"


def test_mismatch_names_every_differing_key_and_nothing_else():
    stored = {"size": [256, 256], "num_frames": 15,
              "adapters": [{"label": "m", "name": "folder", "options": {"root": "/a", "frames": "strict"}}],
              "splits": [{"label": "demo", "name": "demo", "options": {"num_samples": 6}}]}
    now = {"size": [256, 256], "num_frames": 16,
           "adapters": [{"label": "m", "name": "folder", "options": {"root": "/b", "frames": "strict"}},
                        {"label": "new", "name": "static", "options": {}}],
           "splits": [{"label": "demo", "name": "demo", "options": {"num_samples": 6, "seed": 1}}]}
    assert matrix_differences(stored, now) == [
        "num_frames: 15 → 16", "adapter 'm' option root: '/a' → '/b'", "split 'demo' option seed: (not set) → 1",
    ]
    with pytest.raises(RunConfigMismatch) as info:
        check_resumable(stored, now, "runs/x")
    message = str(info.value)
    assert "num_frames" in message and "option root" in message and "option seed" in message
    assert "strict" not in message and "num_samples" not in message  # unchanged keys are not dumped
    assert matrix_differences(stored, stored) == []


def test_cli_refuses_an_existing_run_before_loading_any_component(tmp_path, square_samples):
    """The refusal comes before option checking, which imports every component's module (torch)."""
    from tests.test_layers import HEAVY, _modules_loaded_by

    assert runner(tmp_path, square_samples, ["static"]).run().complete
    loaded = _modules_loaded_by(["run", "--adapters", "static", "--metrics", "psnr", "--out", str(tmp_path / "run")])
    assert "benchmark.runner" in loaded
    assert not sorted(m for m in loaded if m.split(".")[0] in HEAVY)

"""The paper's metric suite end to end through the runner, on tiny random backbones."""

import numpy as np
import pandas as pd
import pytest

from hcvg.frames import resize_center_crop
from hcvg.frames import read_image
from benchmark.run_config import ComponentSpec, RunConfig
from benchmark.runner import Runner
from hcvg.sample import Sample
from benchmark.splits import SPLITS, InMemorySplit
from hcvg.video_io import read_video
from hcvg.registry import Registry
from metrics.features.registry import FEATURES

# Similarity to the ground truth, and a Fréchet distance: the oracle must be best on each.
GT_METRICS = ["clip-gt", "egovlp", "fvd"]
PROMPT_METRICS = ["clip-cs", "clip-tx", "blip-base"]


def tiny_features() -> Registry:
    """Every registered extractor, built by its `for_tests` (tiny config, random weights)."""
    registry = Registry("feature extractor")
    for name in FEATURES.names():
        registry.register(name, FEATURES.get(name).for_tests)
    return registry


def run(tmp_path, adapters, splits, metrics, split_registry=SPLITS, scopes=("full",)):
    config = RunConfig(out=tmp_path / "run", adapters=adapters, splits=splits, metrics=metrics, scopes=list(scopes))
    return Runner(config, splits=split_registry, features=tiny_features(), progress=False).run()


def test_oracle_is_best_and_static_worse_on_every_suite_metric(tmp_path):
    result = run(tmp_path, [ComponentSpec("static"), ComponentSpec("oracle")], [ComponentSpec("demo", {"num_samples": 3})],
                 GT_METRICS + PROMPT_METRICS)
    assert [f for f in result.failures if f.get("stage") != "metric-setup"] == []
    value = result.summary.set_index(["adapter", "metric"])["value"]
    # A random-weight I3D maps every clip to nearly the same logits, so FVDs are tiny here;
    # the oracle's is numerical noise, orders of magnitude below the static clip's.
    assert abs(value[("oracle", "fvd")]) < 1e-3 * value[("static", "fvd")]
    for metric in ("clip-gt", "egovlp"):
        assert value[("oracle", metric)] == pytest.approx(1.0, abs=1e-5)
        assert value[("static", metric)] < value[("oracle", metric)]
    assert value[("static", "clip-cs")] == pytest.approx(1.0, abs=1e-5)  # a static clip is self-consistent
    assert set(result.summary.metric) == set(GT_METRICS + PROMPT_METRICS)
    level = result.summary.set_index("metric")["level"]
    assert level["fvd"].iloc[0] == "distribution" and level["clip-gt"].iloc[0] == "sample"


@pytest.fixture
def released_handi_clips(shared_data, tmp_path):
    """The five clips the released HANDI model generated, with their context stills."""
    prompts = {
        "handi_docs_31": "julienne the carrot",
        "handi_docs_36": "pour vinegar into bowl",
        "handi_docs_56": "pick up and crack egg",
        "handi_docs_83": "roll dough",
        "handi_docs_816": "knit the fabric",
    }
    samples = []
    for sample_id, prompt in prompts.items():
        context = resize_center_crop(read_image(shared_data / "hands" / "images" / f"{sample_id}.png"), 256)
        target = np.repeat(context[None], 15, axis=0)  # no GT video is public: score against the still
        samples.append(Sample(id=sample_id, split="handi-release", prompt=prompt, context=context, target=target))
        assert read_video(shared_data / "hands" / "generated" / f"{sample_id}.gif").shape[0] == 20
    splits = Registry("split")
    splits.register("handi-release", lambda: InMemorySplit("handi-release", samples))
    return splits, shared_data / "hands" / "generated"


@pytest.mark.slow
def test_released_handi_videos_are_scored_end_to_end(released_handi_clips, tmp_path):
    splits, folder = released_handi_clips
    adapter = ComponentSpec("folder", {"root": str(folder), "frames": "even", "resize": "true"}, label="handi-released")
    metrics = ["psnr", "ssim", "clip-gt", "clip-cs", "clip-tx", "egovlp", "fvd", "hs-err", "hand-recall"]
    result = run(tmp_path, [adapter, ComponentSpec("static")], [ComponentSpec("handi-release")], metrics, splits)
    rows = result.scores[result.scores.adapter == "handi-released"]
    assert sorted(rows.sample_id.unique()) == sorted(s for s in ["handi_docs_31", "handi_docs_36", "handi_docs_56",
                                                                   "handi_docs_83", "handi_docs_816"])
    value = result.summary.set_index(["adapter", "metric"])["value"]
    # Against the still context, the still itself is the perfect match and HANDI's clip is not.
    assert value[("static", "psnr")] == 100.0 and value[("handi-released", "psnr")] < 40.0
    assert value[("handi-released", "clip-gt")] < value[("static", "clip-gt")]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(result.summary[["adapter", "metric", "value", "ci_low", "ci_high", "n"]])


@pytest.mark.slow
def test_fid_through_the_runner_is_zero_for_the_oracle(tmp_path):
    """FID at full size (2048-d; scipy's sqrtm takes ~10 s a value on 2 cores): run with `tox -e slow`."""
    result = run(tmp_path, [ComponentSpec("static"), ComponentSpec("oracle")], [ComponentSpec("demo", {"num_samples": 3})],
                 ["fid"])
    value = result.summary.set_index(["adapter", "metric"])["value"]
    assert abs(value[("oracle", "fid")]) < 1e-3 * value[("static", "fid")]
    assert result.summary.set_index("adapter").loc["static", "n"] == 3

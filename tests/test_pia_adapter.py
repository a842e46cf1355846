"""The pia adapter: conformance, parity with diffusers' PIAPipeline, native settings, the two folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("diffusers")

from adapters.diffusers_video.pia import PIAAdapter  # noqa: E402
from adapters.fitting import frame_indices  # noqa: E402
from adapters.registry import ADAPTERS  # noqa: E402
from adapters.testing import conformance_samples, requests_for  # noqa: E402
from hcvg.assets import AssetNotFoundError  # noqa: E402
from hcvg.options import OptionError  # noqa: E402


def test_pia_is_still_exported_by_diffusers():
    # PIA moved under pipelines.deprecated (diffusers 0.30); the adapter relies on both names.
    import diffusers
    from diffusers.pipelines.deprecated.pia.pipeline_pia import PIAPipeline

    assert diffusers.PIAPipeline is PIAPipeline and diffusers.MotionAdapter is not None


# The adapter contract on PIAAdapter.for_tests(): tests/test_adapters.py checks every registered adapter.


def test_pia_output_equals_calling_the_diffusers_pipeline_directly():
    import diffusers
    import torch

    adapter = PIAAdapter.for_tests()
    requests = requests_for(adapter, conformance_samples(count=1), seed=5)
    adapter.load()
    try:
        ours = adapter.generate(requests)
    finally:
        adapter.close()
    # diffusers' documented PIA loading: the motion adapter, then the base with it.
    motion_adapter = diffusers.MotionAdapter.from_pretrained(adapter.adapter, dtype=torch.float32)
    pipe = diffusers.PIAPipeline.from_pretrained(adapter.model, motion_adapter=motion_adapter, dtype=torch.float32)
    # PIA's own DDIM (open-mmlab/PIA example/config/base.yaml), the adapter's default.
    pipe.scheduler = diffusers.DDIMScheduler.from_config(
        pipe.scheduler.config, beta_start=0.00085, beta_end=0.012, beta_schedule="linear", steps_offset=1, clip_sample=False
    )
    pipe.set_progress_bar_config(disable=True)
    frames = pipe(**adapter.call_kwargs(requests)).frames
    assert tuple(frames.shape) == (1, 16, 3, 32, 32)  # [B, T, C, H, W]
    reference = adapter.to_clip(frames[0], requests[0])
    assert len(ours) == 1 and np.array_equal(ours[0], reference)


def test_pia_defaults_are_pias_own():
    adapter = PIAAdapter()
    assert adapter.native.size == (512, 512) and adapter.native.frames == 16 and adapter.native.fps is None
    assert adapter.native.steps == 25 and adapter.native.guidance == 7.5
    assert adapter.motion_scale == 0 and adapter.strength == 1.0 and adapter.scheduler == "ddim"
    assert PIAAdapter.required_assets() == ("pia-base-sd15", "pia-condition-adapter")


def test_pia_maps_16_native_frames_to_15_by_dropping_the_context():
    adapter = PIAAdapter(input_fit="pad")
    description = json.loads(json.dumps(adapter.describe()))
    assert description["native"]["size"] == [512, 512] and description["native"]["frames"] == 16
    fitting = description["fitting"]
    assert fitting["drop_context"] is True and fitting["spatial"] == "center-crop"
    assert "'pad'" in fitting["context"] and fitting["fps"] == "the model takes no fps"
    assert frame_indices(16, 15, adapter.output_fitting()).tolist() == list(range(1, 16))
    kwargs = adapter.pipeline_kwargs(requests_for(adapter, conformance_samples(count=1)), images=["img"])
    assert (kwargs["height"], kwargs["width"], kwargs["num_frames"]) == (512, 512, 16)
    assert (kwargs["num_inference_steps"], kwargs["guidance_scale"], kwargs["strength"], kwargs["motion_scale"]) == (25, 7.5, 1.0, 0)


def test_pia_scheduler_option_decides_the_pipelines_scheduler():
    seen = {}
    for choice in ("ddim", "folder", "euler"):
        adapter = PIAAdapter.for_tests()
        adapter.scheduler = choice
        adapter.load()
        try:
            seen[choice] = adapter.pipe.scheduler
        finally:
            adapter.close()
    assert type(seen["ddim"]).__name__ == "DDIMScheduler"
    assert seen["ddim"].config.beta_schedule == "linear" and seen["ddim"].config.steps_offset == 1
    assert seen["ddim"].config.clip_sample is False
    assert type(seen["folder"]).__name__ == "PNDMScheduler"  # the tiny base's own
    assert type(seen["euler"]).__name__ == "EulerDiscreteScheduler"


def test_pia_refuses_a_motion_adapter_without_the_condition_module(tmp_path):
    import diffusers

    # An AnimateDiff motion adapter: motion modules only, no 9-channel conv_in.
    diffusers.MotionAdapter(block_out_channels=(8, 8), motion_layers_per_block=1, motion_norm_num_groups=2).save_pretrained(tmp_path)
    adapter = PIAAdapter(model=PIAAdapter.for_tests().model, adapter=str(tmp_path), **PIAAdapter.tiny_options())
    with pytest.raises(ValueError, match="not a PIA condition adapter"):
        adapter.load()


def test_pia_refuses_more_frames_than_its_motion_modules_take():
    tiny = PIAAdapter.for_tests()
    adapter = PIAAdapter(model=tiny.model, adapter=tiny.adapter, **{**PIAAdapter.tiny_options(), "frames": 33})
    with pytest.raises(ValueError, match="takes at most 32 frames"):
        adapter.load()


def test_pia_missing_motion_adapter_names_the_adapter_option(tmp_path):
    adapter = PIAAdapter(model=PIAAdapter.for_tests().model, adapter=str(tmp_path / "absent"), **PIAAdapter.tiny_options())
    with pytest.raises(AssetNotFoundError, match="adapter="):
        adapter.load()


def test_pia_without_its_condition_adapter_says_how_to_get_it(tmp_path, monkeypatch):
    for variable, folder in (("HCVG_ASSET_DIR", "assets"), ("HF_HUB_CACHE", "hub")):
        monkeypatch.setenv(variable, str(tmp_path / folder))
    monkeypatch.delenv("HCVG_PIA_ADAPTER", raising=False)
    adapter = PIAAdapter(model=PIAAdapter.for_tests().model, **PIAAdapter.tiny_options())
    with pytest.raises(AssetNotFoundError) as error:
        adapter.load()
    message = str(error.value)
    assert "hcvg assets fetch pia-condition-adapter" in message and "adapter=" in message


@pytest.mark.parametrize(
    "options, message",
    [({"motion_scale": 9}, "motion_scale must be 0-8"), ({"strength": 0.0}, r"strength must be in \(0, 1\]"),
     ({"height": 36}, "multiples of 8"), ({"scheduler": "pndm"}, "scheduler must be one of")],
)
def test_pia_rejects_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        PIAAdapter(**options)


def test_pia_is_registered_and_its_options_coerce():
    assert ADAPTERS.get("pia") is PIAAdapter
    with pytest.raises(OptionError, match="unknown option 'fps'"):  # PIA takes no fps
        ADAPTERS.create("pia", fps="8")
    adapter = ADAPTERS.create("pia", motion_scale="2", strength="0.8", adapter="some/where")
    assert (adapter.motion_scale, adapter.strength, adapter.adapter) == (2, 0.8, "some/where")
    kwargs = adapter.pipeline_kwargs(requests_for(adapter, conformance_samples(count=1)), images=["img"])
    assert kwargs["motion_scale"] == 2 and kwargs["strength"] == 0.8

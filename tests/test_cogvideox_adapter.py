"""The cogvideox-t2v / cogvideox-i2v adapters: conformance, parity with diffusers, native settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("diffusers")

from adapters.diffusers_video.cogvideox import (  # noqa: E402
    CogVideoXImageToVideoAdapter,
    CogVideoXTextToVideoAdapter,
)
from adapters.fitting import frame_indices  # noqa: E402
from adapters.registry import ADAPTERS  # noqa: E402
from adapters.testing import conformance_samples, requests_for  # noqa: E402
from hcvg.options import OptionError  # noqa: E402

FAMILY = (CogVideoXTextToVideoAdapter, CogVideoXImageToVideoAdapter)


# The adapter contract on each for_tests(): tests/test_adapters.py checks every registered adapter.


@pytest.mark.parametrize("cls", FAMILY, ids=lambda c: c.name)
def test_cogvideox_output_equals_calling_the_diffusers_pipeline_directly(cls):
    import diffusers
    import torch

    adapter = cls.for_tests()
    requests = requests_for(adapter, conformance_samples(count=1), seed=3)
    adapter.load()
    try:
        ours = adapter.generate(requests)
    finally:
        adapter.close()
    # The same pipeline class from the same folder, called with the fitted inputs.
    pipe = getattr(diffusers, cls.pipeline_class).from_pretrained(adapter.model, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    kwargs = adapter.call_kwargs(requests)
    assert ("image" in kwargs) is not cls.text_only
    frames = pipe(**kwargs).frames
    assert tuple(frames.shape) == (1, 17, 3, 32, 48)  # [B, T, C, H, W]: 17 native frames at 32x48
    reference = [adapter.to_clip(video, request) for video, request in zip(frames, requests)]
    assert len(ours) == len(reference) == 1
    assert np.array_equal(ours[0], reference[0])


def test_cogvideox_defaults_are_the_model_cards():
    for cls in FAMILY:
        adapter = cls()
        assert adapter.native.size == (480, 720) and adapter.native.frames == 49 and adapter.native.fps == 8.0
        assert adapter.native.steps == 50 and adapter.native.guidance == 6.0
        assert adapter.max_sequence_length == 226 and adapter.dynamic_cfg is False and adapter.scheduler == "folder"
    assert CogVideoXTextToVideoAdapter.required_assets() == ("cogvideox-5b",)
    assert CogVideoXImageToVideoAdapter.required_assets() == ("cogvideox-5b-i2v",)


def test_cogvideox_t2v_never_reads_the_context_and_says_so():
    adapter = CogVideoXTextToVideoAdapter()
    # The class declares it as well: `hcvg adapters list` reads the class.
    assert not adapter.capabilities.needs_image and not CogVideoXTextToVideoAdapter.capabilities.needs_image
    assert requests_for(adapter, conformance_samples(count=1))[0].context is None
    fitting = json.loads(json.dumps(adapter.describe()))["fitting"]
    assert fitting["context"] == "not given (text-to-video)"
    assert fitting["drop_context"] is False and fitting["spatial"] == "center-crop"
    assert "input_fit" not in adapter.options()
    with pytest.raises(ValueError, match="input_fit fits the context frame"):
        CogVideoXTextToVideoAdapter(input_fit="pad")
    # 49 native frames, none of them the context: 15 picked evenly, first and last included.
    assert frame_indices(49, 15, adapter.output_fitting()).tolist() == [0, 3, 7, 10, 14, 17, 21, 24, 27, 31, 34, 38, 41, 45, 48]


def test_cogvideox_i2v_fits_the_context_in_and_drops_it_from_the_output():
    adapter = CogVideoXImageToVideoAdapter(input_fit="center-crop")
    assert adapter.capabilities.needs_image
    description = json.loads(json.dumps(adapter.describe()))
    assert description["native"]["size"] == [480, 720] and description["native"]["frames"] == 49
    fitting = description["fitting"]
    assert fitting["drop_context"] is True and fitting["spatial"] == "pad" and fitting["temporal"] == "even"
    assert "center-crop" in fitting["context"] and "8 fps" in fitting["fps"]
    # Frame 0 is the context: the 15 come from frames 1..48.
    indices = frame_indices(49, 15, adapter.output_fitting())
    assert indices[0] == 1 and indices[-1] == 48 and len(indices) == 15
    image = adapter.native_images(requests_for(adapter, conformance_samples(count=1)))[0]
    assert image.size == (720, 480)  # PIL: (W, H)


def test_cogvideox_frames_must_be_four_n_plus_one_and_sides_multiples_of_16():
    with pytest.raises(ValueError, match=r"4·n \+ 1"):
        CogVideoXTextToVideoAdapter(frames=48)
    assert CogVideoXTextToVideoAdapter(frames=17).native.frames == 17
    with pytest.raises(ValueError, match="multiples of 16"):
        CogVideoXImageToVideoAdapter(height=472)


def test_cogvideox_i2v_refuses_a_size_or_frame_count_its_learned_embedding_lacks():
    tiny = CogVideoXImageToVideoAdapter.for_tests()
    for change in ({"height": 64}, {"frames": 21}):
        adapter = CogVideoXImageToVideoAdapter(model=tiny.model, **{**CogVideoXImageToVideoAdapter.tiny_options(), **change})
        with pytest.raises(ValueError, match="learned positional embedding for 32x48"):
            adapter.load()


def test_cogvideox_prompt_length_must_match_the_transformer():
    tiny = CogVideoXTextToVideoAdapter.for_tests()
    adapter = CogVideoXTextToVideoAdapter(model=tiny.model, **{**CogVideoXTextToVideoAdapter.tiny_options(), "max_sequence_length": 226})
    with pytest.raises(ValueError, match="pass max_sequence_length=16"):
        adapter.load()


def test_cogvideox_scheduler_option_swaps_the_pipelines_scheduler():
    adapter = CogVideoXTextToVideoAdapter.for_tests()
    adapter.scheduler = "dpm"
    adapter.load()
    try:
        assert type(adapter.pipe.scheduler).__name__ == "CogVideoXDPMScheduler"
        assert adapter.pipe.scheduler.config.timestep_spacing == "trailing"
    finally:
        adapter.close()
    with pytest.raises(ValueError, match="scheduler must be one of"):
        CogVideoXTextToVideoAdapter(scheduler="euler")


def test_cogvideox_adapters_are_registered_and_their_options_coerce():
    for cls in FAMILY:
        assert ADAPTERS.get(cls.name) is cls
    with pytest.raises(OptionError, match="unknown option 'fps'"):  # CogVideoX takes no fps
        ADAPTERS.create("cogvideox-i2v", fps="16")
    adapter = ADAPTERS.create("cogvideox-t2v", steps="4", dynamic_cfg="true", scheduler="dpm")
    assert adapter.native.steps == 4 and adapter.dynamic_cfg is True and adapter.call_kwargs(
        requests_for(adapter, conformance_samples(count=1))
    )["use_dynamic_cfg"] is True


def test_cogvideox_t2v_crops_the_native_center_as_the_ground_truth_is_cropped():
    import torch

    adapter = CogVideoXTextToVideoAdapter(**CogVideoXTextToVideoAdapter.tiny_options())
    request = requests_for(adapter, conformance_samples(count=1))[0]
    # A 32x48 native clip, white in its outer 4-pixel columns: the centre square has none of it.
    native = torch.zeros(17, 3, 32, 48)
    native[..., :4] = native[..., -4:] = 1.0
    clip = adapter.to_clip(native, request)
    assert clip.shape == (15, 64, 64, 3)
    assert clip.max() == 0  # a resize (stretch) would keep white at both edges

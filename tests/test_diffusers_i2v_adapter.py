"""`diffusers-i2v`: each preset's pipeline class, tiny, keeps the contract and equals a direct call.

The tiny pipelines (`adapters.diffusers_video.tiny_i2v`) are real diffusers classes with
random weights, saved once and loaded with ``from_pretrained`` like a checkpoint.
"""

import dataclasses
import re

import diffusers
import numpy as np
import pytest
import torch

from adapters.diffusers_video.image_to_video import PRESETS, DiffusersI2VAdapter, alias_clip_text_model, hunyuan_returns_context
from adapters.diffusers_video.tiny_i2v import TINY_PIPELINES
from adapters.registry import ADAPTERS
from adapters.testing import check_adapter, conformance_samples, requests_for

#: One preset per pipeline class: the tiny pipelines are per class, so this covers every class a preset drives.
ONE_PER_CLASS = sorted({preset.pipeline_class: name for name, preset in reversed(list(PRESETS.items()))}.values())


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models run fastest on one thread: more only contend for the shared CPU cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_every_preset_pipeline_class_has_a_tiny_pipeline():
    assert {preset.pipeline_class for preset in PRESETS.values()} == set(TINY_PIPELINES)
    assert {PRESETS[name].pipeline_class for name in ONE_PER_CLASS} == set(TINY_PIPELINES)


def test_registered_by_name_and_its_listing_names_every_preset():
    assert ADAPTERS.get("diffusers-i2v") is DiffusersI2VAdapter
    listed = DiffusersI2VAdapter.__doc__.splitlines()[0].split("preset=")[1].split(", or")[0]
    assert [name.strip() for name in listed.split("|")] == list(PRESETS)


def direct_call(adapter: DiffusersI2VAdapter, requests) -> list[np.ndarray]:
    """The same pipeline class, loaded from the same folder, called with the adapter's kwargs and seeds."""
    pipe = getattr(diffusers, adapter.preset.pipeline_class).from_pretrained(adapter.model)
    if adapter.preset.pipeline_class == "I2VGenXLPipeline":
        alias_clip_text_model(pipe)  # pinned below: the deprecated pipeline cannot run on transformers 5 without it
    pipe.set_progress_bar_config(disable=True)
    if adapter.preset.global_noise:  # it draws the context's VAE latent from torch's global RNG
        assert len(requests) == 1
        torch.manual_seed(requests[0].seed)
    frames = pipe(**adapter.call_kwargs(requests)).frames
    return [adapter.to_clip(video, request) for video, request in zip(frames, requests)]


@pytest.mark.parametrize("preset", ONE_PER_CLASS)
def test_tiny_pipeline_conforms_and_equals_a_direct_pipeline_call(preset):
    adapter = DiffusersI2VAdapter.for_tests(preset)
    assert adapter.pipeline_class == PRESETS[preset].pipeline_class
    check_adapter(adapter)
    requests = requests_for(adapter, conformance_samples(1))
    adapter.load()
    try:
        clips = adapter.generate(requests)
    finally:
        adapter.close()
    expected = direct_call(adapter, requests)
    assert clips[0].shape == (15, 64, 64, 3)
    assert np.array_equal(clips[0], expected[0]), f"{preset}: the adapter's clip differs from calling {adapter.pipeline_class} directly"


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_maps_a_request_to_its_pipeline_arguments(name):
    """Real native settings (no weights needed): size, frames, steps, guidance, fps, prompt, fixed values."""
    preset = PRESETS[name]
    adapter = DiffusersI2VAdapter(preset=name, device="cpu")
    requests = requests_for(adapter, conformance_samples(1))
    kwargs = adapter.call_kwargs(requests)
    (height, width), native = preset.native.size, preset.native
    batched = (lambda v: v) if preset.batched else (lambda v: v[0])
    first = kwargs["image"][0] if preset.batched else kwargs["image"]
    assert first.size == (width, height)  # PIL: (W, H)
    assert (kwargs["height"], kwargs["width"], kwargs["num_frames"], kwargs["num_inference_steps"]) == (height, width, native.frames, native.steps)
    assert kwargs[preset.guidance_argument] == native.guidance
    assert ("prompt" in kwargs) == preset.takes_prompt
    if preset.takes_prompt:
        assert kwargs["prompt"] == batched(["a hand pushes a block to the right"])  # the expanded prompt
    if preset.fps_argument:
        assert kwargs[preset.fps_argument] == native.fps and isinstance(kwargs[preset.fps_argument], int)
    for key, value in preset.fixed.items():
        assert kwargs[key] == value
    described = adapter.describe()
    assert described["native"] == dataclasses.asdict(native)
    assert described["options"]["preset"]["name"] == name
    drop_context = described["fitting"]["drop_context"]
    assert drop_context is True or (name == "hunyuanvideo-i2v" and drop_context.startswith("True until load()"))
    assert described["fitting"]["spatial"] == "resize"
    assert set(described["fitting"]["call"]) == set(kwargs) - {"generator", "output_type"}
    # The official weights are a declared asset (resolved at load, never downloaded).
    from hcvg.assets import ASSETS

    assert adapter.asset == preset.asset and ASSETS.get(preset.asset).hf_repo


def test_model_card_numbers():
    """The presets' native settings, as the sources in image_to_video.py give them."""
    natives = {name: (p.native.size, p.native.frames, p.native.fps, p.native.steps, p.native.guidance) for name, p in PRESETS.items()}
    assert natives == {
        "svd": ((576, 1024), 16, 7, 25, 3.0),  # the card's 14 would leave 13 after the context frame
        "svd-xt": ((576, 1024), 25, 7, 25, 3.0),
        "i2vgen-xl": ((704, 1280), 16, 16, 50, 9.0),
        "ltx-video": ((480, 704), 161, 25, 50, 3.0),
        "wan2.1-i2v-480p": ((480, 832), 81, 16, 50, 5.0),
        "hunyuanvideo-i2v": ((720, 1280), 129, 15, 50, 6.0),
    }
    assert PRESETS["svd"].fixed["min_guidance_scale"] == 1.0 and PRESETS["svd"].fps_argument == "fps"
    assert PRESETS["ltx-video"].fps_argument == "frame_rate" and PRESETS["i2vgen-xl"].fps_argument == "target_fps"
    assert PRESETS["wan2.1-i2v-480p"].fps_argument is None and PRESETS["hunyuanvideo-i2v"].fps_argument is None


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_makes_enough_frames_for_the_benchmark_clip(name):
    """At its native settings each preset returns >= 15 frames besides the context: fitting never invents frames."""
    preset = PRESETS[name]
    assert preset.native.frames - 1 >= 15  # every preset's checkpoint returns the context as frame 0


def test_fitting_records_the_mapping_to_the_benchmark():
    adapter = DiffusersI2VAdapter(preset="wan2.1-i2v-480p", input_fit="center-crop", temporal="first", device="cpu")
    fitting = adapter.fitting()
    assert fitting["spatial"] == "pad" and fitting["temporal"] == "first" and fitting["drop_context"] is True
    assert "takes no fps" in fitting["fps"] and "16" in fitting["fps"]
    assert "frame_rate=" in DiffusersI2VAdapter(preset="ltx-video", device="cpu").fitting()["fps"]


def test_options_override_the_preset():
    adapter = DiffusersI2VAdapter(preset="svd-xt", height=320, width=576, frames=21, steps=10, guidance=2.0, fps=6, decode_chunk_size=4, device="cpu")
    kwargs = adapter.call_kwargs(requests_for(adapter, conformance_samples(1)))
    assert (kwargs["height"], kwargs["width"], kwargs["num_frames"], kwargs["num_inference_steps"]) == (320, 576, 21, 10)
    assert (kwargs["max_guidance_scale"], kwargs["fps"], kwargs["decode_chunk_size"]) == (2.0, 6, 4)


@pytest.mark.parametrize(
    "options, message",
    [
        ({}, "pass preset="),
        ({"preset": "svd-2"}, "unknown preset 'svd-2'; choose one of svd, svd-xt"),
        ({"preset": "svd", "pipeline": "I2VGenXLPipeline"}, "fixes the pipeline class"),
        ({"preset": "ltx-video", "frames": 16}, "frames must be 8·n + 1"),
        ({"preset": "wan2.1-i2v-480p", "frames": 80}, "frames must be 4·n + 1"),
        ({"preset": "hunyuanvideo-i2v", "batch_size": 2}, "one request per call (it takes one image)"),
        ({"preset": "i2vgen-xl", "batch_size": 2}, "one request per call (it draws noise from the global RNG)"),
        ({"preset": "ltx-video", "decode_chunk_size": 4}, "takes no decode_chunk_size"),
        ({"preset": "wan2.1-i2v-480p", "fps": 24}, "wan2.1-i2v-480p passes no frame rate to WanImageToVideoPipeline; drop fps="),
        ({"preset": "svd", "negative_prompt": "blurry"}, "svd passes no negative prompt"),
    ],
)
def test_bad_options_are_refused_with_the_fix(options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        DiffusersI2VAdapter(device="cpu", **options)


def tiny_folder(pipeline_class: str) -> str:
    preset = next(name for name in ONE_PER_CLASS if PRESETS[name].pipeline_class == pipeline_class)
    return DiffusersI2VAdapter.for_tests(preset).model


def test_without_a_preset_the_class_comes_from_model_index_and_generic_arguments_are_passed():
    folder = tiny_folder("LTXImageToVideoPipeline")
    adapter = DiffusersI2VAdapter(model=folder, height=32, width=32, frames=17, steps=2, device="cpu")
    assert adapter.pipeline_class == "LTXImageToVideoPipeline" and adapter.preset.name == "generic"
    # Native settings not given are the pipeline's own __call__ defaults.
    assert adapter.native.guidance == 3.0 and adapter.native.fps is None
    requests = requests_for(adapter, conformance_samples(1))
    kwargs = adapter.call_kwargs(requests)
    assert set(kwargs) == {
        "prompt", "negative_prompt", "image", "height", "width", "num_frames", "num_inference_steps", "guidance_scale", "generator", "output_type",
    }
    check_adapter(adapter)
    adapter.load()
    try:
        clips = adapter.generate(requests)
    finally:
        adapter.close()
    assert np.array_equal(clips[0], direct_call(adapter, requests)[0])


def test_pipeline_option_names_the_class_and_is_checked():
    folder = tiny_folder("LTXImageToVideoPipeline")
    adapter = DiffusersI2VAdapter(model=folder, pipeline="LTXImageToVideoPipeline", device="cpu")
    assert adapter.native.size == (512, 704) and adapter.native.frames == 161  # the __call__ defaults
    with pytest.raises(ValueError, match="no pipeline class 'LTXImage2VideoPipeline'"):
        DiffusersI2VAdapter(model=folder, pipeline="LTXImage2VideoPipeline", device="cpu")
    with pytest.raises(ValueError, match="takes no image=, so it is not an image-to-video pipeline"):
        DiffusersI2VAdapter(model=folder, pipeline="LTXPipeline", device="cpu")
    with pytest.raises(ValueError, match="generic passes no frame rate"):
        DiffusersI2VAdapter(model=folder, fps=24, device="cpu")
    assert "pipeline's own default" in adapter.fitting()["fps"]


def test_generic_mode_needs_native_settings_the_pipeline_does_not_default():
    folder = tiny_folder("StableVideoDiffusionPipeline")
    with pytest.raises(ValueError, match="declares no default num_frames; pass frames="):
        DiffusersI2VAdapter(model=folder, device="cpu")
    adapter = DiffusersI2VAdapter(model=folder, frames=16, device="cpu")
    assert adapter.preset.takes_prompt is False and adapter.native.size == (576, 1024)


def test_a_folder_without_model_index_is_refused(tmp_path):
    with pytest.raises(ValueError, match="has no model_index.json"):
        DiffusersI2VAdapter(model=str(tmp_path), device="cpu")


# -- I2VGen-XL: a deprecated pipeline, pinned ---------------------------------------
def test_i2vgen_xl_is_still_diffusers_deprecated_pipeline():
    """diffusers 0.42 keeps I2VGenXLPipeline among its deprecated pipelines; when it goes, the preset must go too."""
    assert diffusers.I2VGenXLPipeline.__module__.startswith("diffusers.pipelines.deprecated.")


def test_i2vgen_xl_needs_the_clip_text_model_alias():
    """Without `alias_clip_text_model` the deprecated pipeline fails on transformers 5; when this passes, drop the fix."""
    adapter = DiffusersI2VAdapter.for_tests("i2vgen-xl")
    pipe = diffusers.I2VGenXLPipeline.from_pretrained(adapter.model)
    pipe.set_progress_bar_config(disable=True)
    kwargs = {**adapter.call_kwargs(requests_for(adapter, conformance_samples(1))), "num_inference_steps": 1}
    with pytest.raises(AttributeError, match="text_model"):
        pipe(**kwargs)
    assert adapter.describe()["options"]["compat"], "the fix is recorded in the run config"
    alias_clip_text_model(pipe)
    assert "text_model" not in dict(pipe.text_encoder.named_children())  # an alias, not a submodule


# -- HunyuanVideo I2V: the context frame depends on the checkpoint --------------------
@pytest.mark.parametrize("condition, returned", [("token_replace", True), ("latent_concat", False)])
def test_hunyuan_context_frame_is_read_from_the_transformer_config(condition, returned):
    from diffusers import HunyuanVideoTransformer3DModel

    transformer = HunyuanVideoTransformer3DModel(
        in_channels=4 if condition == "token_replace" else 9, out_channels=4, num_attention_heads=2, attention_head_dim=10,
        num_layers=1, num_single_layers=1, num_refiner_layers=1, patch_size=1, patch_size_t=1, text_embed_dim=16,
        pooled_projection_dim=8, rope_axes_dim=(2, 4, 4), image_condition_type=condition,
    )
    pipe = diffusers.HunyuanVideoImageToVideoPipeline(
        text_encoder=None, tokenizer=None, transformer=transformer, vae=None, scheduler=None, text_encoder_2=None, tokenizer_2=None,
        image_processor=None,
    )
    assert hunyuan_returns_context(pipe) is returned


def test_hunyuan_tiny_checkpoint_returns_the_context_after_load():
    adapter = DiffusersI2VAdapter.for_tests("hunyuanvideo-i2v")
    assert "until load()" in str(adapter.fitting()["drop_context"])
    adapter.load()
    try:
        assert adapter.returns_context is True and adapter.fitting()["drop_context"] is True
    finally:
        adapter.close()


def test_wan_keeps_its_vae_and_image_encoder_in_float32_under_a_half_dtype():
    adapter = DiffusersI2VAdapter(model=tiny_folder("WanImageToVideoPipeline"), preset="wan2.1-i2v-480p", dtype="bfloat16", device="cpu")
    adapter.load()
    try:
        dtypes = {name: getattr(adapter.pipe, name).dtype for name in ("vae", "image_encoder", "transformer", "text_encoder")}
    finally:
        adapter.close()
    assert dtypes == {"vae": torch.float32, "image_encoder": torch.float32, "transformer": torch.bfloat16, "text_encoder": torch.bfloat16}

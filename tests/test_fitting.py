"""The adapter kit's fitting: time, space, values, seeds and device options (adapters/fitting.py)."""

import numpy as np
import pytest
import torch

from adapters.fitting import (
    Fitting,
    FittingError,
    TorchSettings,
    batch_noise,
    fit_size,
    fit_video,
    frame_indices,
    generator_for,
    generators_for,
    to_uint8_video,
)
from hcvg.adapter import GenerationRequest
from hcvg.frames import resize_center_crop


def request(num_frames: int = 15, size=(32, 32), seed: int = 0, sample_id: str = "s-0") -> GenerationRequest:
    return GenerationRequest(sample_id, "cut carrot", None, num_frames, size, seed=seed)


# -- time ------------------------------------------------------------------------------
def test_even_resampling_of_49_frames_keeps_first_last_and_even_spacing():
    indices = frame_indices(49, 15, Fitting(temporal="even"))
    assert indices.tolist() == [0, 3, 7, 10, 14, 17, 21, 24, 27, 31, 34, 38, 41, 45, 48]


def test_drop_context_skips_frame_zero_before_resampling():
    assert frame_indices(16, 15, Fitting(drop_context=True)).tolist() == list(range(1, 16))
    assert frame_indices(50, 15, Fitting(drop_context=True)).tolist() == [1, 4, 8, 11, 15, 18, 22, 25, 28, 32, 35, 39, 42, 46, 49]
    # Without the flag, 16 frames must be thinned: the context frame stays in.
    assert frame_indices(16, 15, Fitting())[0] == 0


def test_first_last_and_strict_temporal_policies():
    assert frame_indices(20, 15, Fitting(temporal="first")).tolist() == list(range(15))
    assert frame_indices(20, 15, Fitting(temporal="last")).tolist() == list(range(5, 20))
    assert frame_indices(21, 15, Fitting(temporal="first", drop_context=True)).tolist() == list(range(1, 16))
    assert frame_indices(15, 15, Fitting(temporal="strict")).tolist() == list(range(15))
    with pytest.raises(FittingError, match="clip.mkv: has 20 frames, the benchmark needs 15") as info:
        frame_indices(20, 15, Fitting(temporal="strict"), source="clip.mkv")
    assert (info.value.axis, info.value.native, info.value.requested) == ("frames", 20, 15)


@pytest.mark.parametrize("temporal", ["even", "first", "last", "strict"])
def test_no_policy_invents_frames(temporal):
    with pytest.raises(FittingError, match="has 15 frames .the first is the context frame., the benchmark needs 15"):
        frame_indices(15, 15, Fitting(temporal=temporal, drop_context=True))


def test_fitting_rejects_unknown_policies_and_describes_itself():
    with pytest.raises(ValueError, match="spatial must be one of strict, center-crop, resize, pad; got 'crop'"):
        Fitting(spatial="crop")
    with pytest.raises(ValueError, match="temporal must be one of"):
        Fitting(temporal="uniform")
    assert Fitting("resize", "first", True).describe() == {"spatial": "resize", "temporal": "first", "drop_context": True}


# -- space -----------------------------------------------------------------------------
def column_ramp(height: int = 48, width: int = 80, frames: int = 2) -> np.ndarray:
    """Frames whose red channel encodes the column: x -> round(255 x / (width - 1))."""
    ramp = np.rint(np.linspace(0, 255, width)).astype(np.uint8)
    video = np.full((frames, height, width, 3), 200, dtype=np.uint8)
    video[..., 0] = ramp
    return video


def test_center_crop_keeps_the_middle_and_matches_clip_sampling():
    video = column_ramp()
    out = fit_size(video, (32, 32), Fitting(spatial="center-crop"))
    assert out.shape == (2, 32, 32, 3)
    assert np.array_equal(out, resize_center_crop(video, 32))
    # 48x80 -> 32x53, then the middle 32 columns: the sides of the ramp are cut away.
    assert 30 < out[0, 16, 0, 0] < 70 and 185 < out[0, 16, -1, 0] < 225


def test_resize_keeps_the_whole_width_and_may_change_aspect():
    video = column_ramp()
    out = fit_size(video, (32, 32), Fitting(spatial="resize"))
    assert out.shape == (2, 32, 32, 3)
    assert out[0, 16, 0, 0] < 15 and out[0, 16, -1, 0] > 240
    assert fit_size(video, (24, 40), Fitting(spatial="resize")).shape == (2, 24, 40, 3)


def test_pad_keeps_aspect_and_letterboxes_in_black():
    out = fit_size(column_ramp(), (32, 32), Fitting(spatial="pad"))
    assert out.shape == (2, 32, 32, 3)
    # 48x80 scaled by 0.4 is 19x32, centred: rows 6..24 hold the picture.
    assert not out[:, :6].any() and not out[:, 25:].any()
    assert (out[:, 6:25, :, 1] > 150).all()


def test_strict_and_non_square_center_crop_refuse():
    with pytest.raises(FittingError, match="clip.mp4: frames are 48x80, the benchmark needs 32x32") as info:
        fit_size(column_ramp(), (32, 32), Fitting(spatial="strict"), source="clip.mp4")
    assert (info.value.axis, info.value.native, info.value.requested) == ("size", (48, 80), (32, 32))
    with pytest.raises(FittingError, match="square sizes only"):
        fit_size(column_ramp(), (24, 40), Fitting(spatial="center-crop"))


@pytest.mark.parametrize("spatial", ["strict", "center-crop", "resize", "pad"])
def test_frames_of_the_requested_size_pass_unchanged(spatial):
    video = column_ramp(32, 32)
    assert fit_size(video, (32, 32), Fitting(spatial=spatial)) is video


def test_fit_video_drops_resamples_and_fits_to_exactly_the_request():
    native = np.zeros((16, 48, 80, 3), dtype=np.uint8)
    for index in range(16):
        native[index] = 5 * index  # frame i is flat grey 5 i
    out = fit_video(native, request(), Fitting(spatial="center-crop", drop_context=True))
    assert out.shape == (15, 32, 32, 3) and out.dtype == np.uint8 and out.flags["C_CONTIGUOUS"]
    assert out[:, 10, 10, 0].tolist() == [5 * i for i in range(1, 16)]


def test_fit_video_names_the_sample_for_frames_that_are_not_uint8():
    with pytest.raises(FittingError, match="sample 's-7': fit_video needs uint8 .N,h,w,3. frames, got float32"):
        fit_video(np.zeros((15, 32, 32, 3), np.float32), request(sample_id="s-7"), Fitting())


# -- values ----------------------------------------------------------------------------
def test_float_to_uint8_rounds_and_clamps_both_ranges():
    unit = torch.tensor([0.0, 1 / 255, 0.25, 0.5, 1.0, 1.2, -0.1]).reshape(1, 1, 7, 1).expand(1, 1, 7, 3)
    assert to_uint8_video(unit, layout="THWC", value_range="0,1", sample_id="s")[0, 0, :, 0].tolist() == [0, 1, 64, 128, 255, 255, 0]
    signed = torch.tensor([-1.0, 0.0, 0.5, 1.0, 3.0]).reshape(1, 1, 5, 1).expand(1, 1, 5, 3)
    assert to_uint8_video(signed, layout="THWC", value_range="-1,1", sample_id="s")[0, 0, :, 0].tolist() == [0, 128, 191, 255, 255]


@pytest.mark.parametrize("layout, order", [("THWC", (0, 1, 2, 3)), ("TCHW", (0, 3, 1, 2)), ("CTHW", (3, 0, 1, 2))])
def test_every_layout_comes_back_as_thwc(layout, order):
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 256, size=(3, 5, 7, 3), dtype=np.uint8)  # T = C = 3: only the declared layout tells them apart
    native = (reference.astype(np.float32) / 255).transpose(order)
    for video in (native, torch.from_numpy(native.copy()).to(torch.float64)):
        out = to_uint8_video(video, layout=layout, value_range="0,1", sample_id="s")
        assert out.dtype == np.uint8 and np.array_equal(out, reference)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_output_is_an_error_naming_the_sample(bad):
    video = torch.zeros(4, 3, 8, 8, dtype=torch.float16)
    video[2, 1, 3, 3] = bad
    with pytest.raises(FittingError, match="sample 'ek-17': model output contains 1 NaN or infinite values") as info:
        to_uint8_video(video, layout="TCHW", value_range="-1,1", sample_id="ek-17")
    assert info.value.axis == "values"


def test_wrong_shape_or_integer_output_is_an_error():
    with pytest.raises(FittingError, match=r"shape \(4, 8, 8, 3\), expected TCHW with C = 3"):
        to_uint8_video(torch.zeros(4, 8, 8, 3), layout="TCHW", value_range="0,1", sample_id="s")
    with pytest.raises(FittingError, match="torch.uint8, expected a float video"):
        to_uint8_video(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), layout="TCHW", value_range="0,1", sample_id="s")
    with pytest.raises(ValueError, match="layout must be one of"):
        to_uint8_video(torch.zeros(4, 3, 8, 8), layout="NCHW", value_range="0,1", sample_id="s")


# -- randomness ------------------------------------------------------------------------
def test_same_seed_same_noise_different_seed_different_noise():
    first = torch.randn(64, generator=generator_for(7))
    assert torch.equal(first, torch.randn(64, generator=generator_for(7)))
    assert not torch.equal(first, torch.randn(64, generator=generator_for(8)))


def test_a_batch_of_seeds_draws_what_single_calls_draw():
    requests = [request(seed=seed, sample_id=f"s-{seed}") for seed in (3, 1, 4)]
    batch = batch_noise(requests, (2, 4, 4))
    assert batch.shape == (3, 2, 4, 4) and batch.dtype == torch.float32
    singles = torch.cat([batch_noise([r], (2, 4, 4)) for r in requests])
    assert torch.equal(batch, singles)
    assert torch.equal(batch_noise(requests[::-1], (2, 4, 4)), batch.flip(0))
    # The generator list draws the same as the noise helper, element by element.
    drawn = [torch.randn((2, 4, 4), generator=g) for g in generators_for(requests)]
    assert torch.equal(torch.stack(drawn), batch)
    assert batch_noise(requests, (2,), dtype=torch.bfloat16).dtype == torch.bfloat16


# -- device ----------------------------------------------------------------------------
def test_torch_settings_resolve_auto_to_this_machine():
    settings = TorchSettings()
    cuda = torch.cuda.is_available()
    assert settings.resolve_device().type == ("cuda" if cuda else "cpu")
    assert settings.resolve_dtype() == (torch.bfloat16 if cuda else torch.float32)
    assert TorchSettings(device="cpu", dtype="float16").resolve_dtype() == torch.float16
    assert TorchSettings(device="cpu").resolve_dtype() == torch.float32
    described = TorchSettings(device="cpu").describe()
    assert described == {"device": "cpu", "dtype": "auto", "offload": "none", "resolved_device": "cpu", "resolved_dtype": "float32"}


def test_torch_settings_refuse_what_cannot_run_here():
    with pytest.raises(ValueError, match="dtype must be one of auto, float32, float16, bfloat16; got 'fp16'"):
        TorchSettings(dtype="fp16")
    with pytest.raises(ValueError, match="offload must be one of"):
        TorchSettings(offload="cpu")
    with pytest.raises(ValueError, match="'gpu' is not a torch device"):
        TorchSettings(device="gpu").resolve_device()
    with pytest.raises(ValueError, match="offload='model' moves weights to a CUDA device"):
        TorchSettings(device="cpu", offload="model").resolve_device()
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            TorchSettings(device="cuda").resolve_device()


def test_torch_settings_place_a_module_or_refuse_offload_without_a_pipeline():
    module = TorchSettings(device="cpu").place(torch.nn.Linear(2, 2))
    assert next(module.parameters()).device.type == "cpu"
    if torch.cuda.is_available():
        with pytest.raises(TypeError, match="has no enable_model_cpu_offload"):
            TorchSettings(device="cuda", offload="model").place(torch.nn.Linear(2, 2))

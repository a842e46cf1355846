"""Every registered adapter passes the conformance checks; then per-adapter behaviour."""

from pathlib import Path

import numpy as np
import pytest

from hcvg.adapter import AdapterOutputError, GenerationRequest, validate_video
from hcvg.options import OptionError
from adapters.registry import ADAPTERS, create_adapter
from adapters.testing import check_adapter, requests_for
from hcvg.video_io import write_video_lossless


def write_targets(samples, root: Path) -> Path:
    for sample in samples:
        write_video_lossless(root / f"{sample.id}.mkv", sample.target)
    return root


# Options an adapter needs to be built in a test; adapters without an entry take none.
TEST_OPTIONS = {"folder": lambda samples, tmp: {"root": write_targets(samples, tmp)}}


@pytest.mark.parametrize("name", ADAPTERS.names())
def test_registered_adapter_conforms(name, square_samples, tmp_path):
    options = TEST_OPTIONS.get(name, lambda *_: {})(square_samples, tmp_path)
    adapter = create_adapter(name, **options)
    assert adapter.name == name
    check_adapter(adapter, square_samples)


def test_static_repeats_context(square_samples):
    adapter = create_adapter("static")
    video = adapter.generate(requests_for(adapter, square_samples[:1]))[0]
    assert np.array_equal(video, np.repeat(square_samples[0].context[None], 15, axis=0))


def test_oracle_returns_ground_truth_and_refuses_without_it(square_samples):
    adapter = create_adapter("oracle")
    assert np.array_equal(adapter.generate(requests_for(adapter, square_samples[:1]))[0], square_samples[0].target)
    bare = GenerationRequest("x", "p", square_samples[0].context, 15, (64, 64))
    with pytest.raises(ValueError, match="needs the ground-truth clip"):
        adapter.generate([bare])


def test_folder_reports_missing_and_corrupt_files(square_samples, tmp_path):
    write_targets(square_samples[:1], tmp_path)
    (tmp_path / f"{square_samples[1].id}.mkv").write_bytes(b"garbage" * 100)
    adapter = create_adapter("folder", root=tmp_path)
    requests = requests_for(adapter, square_samples)
    with pytest.raises(Exception, match=f"{square_samples[1].id}.mkv"):
        adapter.generate(requests[1:2])
    with pytest.raises(FileNotFoundError, match=square_samples[2].id):
        adapter.generate(requests[2:3])


def test_folder_frame_policies_and_resize(square_samples, tmp_path):
    sample = square_samples[0]
    long_clip = np.concatenate([sample.context[None], sample.target, sample.target[:4]])  # 20 frames
    write_video_lossless(tmp_path / f"{sample.id}.mkv", long_clip)
    request = requests_for(create_adapter("static"), [sample])[0]
    with pytest.raises(ValueError, match="has 20 frames.*frames=first"):
        create_adapter("folder", root=tmp_path).generate([request])
    first = create_adapter("folder", root=tmp_path, frames="first").generate([request])[0]
    assert np.array_equal(first, long_clip[:15])
    even = create_adapter("folder", root=tmp_path, frames="even").generate([request])[0]
    assert np.array_equal(even[0], long_clip[0]) and np.array_equal(even[-1], long_clip[-1])
    big = GenerationRequest(sample.id, "p", np.zeros((128, 128, 3), np.uint8), 15, (128, 128))
    with pytest.raises(ValueError, match="resize=true"):
        create_adapter("folder", root=tmp_path, frames="first").generate([big])
    resized = create_adapter("folder", root=tmp_path, frames="first", resize="true").generate([big])[0]
    assert resized.shape == (15, 128, 128, 3)


def test_unknown_adapter_and_bad_options():
    with pytest.raises(KeyError, match="Did you mean: oracle"):
        create_adapter("oracel")
    with pytest.raises(OptionError, match="adapter 'static': unknown option 'flavour' \\(accepted: none\\)"):
        create_adapter("static", flavour="x")


@pytest.mark.parametrize(
    "video, message",
    [
        (np.zeros((15, 64, 64, 3), np.float32), "dtype float32"),
        (np.full((15, 64, 64, 3), np.nan, np.float32), "NaN"),
        (np.zeros((14, 64, 64, 3), np.uint8), r"shape \(14, 64, 64, 3\)"),
        ([1, 2], "returned list"),
    ],
)
def test_validate_video_names_sample_and_adapter(video, message, square_samples):
    request = requests_for(create_adapter("static"), square_samples[:1])[0]
    with pytest.raises(AdapterOutputError, match=message) as info:
        validate_video(video, request, "my-model")
    assert "my-model" in str(info.value) and "sq-0" in str(info.value)

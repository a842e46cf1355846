"""`folder` refuses the inputs that would be scored wrongly, each with its own reason.

A grayscale video (scored against colour ground truth it measures the missing colour,
not the model), two files for one id, an empty file and a truncated one.
"""

import json
import re

import av
import numpy as np
import pytest

from adapters.registry import create_adapter
from adapters.testing import requests_for
from benchmark.run_matrix import run_config_from_dict
from benchmark.runner import Runner
from benchmark.splits import load_split
from hcvg.errors import InvalidInputError
from hcvg.video_io import VideoReadError, probe_video, read_video, write_video_lossless


def write_gray_stream(path, frames):
    """FFV1 with a single-channel ``gray`` stream (what a grayscale export writes)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("ffv1", rate=8)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "gray"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def grey(frames):
    """uint8 [..., 3] RGB with every channel replaced by the luma: R = G = B."""
    luma = (frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).round().astype(np.uint8)
    return np.repeat(luma[..., None], 3, axis=-1)


def write_truncated(path, frames, keep=0.5):
    write_video_lossless(path, frames)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.fixture(scope="module")
def split():
    return load_split("demo", num_samples=6)


@pytest.fixture
def samples(split):
    return [split.get(i) for i in split.ids()]


def test_empty_file_is_named_as_empty(tmp_path):
    (tmp_path / "x.mkv").write_bytes(b"")
    with pytest.raises(VideoReadError, match=r"x\.mkv: the file is empty \(0 bytes\)"):
        read_video(tmp_path / "x.mkv")


def test_truncated_ffv1_says_how_many_of_the_declared_frames_were_decoded(samples, tmp_path):
    path = tmp_path / "x.mkv"
    write_truncated(path, samples[0].target)
    assert probe_video(path).expected_frames == 15  # Matroska keeps its duration at the start
    with pytest.raises(VideoReadError, match=r"decoded \d+ of the container's 15 frames: the file is truncated \(15 from its duration 1\.875 s"):
        read_video(path)
    assert len(read_video(path, max_frames=3)) == 3  # a partial read asks for no more


def test_complete_videos_are_not_taken_for_truncated(samples, tmp_path):
    write_video_lossless(tmp_path / "x.mkv", samples[0].target)
    assert len(read_video(tmp_path / "x.mkv")) == 15


def test_probe_tells_a_single_channel_stream_from_a_colour_one(samples, tmp_path):
    write_gray_stream(tmp_path / "g.mkv", samples[0].target)
    write_video_lossless(tmp_path / "c.mkv", grey(samples[0].target))
    assert probe_video(tmp_path / "g.mkv").grayscale and probe_video(tmp_path / "g.mkv").pix_fmt == "gray"
    assert not probe_video(tmp_path / "c.mkv").grayscale  # bgr0 holds three channels, grey or not


def test_folder_refuses_grayscale_unless_color_allow(samples, tmp_path):
    sample = samples[0]
    write_gray_stream(tmp_path / f"{sample.id}.mkv", sample.target)
    request = requests_for(create_adapter("static"), [sample])[0]
    with pytest.raises(InvalidInputError, match=r"grayscale \(pix_fmt gray, one channel\).*color=allow"):
        create_adapter("folder", root=tmp_path).generate([request])
    allowed = create_adapter("folder", root=tmp_path, color="allow").generate([request])[0]
    # Read back as RGB with the one channel repeated (FFmpeg's luma weights differ from ours by a level).
    assert allowed.shape == sample.target.shape and np.array_equal(grey(allowed), allowed)
    assert np.abs(allowed.astype(int) - grey(sample.target)).max() <= 2
    assert create_adapter("folder", root=tmp_path, color="allow").options()["color"] == "allow"


def test_folder_refuses_grey_frames_in_a_colour_stream_only_when_the_context_is_colour(samples, tmp_path):
    sample = samples[0]
    write_video_lossless(tmp_path / f"{sample.id}.mkv", grey(sample.target))
    adapter = create_adapter("folder", root=tmp_path)
    colour = requests_for(adapter, [sample])[0]
    with pytest.raises(InvalidInputError, match=r"every frame is grey \(R = G = B, stored as bgr0\).*context frame is in colour"):
        adapter.generate([colour])
    grey_context = type(colour)(**{**colour.__dict__, "context": grey(sample.context)})  # a grey dataset: grey by right
    assert np.array_equal(adapter.generate([grey_context])[0], grey(sample.target))


def test_folder_names_both_files_of_one_id(samples, tmp_path):
    sample = samples[0]
    write_video_lossless(tmp_path / f"{sample.id}.mkv", sample.target)
    write_video_lossless(tmp_path / f"{sample.id}.mp4", sample.target)
    with pytest.raises(InvalidInputError, match=rf"{sample.id}\.mkv, {sample.id}\.mp4; keep one"):
        create_adapter("folder", root=tmp_path).video_path(sample.id)


def test_each_bad_input_fails_its_sample_with_its_reason_in_failures_jsonl(split, samples, tmp_path):
    """One run over a folder holding every bad case beside one good clip."""
    root = tmp_path / "outputs"
    root.mkdir()
    gray, duplicate, empty, truncated, grey_frames, good = samples
    write_gray_stream(root / f"{gray.id}.mkv", gray.target)
    write_video_lossless(root / f"{duplicate.id}.mkv", duplicate.target)
    write_video_lossless(root / f"{duplicate.id}.mp4", duplicate.target)
    (root / f"{empty.id}.mkv").write_bytes(b"")
    write_truncated(root / f"{truncated.id}.mkv", truncated.target)
    write_video_lossless(root / f"{grey_frames.id}.mkv", grey(grey_frames.target))
    write_video_lossless(root / f"{good.id}.mkv", good.target)

    config = run_config_from_dict({
        "out": tmp_path / "run", "adapters": [f"folder:root={root}"], "splits": ["demo:num_samples=6"],
        "metrics": ["psnr"], "scopes": ["full"],
    })  # fmt: skip
    result = Runner(config, progress=False).run()

    reasons = {}
    for line in (tmp_path / "run" / "failures.jsonl").read_text().splitlines():
        failure = json.loads(line)
        reasons[failure["sample"]] = failure["error"]
    expected = {
        gray.id: r"the video stream is grayscale \(pix_fmt gray, one channel\)",
        duplicate.id: rf"has 2 videos in .*: {duplicate.id}\.mkv, {duplicate.id}\.mp4; keep one",
        empty.id: r"the file is empty \(0 bytes\)",
        truncated.id: r"decoded \d+ of the container's 15 frames: the file is truncated",
        grey_frames.id: r"every frame is grey \(R = G = B",
    }
    assert set(reasons) == set(expected)  # the good clip did not fail
    for sample_id, pattern in expected.items():
        assert re.search(pattern, reasons[sample_id]), (sample_id, reasons[sample_id])
    assert set(result.scores["sample_id"]) == {good.id}

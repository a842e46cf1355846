"""Every registered adapter passes the conformance checks; then per-adapter behaviour."""

import argparse
import gc
import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch

from adapters.fitting import Fitting, TorchSettings, batch_noise, fit_video, to_uint8_video
from hcvg.options import OptionError
from adapters.registry import ADAPTERS, create_adapter
from adapters.testing import check_adapter, check_requests, conformance_samples, requests_for
from benchmark.cli.adapters import AdaptersCommand
from hcvg.adapter import Adapter, AdapterOutputError, Capabilities, GenerationRequest, NativeSettings, validate_video
from hcvg.registry import Registry
from hcvg.video_io import write_video_lossless


def write_targets(samples, root: Path) -> Path:
    for sample in samples:
        write_video_lossless(root / f"{sample.id}.mkv", sample.target)
    return root


# HANDI's and AnimateAnything's test instances take 30-50 s each on 2 cores; handi-tiny runs
# the same adapter class in seconds, so those two are checked in the slow suite.
SLOW_CONFORMANCE = {"handi", "animate-anything"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_CONFORMANCE else n for n in ADAPTERS.names()]
)
def test_registered_adapter_conforms(name):
    """Each adapter builds its own test instance: registering one is enough to have it checked."""
    adapter = ADAPTERS.get(name).for_tests()
    assert adapter.name == name
    check_adapter(adapter)


class TinyTextToVideo(Adapter):
    """A text-to-video model in miniature, built from the kit: seeded noise through a fixed random decoder.

    It generates 16 frames at 48x80 in [-1, 1], channels first, and fits them to the
    request as a real model adapter would.
    """

    name: ClassVar[str] = "tiny-t2v"
    capabilities: ClassVar[Capabilities] = Capabilities(needs_image=False, max_batch_size=4)
    native: ClassVar[NativeSettings] = NativeSettings(size=(48, 80), frames=16, steps=4, guidance=5.0)
    fit: ClassVar[Fitting] = Fitting(spatial="center-crop", temporal="even")

    def __init__(self, device: str = "cpu", dtype: str = "float32"):
        self.torch = TorchSettings(device=device, dtype=dtype)
        self.decoder: torch.Tensor | None = None

    def load(self) -> None:
        generator = torch.Generator().manual_seed(1234)
        weights = torch.randn(3, 4, generator=generator)
        self.decoder = weights.to(self.torch.resolve_device(), self.torch.resolve_dtype())

    def close(self) -> None:
        self.decoder = None

    def options(self) -> dict:
        return {"device": self.torch.device, "dtype": self.torch.dtype}

    def fitting(self) -> dict:
        return self.fit.describe()

    def noise(self, requests: list[GenerationRequest], shape: tuple[int, ...]) -> torch.Tensor:
        return batch_noise(requests, shape, self.decoder.device, self.decoder.dtype)

    def generate(self, requests: list[GenerationRequest]) -> list[np.ndarray]:
        if self.decoder is None:
            raise RuntimeError(f"adapter {self.name!r} is not loaded; call load() first")
        frames, (height, width) = self.native.frames, self.native.size
        latents = self.noise(requests, (4, frames, height, width))
        decoded = torch.tanh(torch.einsum("ck,bkthw->bcthw", self.decoder, latents))  # [B, C, T, H, W] in [-1, 1]
        return [
            fit_video(to_uint8_video(video, layout="CTHW", value_range="-1,1", sample_id=r.sample_id), r, self.fit)
            for r, video in zip(requests, decoded)
        ]


def test_a_text_to_video_adapter_built_from_the_kit_conforms():
    registry: Registry[type[Adapter]] = Registry("adapter", base=Adapter)
    registry.register("tiny-t2v", TinyTextToVideo)
    adapter = registry.get("tiny-t2v").for_tests()
    check_adapter(adapter)
    described = json.loads(json.dumps(adapter.describe()))
    assert described["native"]["size"] == [48, 80] and described["fitting"]["spatial"] == "center-crop"


class ReloadsAfterClose(TinyTextToVideo):
    def close(self) -> None:
        pass  # keeps the decoder: generate still works once closed


class ForgetsToRelease(TinyTextToVideo):
    close = Adapter.close


class OptionsNotJson(TinyTextToVideo):
    def options(self) -> dict:
        return {"root": Path("/tmp")}


class SaysNothingAboutFitting(TinyTextToVideo):
    def fitting(self) -> dict:
        return {}


class OneGeneratorPerBatch(TinyTextToVideo):
    def noise(self, requests, shape):
        # The whole batch from the first request's seed: alone, later requests get other noise.
        generator = torch.Generator().manual_seed(requests[0].seed)
        return torch.randn((len(requests), *shape), generator=generator)


@pytest.mark.parametrize(
    "broken, message",
    [
        (ReloadsAfterClose, "generate.. after close.. worked"),
        (ForgetsToRelease, "releases nothing in close"),
        (OptionsNotJson, "not JSON-serializable"),
        (SaysNothingAboutFitting, "fitting.. does not say"),
        (OneGeneratorPerBatch, "a batch differs from single calls"),
    ],
)
def test_check_adapter_catches_a_broken_contract(broken, message):
    with pytest.raises(AssertionError, match=message):
        check_adapter(broken())


def test_requests_carry_only_what_the_capabilities_allow(square_samples):
    sample = square_samples[0]
    text_only = Capabilities(needs_image=False)
    assert all(r.context is None and r.target is None and r.motion_area is None for r in requests_for(TinyTextToVideo(), square_samples))
    leaked = GenerationRequest(sample.id, "p", sample.context, 15, (64, 64))
    with pytest.raises(AssertionError, match="text-to-video adapter was given the context"):
        check_requests(text_only, [leaked])
    with pytest.raises(AssertionError, match="ground truth reached"):
        check_requests(Capabilities(), [GenerationRequest(sample.id, "p", sample.context, 15, (64, 64), target=sample.target)])
    with pytest.raises(AssertionError, match="got no context"):
        check_requests(Capabilities(), [GenerationRequest(sample.id, "p", None, 15, (64, 64))])


def test_adapters_list_shows_declared_native_settings(capsys):
    registry: Registry[type[Adapter]] = Registry("adapter", base=Adapter)
    registry.register("tiny-t2v", TinyTextToVideo)
    registry.register("static", "adapters.static:StaticAdapter")
    AdaptersCommand(registry).run(argparse.Namespace(action="list", pattern="*"))
    out = capsys.readouterr().out
    assert "native: 48x80 (HxW), 16 frames, 4 steps, guidance 5" in out
    assert "needs: nothing; max batch 4" in out
    assert out.count("native:") == 1  # static declares none, so none is shown


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


def test_folder_reports_the_fitting_it_applies(tmp_path):
    strict = create_adapter("folder", root=tmp_path)
    assert strict.fitting() == {"spatial": "strict", "temporal": "strict", "drop_context": False}
    fitted = create_adapter("folder", root=tmp_path, frames="even", resize="true")
    assert fitted.describe()["fitting"] == {"spatial": "center-crop", "temporal": "even", "drop_context": False}


def test_folder_for_tests_serves_the_conformance_samples_and_cleans_up():
    adapter = ADAPTERS.get("folder").for_tests()
    root = adapter.root
    sample = conformance_samples()[1]
    assert np.array_equal(adapter.generate(requests_for(adapter, [sample]))[0], sample.target)
    del adapter
    gc.collect()
    assert not root.exists()


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

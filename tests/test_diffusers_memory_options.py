"""The memory options every diffusers adapter takes, on a real tiny pipeline (CogVideoX text-to-video)."""

import numpy as np
import pytest

from adapters.diffusers_video.cogvideox import CogVideoXTextToVideoAdapter
from adapters.diffusers_video.image_to_video import DiffusersI2VAdapter
from adapters.testing import conformance_samples, requests_for

WAN = "wan2.1-i2v-480p"


def _adapter(**options):
    reference = CogVideoXTextToVideoAdapter.for_tests()
    return CogVideoXTextToVideoAdapter(**{**CogVideoXTextToVideoAdapter.tiny_options(), "model": reference.model, **options})


@pytest.fixture(scope="module")
def requests():
    adapter = CogVideoXTextToVideoAdapter.for_tests()
    return requests_for(adapter, conformance_samples(count=1))


@pytest.fixture(scope="module")
def plain_video(requests):
    adapter = _adapter()
    adapter.load()
    try:
        return adapter.generate(requests)[0]
    finally:
        adapter.close()


def test_vae_slicing_and_tiling_are_switched_on_and_keep_the_video(requests, plain_video):
    adapter = _adapter(vae_slicing=True, vae_tiling=True)
    adapter.load()
    try:
        assert adapter.pipe.vae.use_slicing and adapter.pipe.vae.use_tiling
        video = adapter.generate(requests)[0]
    finally:
        adapter.close()
    # Tiles larger than this tiny latent: the same decode.
    assert np.array_equal(video, plain_video)
    assert adapter.describe()["options"]["vae_slicing"] is True


def _wan(**options):
    reference = DiffusersI2VAdapter.for_tests(preset=WAN)
    return DiffusersI2VAdapter(**{**DiffusersI2VAdapter.tiny_options(WAN), "model": reference.model, **options})


def test_an_attention_backend_reaches_every_attention_layer_of_this_model_only():
    import torch
    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    default_before = _AttentionBackendRegistry._active_backend
    outputs = {}
    for backend in ("default", "_native_math"):
        adapter = _wan(attention=backend)
        adapter.load()
        try:
            transformer = adapter.pipe.transformer
            backends = {str(getattr(p, "_attention_backend", None)) for p in transformer.attn_processors.values()}
            assert backends == ({"None"} if backend == "default" else {"AttentionBackendName._NATIVE_MATH"})
            config = transformer.config
            generator = torch.Generator().manual_seed(0)
            latents = torch.randn(1, config.in_channels, 2, 4, 4, generator=generator)
            text = torch.randn(1, 4, config.text_dim, generator=generator)
            image = torch.randn(1, 4, config.image_dim, generator=generator) if config.image_dim else None
            with torch.no_grad():
                outputs[backend] = transformer(latents, torch.tensor([500]), text, encoder_hidden_states_image=image, return_dict=False)[0]
        finally:
            adapter.close()
    # The same attention through another kernel: equal to float32 rounding.
    torch.testing.assert_close(outputs["_native_math"], outputs["default"], rtol=1e-5, atol=1e-5)
    # The process-wide default is untouched: models loaded later keep theirs.
    assert _AttentionBackendRegistry._active_backend == default_before


def test_an_unknown_backend_or_one_the_denoiser_ignores_is_an_error():
    with pytest.raises(ValueError, match="attention backend 'no-such-backend'"):
        _wan(attention="no-such-backend").load()
    # CogVideoX's processors call SDPA themselves: diffusers would skip them quietly.
    with pytest.raises(ValueError, match="would change nothing"):
        _adapter(attention="_native_math").load()


def test_compile_compiles_the_denoiser_in_place():
    adapter = _adapter(compile=True)
    adapter.load()
    try:
        assert adapter.pipe.transformer._compiled_call_impl is not None
    finally:
        adapter.close()


def test_offload_off_cuda_is_an_error_not_a_quiet_cpu_run():
    with pytest.raises(ValueError, match="offload='model' moves weights to a CUDA device"):
        _adapter(offload="model").load()

"""Two adapters asking for the same frozen encoder get one module; a different key, another."""

import gc

import torch

from adapters.shared_encoders import shared_encoder, shared_encoder_keys


def test_same_key_builds_once_and_is_freed_when_unused():
    builds = []

    def build():
        builds.append(1)
        return torch.nn.Linear(2, 2)

    first = shared_encoder(("enc", "a.bin", "float32", "cpu"), build)
    second = shared_encoder(("enc", "a.bin", "float32", "cpu"), build)
    other = shared_encoder(("enc", "a.bin", "bfloat16", "cpu"), build)
    assert first is second and other is not first
    assert len(builds) == 2
    del first, second, other
    gc.collect()
    assert ("enc", "a.bin", "float32", "cpu") not in shared_encoder_keys()

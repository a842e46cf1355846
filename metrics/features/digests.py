"""Content digests of what a backbone computes with: torch modules and tokenizers.

`FeatureExtractor.fingerprint` combines one of these with the extractor's config, so the
feature cache tells features of other weights apart. Digests read values, never paths:
the same weights found in another folder give the same digest.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch

# Entries of a tokenizers JSON that hold the state of the last call (truncation length,
# padding side), not the tokenizer itself.
_TOKENIZER_CALL_STATE = ("truncation", "padding")


def module_digest(module: torch.nn.Module) -> str:
    """Hex sha256 of a module's architecture and of every tensor in its state dict.

    The architecture is ``repr(module)``, which names each submodule with the settings
    that are not tensors (a LayerNorm's or BatchNorm's eps, kernel sizes, strides,
    activations). Then, for each state-dict entry (parameters and buffers) in key order:
    its name, dtype, shape and bytes, read on the CPU, so a module on a GPU digests as it
    does on the CPU.

    Args:
        module: Any ``torch.nn.Module`` (TorchScript modules included).

    Returns:
        64 hex characters.
    """
    digest = hashlib.sha256()
    digest.update(repr(module).encode())
    for key, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach()
        digest.update(f"\n{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        # Raw bytes via a uint8 view: numpy has no bfloat16, and bytes are what the
        # backbone computes with.
        flat = tensor.to("cpu").contiguous().reshape(-1)
        digest.update(flat.view(torch.uint8).numpy() if flat.numel() else b"")
    return digest.hexdigest()


def tokenizer_digest(tokenizer: Any) -> str:
    """Hex sha256 of a transformers tokenizer's vocabulary, merges and normalization.

    Tokenizers backed by the ``tokenizers`` library (all of transformers 5, the fast ones
    of transformers 4) digest their full JSON spec, less the state of the last call.
    transformers 4's pure-Python tokenizers digest their vocabulary, BPE merges and
    lower-casing flag.

    Args:
        tokenizer: A transformers tokenizer.

    Returns:
        64 hex characters.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        for key in _TOKENIZER_CALL_STATE:
            spec.pop(key, None)
    else:
        merges = getattr(tokenizer, "bpe_ranks", {})
        spec = {
            "vocab": sorted(tokenizer.get_vocab().items()),
            "merges": [list(pair) for pair, _ in sorted(merges.items(), key=lambda item: item[1])],
            "do_lower_case": getattr(tokenizer, "do_lower_case", None),
        }
    spec["class"] = type(tokenizer).__name__
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()

"""One copy of a large frozen encoder per process, shared by the adapters that need it.

T5-XXL (4.7 B parameters) and OpenCLIP ViT-H/14 are frozen text/image encoders that
several baselines use unchanged. When two adapters of one run ask for the same encoder
(same weights file, dtype and device), the second gets the first one's module instead
of loading another copy. The cache holds modules weakly: once every adapter using an
encoder is closed and drops it, the memory is freed.

Usage, inside an adapter's ``load()``::

    self._text_encoder = shared_encoder(("t5-xxl", str(path), "bfloat16", "cuda"),
                                        lambda: build_t5(path, dtype, device))
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable, Hashable, TypeVar

T = TypeVar("T")

_LOCK = threading.Lock()
_CACHE: "weakref.WeakValueDictionary[Hashable, Any]" = weakref.WeakValueDictionary()


def shared_encoder(key: Hashable, build: Callable[[], T]) -> T:
    """The cached module for ``key``, building it with ``build()`` the first time.

    Args:
        key: Everything that makes two encoders different: a name, the resolved
            weights path, the dtype and the device (strings), e.g.
            ``("openclip-vit-h-14", "/cache/open_clip_pytorch_model.bin", "float16", "cuda:0")``.
        build: Makes the module; called at most once while a caller holds the result.
            The module must support weak references (every ``torch.nn.Module`` does).
    """
    with _LOCK:
        found = _CACHE.get(key)
        if found is not None:
            return found
        module = build()
        _CACHE[key] = module
        return module


def shared_encoder_keys() -> list[Hashable]:
    """The keys of the encoders alive now (for tests and the run log)."""
    with _LOCK:
        return list(_CACHE.keys())

"""Model adapters: the `Adapter` protocol, the registry, one module per model."""

from adapters.base import Adapter, Capabilities, GenerationRequest
from adapters.registry import ADAPTERS, create_adapter

__all__ = ["ADAPTERS", "Adapter", "Capabilities", "GenerationRequest", "create_adapter"]

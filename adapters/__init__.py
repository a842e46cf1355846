"""Model adapters: the `Adapter` protocol, the registry, one module per model."""

from hcvg.adapter import Adapter, Capabilities, GenerationRequest
from adapters.registry import ADAPTERS, create_adapter

__all__ = ["ADAPTERS", "Adapter", "Capabilities", "GenerationRequest", "create_adapter"]

"""The adapter registry: built-ins (lazy) plus third-party entry points.

Third-party packages add adapters by declaring, in their own pyproject.toml::

    [project.entry-points."hcvg.adapters"]
    my-model = "my_package.adapter:MyModelAdapter"
"""

from __future__ import annotations

from typing import Any

from hcvg.adapter import Adapter
from hcvg.registry import Registry

ADAPTERS: Registry[type[Adapter]] = Registry("adapter", base=Adapter, entry_point_group="hcvg.adapters")

# The one list of built-in adapters, resolved only when asked for.
ADAPTERS.register("static", "adapters.static:StaticAdapter")
ADAPTERS.register("oracle", "adapters.oracle:OracleAdapter")
ADAPTERS.register("folder", "adapters.folder:FolderAdapter")
ADAPTERS.register("handi", "adapters.handi_models:HandiAdapter")
ADAPTERS.register("animate-anything", "adapters.handi_models:AnimateAnythingAdapter")
ADAPTERS.register("handi-tiny", "adapters.handi_models:HandiTinyAdapter")
ADAPTERS.register("command", "adapters.command.adapter:CommandAdapter")
ADAPTERS.register("pia", "adapters.diffusers_video.pia:PIAAdapter")
ADAPTERS.register("cogvideox-t2v", "adapters.diffusers_video.cogvideox:CogVideoXTextToVideoAdapter")
ADAPTERS.register("cogvideox-i2v", "adapters.diffusers_video.cogvideox:CogVideoXImageToVideoAdapter")
ADAPTERS.register("diffusers-i2v", "adapters.diffusers_video.image_to_video:DiffusersI2VAdapter")
ADAPTERS.register("open-sora", "adapters.opensora.adapter:OpenSoraAdapter")
ADAPTERS.register("open-sora-t2v", "adapters.opensora.adapter:OpenSoraTextToVideoAdapter")
ADAPTERS.register("lfdm", "adapters.lfdm.adapter:LFDMAdapter")
ADAPTERS.register("dynamicrafter", "adapters.dynamicrafter.adapter:DynamiCrafterAdapter")
ADAPTERS.register("avdc", "adapters.avdc.adapter:AVDCAdapter")


def create_adapter(name: str, registry: Registry[type[Adapter]] = ADAPTERS, **options: Any) -> Adapter:
    """Instantiate the adapter registered as ``name`` with keyword ``options``.

    Raises:
        UnknownNameError: If no adapter has that name.
        OptionError: If an option is not accepted or its value does not fit the
            constructor's annotation (the message lists the adapter's options).
    """
    return registry.create(name, **options)

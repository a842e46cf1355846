"""HANDI's networks, in the diffusers idiom (`ModelMixin`, `ConfigMixin`, `from_pretrained`).

- `handi.models.unet`: `HandiUNet3DConditionModel`, the noise predictor (AnimateAnything's
  mask- and motion-conditioned ModelScope UNet, loading the released `unet/` folders).
- `handi.models.configs`: its published and tiny configs, as plain dicts.

This package's `__init__` imports nothing, so importing `handi` stays free of torch; import
the submodules themselves.
"""

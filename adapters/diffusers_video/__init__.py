"""Diffusers video pipelines as adapters: the shared base, the checkpoints, and each family.

`base.DiffusersVideoAdapter` does what every diffusers adapter shares (weights from a
local folder or the hub cache, the memory options, fitting the context in and the
video out); a family module (`pia`, `cogvideox`, `image_to_video`) says which pipeline
class it drives and how a request becomes that pipeline's keyword arguments.
"""

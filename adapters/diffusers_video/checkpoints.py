"""The official checkpoints of the diffusers baselines, declared as assets (hub pipeline folders).

Each is a diffusers pipeline repo on the Hugging Face hub, found in the local hub cache
by its ``model_index.json`` (`hcvg.assets.resolve_asset`) and fetched into it with
``hcvg assets fetch NAME``. Registered in pyproject.toml's ``hcvg.assets`` group, so
``hcvg assets list`` shows them without importing diffusers.
"""

from __future__ import annotations

from hcvg.assets import Asset


def pipeline_asset(name: str, repo: str, description: str, env_var: str, ignore: tuple[str, ...] = ()) -> Asset:
    """A diffusers pipeline folder on the hub, as an asset named ``name``."""
    return Asset(
        name=name,
        filename=name,
        description=description,
        env_var=env_var,
        hf_repo=repo,
        hf_filename="model_index.json",
        directory=True,
        hf_ignore=ignore,
        how_to_get=f"or pass the adapter option model=/path/to/a/saved/{repo.split('/')[-1]} pipeline folder",
    )


# Repos that keep fp16 copies beside the full-precision weights: fetch one set.
_FP16_COPIES = ("*.fp16.safetensors", "*.fp16.bin")

PIA_CONDITION_ADAPTER = Asset(
    name="pia-condition-adapter",
    filename="pia-condition-adapter",
    description="PIA's condition adapter: a diffusers MotionAdapter (motion modules) for a Stable Diffusion 1.5 UNet",
    env_var="HCVG_PIA_ADAPTER",
    hf_repo="openmmlab/PIA-condition-adapter",
    hf_filename="config.json",
    directory=True,
    how_to_get="or pass the pia adapter option adapter=/path/to/a/saved/PIA-condition-adapter folder",
)
# The SD-1.5 base diffusers' PIA documentation pairs the adapter with.
PIA_BASE = pipeline_asset(
    "pia-base-sd15", "SG161222/Realistic_Vision_V6.0_B1_noVAE", "the Stable Diffusion 1.5 base PIA's adapter is run on", "HCVG_PIA_BASE",
    _FP16_COPIES,
)
# THUDM's CogVideoX repos now live under zai-org/ (the hub redirects the old ids); the
# THUDM ids are kept, since the hub cache is keyed by the id a snapshot was fetched under.
COGVIDEOX_5B = pipeline_asset("cogvideox-5b", "THUDM/CogVideoX-5b", "CogVideoX-5B text-to-video (720x480, 49 frames, 8 fps)", "HCVG_COGVIDEOX_5B")
COGVIDEOX_5B_I2V = pipeline_asset(
    "cogvideox-5b-i2v", "THUDM/CogVideoX-5b-I2V", "CogVideoX-5B image-to-video (720x480, 49 frames, 8 fps)", "HCVG_COGVIDEOX_5B_I2V",
)
SVD = pipeline_asset(
    "svd", "stabilityai/stable-video-diffusion-img2vid", "Stable Video Diffusion image-to-video, 14 frames at 576x1024",
    "HCVG_SVD", _FP16_COPIES,
)
SVD_XT = pipeline_asset(
    "svd-xt", "stabilityai/stable-video-diffusion-img2vid-xt", "Stable Video Diffusion XT image-to-video, 25 frames at 576x1024",
    "HCVG_SVD_XT", _FP16_COPIES,
)
I2VGEN_XL = pipeline_asset(
    "i2vgen-xl", "ali-vilab/i2vgen-xl", "I2VGen-XL image-to-video (16 frames at 704x1280)", "HCVG_I2VGEN_XL", _FP16_COPIES,
)
LTX_VIDEO = pipeline_asset("ltx-video", "Lightricks/LTX-Video", "LTX-Video image-to-video (0.9, 2B DiT)", "HCVG_LTX_VIDEO")
WAN_I2V_480P = pipeline_asset(
    "wan2.1-i2v-480p", "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", "Wan 2.1 image-to-video 14B, 480P (81 frames at 16 fps)",
    "HCVG_WAN_I2V_480P",
)
HUNYUANVIDEO_I2V = pipeline_asset(
    "hunyuanvideo-i2v", "hunyuanvideo-community/HunyuanVideo-I2V", "HunyuanVideo image-to-video (13B, 720p)", "HCVG_HUNYUANVIDEO_I2V",
)

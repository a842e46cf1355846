"""The I3D (Kinetics-400) weights used for FVD, as assets.

* ``i3d-kinetics-400``: ``i3d_pretrained_400.pt``, the PyTorch state dict of
  piergiaj/pytorch-i3d's ``InceptionI3d`` trained on Kinetics-400, as shipped by VideoGPT,
  TATS and the ``cd-fvd`` package; `metrics.features.i3d.InceptionI3d` loads it.
* ``i3d-kinetics-400-torchscript``: StyleGAN-V's ``i3d_torchscript.pt``, a TorchScript
  export of the tf.hub I3D that the original TensorFlow FVD uses (different weights
  from the above, so FVD values differ between the two).

Kept apart from `metrics.features.i3d` so that listing assets imports no torch.
"""

from __future__ import annotations

from hcvg.assets import Asset

I3D_KINETICS_400 = Asset(
    name="i3d-kinetics-400",
    filename="i3d_pretrained_400.pt",
    description="I3D (InceptionI3d) Kinetics-400 state dict, 400-d logits; FVD (VideoGPT / TATS / cd-fvd)",
    official_url="https://github.com/songweige/TATS/raw/main/tats/fvd/i3d_pretrained_400.pt",
    env_var="HCVG_I3D_KINETICS_400",
    how_to_get=(
        "or copy the i3d_pretrained_400.pt that VideoGPT or the cd-fvd package downloaded "
        "(cd-fvd keeps it next to cdfvd/third_party/i3d/utils.py)"
    ),
)

I3D_KINETICS_400_TORCHSCRIPT = Asset(
    name="i3d-kinetics-400-torchscript",
    filename="i3d_torchscript.pt",
    description="StyleGAN-V's TorchScript export of the tf.hub I3D (Kinetics-400), 400-d logits; FVD",
    official_url="https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1",
    env_var="HCVG_I3D_KINETICS_400_TORCHSCRIPT",
    how_to_get="see universome/stylegan-v src/metrics/frechet_video_distance.py for the same URL",
)

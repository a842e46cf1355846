"""The Inception-v3 weights used for FID, as assets.

Both files are ports of TensorFlow's 2015-12-05 Inception graph, the network of the
original FID. clean-fid pairs them with its resize modes: ``legacy_pytorch`` runs
pytorch-fid's port, ``clean`` and ``legacy_tensorflow`` run NVIDIA's TorchScript port
(the latter with the TensorFlow-style resize that lives inside the TorchScript graph).
Kept apart from `metrics.features.inception` so that listing assets imports no torch.
"""

from __future__ import annotations

from hcvg.assets import Asset

INCEPTION_FID_PYTORCH = Asset(
    name="inception-fid-pytorch",
    filename="pt_inception-2015-12-05-6726825d.pth",
    description="pytorch-fid's Inception-v3 state dict (TF 2015-12-05 FID weights), for FID in legacy_pytorch mode",
    official_url=(
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
    ),
    env_var="HCVG_INCEPTION_FID_PYTORCH",
    # The release names the file torch hub's way, name-<first 8 hex digits of its
    # sha256>.pth; that prefix is the only digest the author publishes.
    sha256="6726825d",
    how_to_get=(
        "or, with pytorch-fid installed, any FID run puts it in torch hub's checkpoint cache "
        "(~/.cache/torch/hub/checkpoints/); point the env var there"
    ),
)

INCEPTION_FID_TORCHSCRIPT = Asset(
    name="inception-fid-torchscript",
    filename="inception-2015-12-05.pt",
    description="NVIDIA's TorchScript Inception-v3 (TF 2015-12-05 FID weights), for FID in clean and legacy_tensorflow modes",
    official_url="https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt",
    env_var="HCVG_INCEPTION_FID_TORCHSCRIPT",
    how_to_get="or reuse clean-fid's copy (it downloads the same file to /tmp/inception-2015-12-05.pt)",
)

"""LFDM's released weights and its text encoder, declared as assets.

The authors publish one LFAE and one DM file per dataset on Google Drive (README of
nihaomiao/CVPR23_LFDM, "Pretrained Models"); none is on the Hugging Face hub, so each is
found by its env var or in the asset cache, and fetched by hand (Drive needs a browser
or ``gdown``). No official digest is published: ``sha256`` is left unpinned. The text
encoder is the hub's ``google-bert/bert-base-cased`` (upstream's torch.hub
``bert-base-cased``). Registered in pyproject.toml's ``hcvg.assets`` group.
"""

from __future__ import annotations

from hcvg.assets import Asset

_DRIVE = "https://drive.google.com/file/d/{}/view"
#: dataset → (LFAE file id, DM file id), from the README's table.
_DRIVE_IDS = {
    "mug": ("1dRn1wl5TUaZJiiDpIQADt1JJ0_q36MVG", "1lPVIT_cXXeOVogKLhD9fAT4k1Brd_HHn"),
    "mhad": ("1AVtpKbzqsXdIK-_vHUuQQIGx6Wa5PxS0", "1BoFPQAeOuHE5wt7h-chhYAO-dU0B1p2y"),
    "natops": ("10iyzoYqSwzQ3fZgb6oh3Uay-P7k2A12s", "1lSLSzS_KyGvJ7dW3l5hLJLR9k2k8LoU3"),
}


def _released(dataset: str, part: str) -> Asset:
    lfae_id, dm_id = _DRIVE_IDS[dataset]
    what = {"lfae": ("LFAE (latent flow autoencoder, RegionMM_*.pth)", lfae_id), "dm": ("DM (flow diffusion UNet, flowdiff_*.pth)", dm_id)}[part]
    name = f"lfdm-{dataset}-{part}"
    return Asset(
        name=name,
        filename=f"{name}.pth",
        description=f"LFDM's released {dataset.upper()} {what[0]}, 128², trained by the authors",
        official_url=_DRIVE.format(what[1]),
        env_var=f"HCVG_LFDM_{dataset.upper()}_{part.upper()}",
        how_to_get=(
            f"it is on Google Drive only: open {_DRIVE.format(what[1])} in a browser (or `gdown {what[1]}`), "
            f"save it as {name}.pth in the asset cache, or pass the lfdm adapter option {part}=/path/to/file"
        ),
    )


LFDM_MUG_LFAE = _released("mug", "lfae")
LFDM_MUG_DM = _released("mug", "dm")
LFDM_MHAD_LFAE = _released("mhad", "lfae")
LFDM_MHAD_DM = _released("mhad", "dm")
LFDM_NATOPS_LFAE = _released("natops", "lfae")
LFDM_NATOPS_DM = _released("natops", "dm")

BERT_BASE_CASED = Asset(
    name="bert-base-cased",
    filename="bert-base-cased",
    description="BERT-base (cased), LFDM's text encoder (masked mean of its last hidden states)",
    env_var="HCVG_BERT_BASE_CASED",
    hf_repo="google-bert/bert-base-cased",
    hf_filename="config.json",
    directory=True,
    # The repo also holds TensorFlow, Flax, Rust and Core ML copies of the weights.
    hf_ignore=("*.h5", "*.msgpack", "*.ot", "*.onnx", "coreml/*"),
    how_to_get="or pass the lfdm adapter option text_encoder=/path/to/a/bert-base-cased folder (config.json, weights, vocab.txt)",
)

#: dataset → (LFAE asset, DM asset).
RELEASED: dict[str, tuple[Asset, Asset]] = {
    "mug": (LFDM_MUG_LFAE, LFDM_MUG_DM),
    "mhad": (LFDM_MHAD_LFAE, LFDM_MHAD_DM),
    "natops": (LFDM_NATOPS_LFAE, LFDM_NATOPS_DM),
}

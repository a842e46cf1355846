"""The `command` adapter's presets: each baseline's own repository, run with its own command line.

A preset is data: the exact command line its upstream repository documents (read at the
commit recorded here), the bridge script that turns the suite's manifest into the
layout that command reads and collects what it writes, and how its native output is
fitted. The one list is `PRESETS`; `docs/command-adapter.md` describes each.

Placeholders, filled in two passes (`render`):

* by the adapter, from its options: ``{python}`` (the baseline environment's
  interpreter), ``{torchrun}`` (the ``torchrun`` beside it), ``{repo}``, ``{ckpt}``,
  ``{config}``, ``{ae_ckpt}``;
* by the bridge, per upstream run: ``{prompt_dir}``, ``{save_dir}``, ``{seed}``,
  ``{csv}``, ``{image}``, ``{text}``, ``{script}``, ``{image_folder}``,
  ``{prompt_file}``, ``{mask_folder}``, ``{output_folder}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from hcvg.adapter import NativeSettings

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def render(template: str, values: Mapping[str, object]) -> str:
    """Replace the ``{name}`` placeholders that ``values`` names; leave the others.

    One pass, so a value holding braces (a prompt, a path) is never read as a
    placeholder itself. The bridges carry a copy of this function (they run in the
    baseline's environment, without the suite).
    """
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template)


def placeholders(template: str) -> set[str]:
    """The placeholder names a template uses."""
    return set(_PLACEHOLDER.findall(template))


@dataclass(frozen=True)
class Upstream:
    """Where a preset's command line comes from.

    Attributes:
        repo: ``owner/name`` on GitHub.
        commit: The commit the command line was read at.
        source: File (and lines) the command line is copied from.
        notes: What the bridge had to work around, for the documentation.
    """

    repo: str
    commit: str
    source: str
    notes: str = ""


@dataclass(frozen=True)
class Preset:
    """One baseline's repository as the `command` adapter runs it.

    Attributes:
        name: The ``preset=`` value.
        bridge: File name under ``adapters/command/bridges/``.
        upstream: Provenance of ``argv``.
        argv: The upstream command line, one token per item, with placeholders.
        cwd: The directory the upstream command runs in (upstream paths are relative to it).
        defaults: Default values of the adapter-filled placeholders (``ckpt``, ``config``):
            the paths the upstream README uses, relative to ``repo``.
        must_exist: Paths (templates, relative to ``repo`` unless absolute) checked when
            the adapter is built, so a missing script or checkpoint is an error before
            any batch runs.
        text_only: The model is text-to-video (no context frame in the manifest).
        native: How the model generates, for the run config.
        drop_context: Its output's frame 0 is the context frame.
        batch_size: Requests per program run (the model is loaded once per run).
        panels: The output shows this many equal panels side by side (LFDM's demo GIF).
        panel: Which of them (from 0) is the generated video.
    """

    name: str
    bridge: str
    upstream: Upstream
    argv: tuple[str, ...]
    cwd: str = "{repo}"
    defaults: Mapping[str, str] = field(default_factory=dict)
    must_exist: tuple[str, ...] = ()
    text_only: bool = False
    native: NativeSettings = NativeSettings()
    drop_context: bool = False
    batch_size: int = 8
    panels: int = 1
    panel: int = 0


_DYNAMICRAFTER = Upstream(
    repo="Doubiiu/DynamiCrafter",
    commit="c453369367122d7fbb0aa38f124e76dc8fe2a91c",
    source="scripts/run.sh",
    notes=(
        "inference.py reads a folder of images (sorted by name) and one .txt file with a prompt per line in the same "
        "order, and writes <savedir>/samples_separate/<image stem>_sample0.mp4; one --seed per run, so the bridge runs it "
        "once per seed. run.sh also sets CUDA_VISIBLE_DEVICES=0: pass env=CUDA_VISIBLE_DEVICES=0 to do the same."
    ),
)

PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            name="dynamicrafter",
            bridge="dynamicrafter.py",
            upstream=_DYNAMICRAFTER,
            # run.sh with $1 = 256 (H=256, FS=3).
            argv=(
                "{python}", "scripts/evaluation/inference.py", "--seed", "{seed}", "--ckpt_path", "{ckpt}",
                "--config", "{config}", "--savedir", "{save_dir}", "--n_samples", "1", "--bs", "1",
                "--height", "256", "--width", "256", "--unconditional_guidance_scale", "7.5", "--ddim_steps", "50",
                "--ddim_eta", "1.0", "--prompt_dir", "{prompt_dir}", "--text_input", "--video_length", "16",
                "--frame_stride", "3",
            ),
            defaults={"ckpt": "checkpoints/dynamicrafter_256_v1/model.ckpt", "config": "configs/inference_256_v1.0.yaml"},
            must_exist=("scripts/evaluation/inference.py", "{ckpt}", "{config}"),
            native=NativeSettings(size=(256, 256), frames=16, steps=50, guidance=7.5),
        ),
        Preset(
            name="dynamicrafter-512",
            bridge="dynamicrafter.py",
            upstream=_DYNAMICRAFTER,
            # run.sh with $1 = 512 (H=320, FS=24, and the flags of its else branch).
            argv=(
                "{python}", "scripts/evaluation/inference.py", "--seed", "{seed}", "--ckpt_path", "{ckpt}",
                "--config", "{config}", "--savedir", "{save_dir}", "--n_samples", "1", "--bs", "1",
                "--height", "320", "--width", "512", "--unconditional_guidance_scale", "7.5", "--ddim_steps", "50",
                "--ddim_eta", "1.0", "--prompt_dir", "{prompt_dir}", "--text_input", "--video_length", "16",
                "--frame_stride", "24", "--timestep_spacing", "uniform_trailing", "--guidance_rescale", "0.7", "--perframe_ae",
            ),
            defaults={"ckpt": "checkpoints/dynamicrafter_512_v1/model.ckpt", "config": "configs/inference_512_v1.0.yaml"},
            must_exist=("scripts/evaluation/inference.py", "{ckpt}", "{config}"),
            native=NativeSettings(size=(320, 512), frames=16, steps=50, guidance=7.5),
        ),
        Preset(
            name="opensora",
            bridge="opensora.py",
            upstream=Upstream(
                repo="hpcaitech/Open-Sora",
                commit="7ad6a96a135feb81f755c84fb391818718f6beb2",
                source="README.md, 'Text-to-Video Generation': direct text-to-video, 256px, with --save-dir and "
                "--dataset.data-path as its csv example, and --seed / --sampling_option.seed as its 'Reproductivity' example",
                notes=(
                    "Open-Sora 2.0. The csv has columns text,name; a row with a name is written to "
                    "<save-dir>/video_256px/<name>.mp4. configs/diffusion/inference/256px.py generates 129 frames at 16:9; "
                    "the README documents --aspect_ratio and --num_frames (4k+1) to change them (pass them in upstream_args)."
                ),
            ),
            argv=(
                "{torchrun}", "--nproc_per_node", "1", "--standalone", "scripts/diffusion/inference.py", "{config}",
                "--save-dir", "{save_dir}", "--dataset.data-path", "{csv}", "--sampling_option.seed", "{seed}", "--seed", "{seed}",
            ),
            defaults={"config": "configs/diffusion/inference/256px.py"},
            must_exist=("scripts/diffusion/inference.py", "{config}", "ckpts/Open_Sora_v2.safetensors", "{torchrun}"),
            text_only=True,
            native=NativeSettings(frames=129, fps=24, steps=50, guidance=7.5),
        ),
        Preset(
            name="avdc",
            bridge="avdc.py",
            upstream=Upstream(
                repo="flow-diffusion/AVDC",
                commit="176fbe1352a869d77855fe17ab0ddc82c440dc4b",
                source="README.md, 'Inferencing' (python train_mw.py --mode inference -c 1 -p ../examples/assembly.png "
                "-t assembly -g 2 -n 20), run in flowdiffusion/",
                notes=(
                    "One image and one text per run; the output is <image stem>_out.gif beside the image: the context frame, "
                    "then the generated ones (train_mw.py: sample_per_seq = 8, 128x128, so 7 generated frames). The "
                    "benchmark needs 15, so a released checkpoint's output is refused by fitting (a failure per sample); "
                    "a model retrained with sample_per_seq >= 16 fits. No seed option: runs are not reproducible."
                ),
            ),
            argv=("{python}", "train_mw.py", "--mode", "inference", "-c", "{ckpt}", "-p", "{image}", "-t", "{text}", "-g", "2", "-n", "20"),
            cwd="{repo}/flowdiffusion",
            must_exist=("flowdiffusion/train_mw.py", "results/mw/model-{ckpt}.pt"),
            native=NativeSettings(size=(128, 128), frames=8, steps=20, guidance=2.0),
            drop_context=True,
            batch_size=1,
        ),
        Preset(
            name="lfdm",
            bridge="lfdm.py",
            upstream=Upstream(
                repo="nihaomiao/CVPR23_LFDM",
                commit="36016353d4c0ce99f2eba17078226f24e9ecc289",
                source="README.md, 'Demo' (python -u demo/demo_mhad.py)",
                notes=(
                    "demo_mhad.py takes no input arguments: its paths, action list and reference image are assignments in "
                    "the file. The bridge writes a copy with exactly those assignments replaced (each must match once, or it "
                    "fails naming the line) and runs it; the output GIF has five 128-pixel panels (source, sample, warped, "
                    "grid, confidence) and the adapter keeps the sample panel, 40 frames. The demo loads config/mug128.yaml "
                    "although it is the MHAD demo; the preset keeps that default."
                ),
            ),
            # --gpu 0: the demo defaults to GPU "1", its authors' machine; --random-seed: its argparse option.
            argv=("{python}", "-u", "{script}", "--gpu", "0", "--random-seed", "{seed}"),
            defaults={"config": "config/mug128.yaml"},
            must_exist=("demo/demo_mhad.py", "{ckpt}", "{ae_ckpt}", "{config}"),
            native=NativeSettings(size=(128, 128), frames=40),
            batch_size=1,
            panels=5,
            panel=1,
        ),
        Preset(
            name="handi-inference",
            bridge="handi_inference.py",
            upstream=Upstream(
                repo="zhicaoisexcited/HANDI",
                commit="bc788b70a05d345b80a12f741b51beeb8725c09a",
                source="README.md, 'Multi-Sample Inference' (python evaluation.py --eval --config "
                "downloads/weights/IVG.1.0/config.yaml --image_folder downloads/test --prompt_file downloads/test/prompt.json "
                "--mask_folder downloads/test/masks --output_folder downloads/test/result); the script is inference.py at "
                "this commit (same arguments), and trailing key=value items override the config (seed=...)",
                notes=(
                    "The prompt file is JSON lines {source, prompt}; the mask is <mask_folder>/<image stem>.png and must "
                    "exist (the bridge writes an all-white one, the script's own no-mask default, unless the manifest "
                    "carries the motion area: needs_mask=true). Outputs: <output_folder>/<stem>/0.gif and 0..mp4 (sic: "
                    "out_file.replace('gif', '.mp4')); the bridge takes the mp4."
                ),
            ),
            argv=(
                "{python}", "inference.py", "--eval", "--config", "{config}", "--image_folder", "{image_folder}",
                "--prompt_file", "{prompt_file}", "--mask_folder", "{mask_folder}", "--output_folder", "{output_folder}",
                "seed={seed}",
            ),
            defaults={"config": "downloads/weights/IVG.1.0/config.yaml"},
            must_exist=("inference.py", "{config}"),
            native=NativeSettings(fps=8),
        ),
    )
}

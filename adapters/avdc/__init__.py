"""AVDC (Ko et al. 2023, "Learning to Act from Actionless Videos through Dense Correspondences"), native.

The HANDI paper's "AVDC" baseline (§4.1): pixel-space video diffusion, a 3D UNet
(guided-diffusion's, made 3D by factorized space/time convolutions) that generates the
frames after a condition frame, with CLIP ViT-B/32 text pooled by a Perceiver resampler.
A port written from the authors' code, ``flow-diffusion/AVDC`` at commit
``176fbe1352a869d77855fe17ab0ddc82c440dc4b``; none of their code is imported or copied.

Modules (one job each): `config` (the three releases and the tiny test config, each value
cited), `unet` (`AVDCUNet3D`, a diffusers ``ModelMixin``), `sampler` (cosine schedule,
v-objective, DDPM at 100 steps / DDIM below, guidance), `convert` (the official
``model-N.pt`` → native keys), `checkpoints` (the files as assets), `pipeline`
(inference and the weights-folder format), `adapter` (`AVDCAdapter`, registered as
``avdc``), `training` (``hcvg train avdc``), `tiny` (random tiny weights for tests).

**Native vs benchmark.** The releases were trained at Bridge 48×64 (6 frames), iTHOR
64² (7) and Meta-World 128² (7) on robot videos; the adapter runs Bridge by default (the
only release on real camera footage of manipulation with free-form instructions). The
256² context is resized to the native size (as the authors' Bridge / iTHOR inference
does) and the output resized back; the UNet takes any clip length, so it generates the
benchmark's 15 frames directly. Sampling follows the authors: 100-step DDPM, DDIM when
fewer steps are asked, guidance off. None of the releases has seen egocentric hands:
the paper fine-tunes every baseline on the benchmark for 50 epochs
(``hcvg train avdc --config adapters/avdc/configs/paper.yaml``, then the adapter option
``weights=OUTPUT_DIR/weights``).

**Weights.** ``hcvg assets fetch avdc-bridge`` (or ``avdc-ithor``, ``avdc-metaworld``:
``Po-Chen/flowdiffusion`` ``ckpts/<variant>/model-N.pt``, the README's links) and
``hcvg assets fetch clip-vit-b-32`` (``openai/clip-vit-base-patch32``); or
``weights=/path/to/model-N.pt``. The EMA weights, which the authors sample with, are
loaded (``source=model`` for the online ones). Nothing is downloaded at run time.

**Parity** (tests/test_avdc_parity.py; references in tests/fixtures/parity/avdc/ made by
running the upstream code outside the project on seeded weights, fp32 CPU): at the tiny
config the denoiser forward matches to 2.8e-6 max abs (1.2e-6 relative to the output's largest value),
two full DDIM steps to 1.7e-6 without guidance and 2.2e-4 with w = 2 (the first step at
t = 99, ᾱ ≈ 2.4e-7, divides by sqrt(ᾱ) twice), one DDPM step to 2.4e-7 (3.6e-7 with
w = 2). At the published Bridge config (full size, 6 frames at 48×64, batch 2): forward
5.1e-6 (2.2e-6 relative), 2 DDIM steps 3.0e-6, 1 DDPM step 2.4e-7; at iTHOR (64², 7
frames): 3.6e-6, 1.9e-6, 2.4e-7; at Meta-World (128², 7 frames): 5.8e-6, 2.6e-6, 2.4e-7
(the slow test, ``pytest -m slow tests/test_avdc_parity.py``); published-config outputs are stored as a [:, ::4, ::4, ::4] subsample
with inputs regenerated from the recorded seed. The key lists of all three releases
equal what the converter maps (a fast test).
"""

"""Open-Sora 1.2, ported natively: the authors' released weights, run in the suite's own environment.

**Which version, and why.** The HANDI paper cites Open-Sora's 2024 report and runs it
text-to-video. The 2024 release line is v1.2 (tag ``v1.2.0`` of hpcaitech/Open-Sora,
commit 17cce908b22283acc3c946816c81f46dd442a453): one checkpoint, STDiT3-XL/2
(``hpcai-tech/OpenSora-STDiT-v3``, 1.1 B), does both text-to-video and image-to-video
(the reference image enters as latent frame 0 through the "mask strategy"), and 256×256
is one of its trained buckets, so a 256² image-to-video benchmark runs it at its native
size. v1.3 (February 2025) needs a separate i2v checkpoint and a new VAE; v2.0 is an
11 B MMDiT of 2025 with its own report. So this port is v1.2: ``open-sora`` (image to
video, the benchmark's task) and ``open-sora-t2v`` (text only, as the paper ran it).

**What is native, what is the benchmark's.** Native (configs/opensora-v1-2/inference/
sample.py): 256×256, 51 frames at 24 fps, rectified flow with the resolution/length
timestep shift, 30 steps, guidance 7, the prompt + " aesthetic score: 6.5.", T5 v1.1
XXL captions of 300 tokens. The benchmark's 15 frames: image-to-video drops frame 0 (it
reproduces the context) and resamples the other 50 evenly; text-to-video resamples all
51 evenly. Prompt cleaning keeps only the steps of upstream's ``clean_caption`` that
change plain text (lowercase, whitespace; see `adapters.opensora.text`).

**Modules.** `stdit3` (the denoiser: diffusers embeddings, feed-forward and RMSNorm,
torch SDPA attention), `vae` (diffusers `AutoencoderKL` with the SDXL config + the
causal temporal VAE written here), `sampler` (rectified flow, guidance, frame masks),
`text` (T5 through `adapters.shared_encoders`), `convert` (official key names → these
modules, both ways), `loading`, `pipeline`, `adapter`; `config` cites every value.

**Weights.** Assets ``opensora-stdit-v3`` (hub ``hpcai-tech/OpenSora-STDiT-v3``,
``model.safetensors``), ``opensora-vae-v1.2`` (``hpcai-tech/OpenSora-VAE-v1.2``,
``model.safetensors``: SDXL VAE + temporal VAE), ``t5-v1_1-xxl`` (``DeepFloyd/
t5-v1_1-xxl``, a folder): ``hcvg assets fetch NAME`` where the network allows, or the
adapter options ``transformer=``, ``vae=``, ``text_encoder=``. Nothing downloads at run
time.

**Parity with upstream** (tests/test_opensora_parity.py; fixtures in
tests/fixtures/parity/opensora/ with their provenance). Upstream v1.2.0's own classes
were run outside the project with seeded weights (xformers' attention, GPU-only, by the
same math); the port loads the same seeded weights through its converter. Reached, fp32
on the CPU: STDiT3 forward at the tiny config max |diff| 9e-7 (2e-7 of the output's
max), with a frame mask 1.1e-6 (2e-7); three guided sampling steps with a 0 / 0.5 / 1
frame mask 6.7e-6 (5.5e-7), text-to-video 7.2e-6 (5.6e-7), held to atol = rtol = 1e-5.
Published STDiT3-XL/2 (slow test; a 3×4×4 latent, which reaches every weight, and the
first 2 of the 30 shifted steps): forward 3.1e-6 (9e-7), with a frame mask 3.6e-6
(8e-7), guided steps 4.8e-7 (1.7e-7), text-to-video 6.0e-7 (2.1e-7), held to 1e-4.
Temporal VAE encode and decode: bit-identical at the tiny and published configs. The
key lists of both official files (from the upstream modules at the published config)
equal what the converter maps.
"""

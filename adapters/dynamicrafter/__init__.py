"""DynamiCrafter (Xing et al., "DynamiCrafter: Animating Open-domain Images with Video
Diffusion Priors", ECCV 2024), 256 model, implemented natively (adapter ``dynamicrafter``).

**Why a port.** The authors' code (github.com/Doubiiu/DynamiCrafter) needs its own
environment (pytorch-lightning, kornia, an older open_clip, xformers); this package
rebuilds the inference from diffusers / PyTorch blocks so the whole benchmark matrix
runs in one environment. It reads the authors' released checkpoint by its own key names.
Upstream code never enters the project: it was read for facts (architecture, key names,
defaults) at commit c453369367122d7fbb0aa38f124e76dc8fe2a91c (2 July 2024).

**Modules.** `config` (published and tiny configs, each value's upstream source),
`unet` (`DynamiCrafterUNet`: the 1.4 B temporal UNet on diffusers' `ResnetBlock2D` and
`TemporalConvLayer`), `attention` (spatial transformers with the gated image
cross-attention, temporal transformers), `resampler` (`ImageResampler`, 48.8 M),
`encoders` (OpenCLIP ViT-H/14: penultimate-layer text tokens, 257 image tokens,
kornia's antialiased resize), `sampler` (diffusers' `DDIMScheduler` set up as upstream's
DDIM, and the guidance), `convert` (released key names → native), `loading`, `pipeline`,
`adapter`, `weights` (the checkpoint as an asset).

**Native → benchmark.** 16 frames at 256x256, frame stride 3, DDIM 50 steps, eta 1.0,
guidance 7.5 on text and image jointly (unconditional branch: empty prompt and an
all-zero image, first-frame latent kept), the prompt given (``--text_input``), as
``scripts/run.sh 256``. Frame 0 reproduces the context and is dropped; the other 15
are the benchmark's L = 15, so at 256x256 nothing is resampled.

**Weights.** ``model.ckpt`` of hub ``Doubiiu/DynamiCrafter`` (about 10 GB; the UNet,
Resampler, SD VAE and both frozen OpenCLIP towers): ``hcvg assets fetch
dynamicrafter-256``, or ``HCVG_DYNAMICRAFTER_256=/path/model.ckpt``, or the adapter
option ``checkpoint=``. It is read with ``torch.load(weights_only=True)``; a converted
native safetensors file (`loading.save_native`) loads too. The OpenCLIP towers are one
module shared between adapters of a run (`adapters.shared_encoders`).

**Parity.** Upstream's own classes, built outside the project at the tiny and the
published configs and filled with `tests.parity.seeded_weights` (the fixtures in
tests/fixtures/parity/dynamicrafter/ say how, with the commit and tolerance), against
this port loaded through `convert`: the Resampler, the denoiser forward and one DDIM
step with guidance 7.5 (upstream's ``p_sample_ddim``), in float32 on the CPU.
Max |diff| (and relative to the largest reference value), float32, CPU:

| config | Resampler | denoiser forward | DDIM step x_prev | step x0 |
| --- | --- | --- | --- | --- |
| tiny (16 frames, 8x8 latent, batch 2) | 4.1e-6 (1.2e-6) | 3.3e-6 (1.5e-6) | 3.7e-6 (7.5e-7) | 6.0e-5 (4.5e-6) |
| published, 16 frames on an 8x8 latent | 3.6e-6 (9.1e-7) | 5.5e-6 (2.6e-6) | 7.1e-6 (1.5e-6) | 1.2e-4 (4.3e-6) |

(The published run keeps every published weight, 1.49 B for UNet + Resampler, on an
8x8 latent (64x64 pixels) instead of 32x32 (256x256), so that it fits a 2-core CPU. The step's x0 is
the guided noise, ~8.5x the denoiser's rounding, divided by sqrt(alpha).) Tests hold
them to the tolerances recorded in each reference: rtol 1e-5 throughout, atol 1e-5
(tiny) / 2e-5 (published) for the forward, 2e-4 / 5e-4 for the step.
The published key list (2535 keys, 2.61 B values) equals what `convert` maps onto
the native modules; the release spells the frame-stride MLP ``framestride_embed``
where the class says ``fps_embedding``, and both are accepted.
"""

"""Native LFDM: latent flow diffusion (Ni et al., CVPR 2023), the paper's ``LFDM`` baseline.

**Upstream.** github.com/nihaomiao/CVPR23_LFDM at commit
``36016353d4c0ce99f2eba17078226f24e9ecc289``. The code here is the project's own,
written from upstream's structure and released configs (read for facts only):

- `config`: the published (MUG / MHAD / NATOPS: ``config/*128.yaml``,
  ``FlowDiffusion``'s UNet) and tiny configs, each value cited;
- `lfae`: the latent flow autoencoder (MRAA region predictor, background motion
  predictor, pixelwise flow predictor, warping generator);
- `unet`: the 42.7 M-parameter 3D UNet over flow + occlusion maps (FiLM ResNet blocks,
  linear spatial and rotary temporal attention, BERT text ⊕ time condition);
- `sampler`: cosine schedule, dynamic thresholding, the ancestral sampler (the demos'
  1000 steps) and DDIM (eta 1) for fewer steps, classifier-free guidance;
- `text`: BERT-base-cased through transformers from a local folder (upstream's
  ``torch.hub`` call is gone: nothing is fetched at run time);
- `convert`: the released checkpoints' keys → the port's (``torch.load(weights_only=True)``;
  missing / unexpected keys listed; schedule and rotary constants checked);
- `pipeline`: condition frame + text → video; `adapter`: the ``lfdm`` adapter;
  `training`: fine-tuning the diffusion on a split (``hcvg train lfdm``).

**Native vs benchmark.** LFDM makes 40 frames at 128² of which frame 0 reconstructs
the condition frame, with 1000 ancestral steps and no guidance (the authors' demos).
The adapter resizes the 256² context to 128², drops frame 0, resamples the other 39
frames evenly to the benchmark's 15 and resizes them to 256² (``describe()`` records
it). The text is the action label (LFDM was trained on class names).

**Weights.** The authors' LFAE + DM pairs for MUG, MHAD and NATOPS are on Google Drive
(assets ``lfdm-{mug,mhad,natops}-{lfae,dm}``: download by hand, then put them in the
asset cache, point ``HCVG_LFDM_<DATASET>_<PART>`` at them, or pass ``lfae=``/``dm=``);
BERT is the ``bert-base-cased`` asset (``hcvg assets fetch bert-base-cased``). None was
trained on egocentric video: the paper fine-tuned every baseline on the benchmark for
50 epochs (``configs/paper.yaml``); a fine-tuned folder loads with ``weights=FOLDER``.

**Parity.** The upstream modules were run outside the project (their own venv) on
weights filled by ``tests.parity.seeded_weights`` from their state-dict keys, and the
port reproduces them from the same key lists through its converter
(tests/test_lfdm_parity.py, fixtures in tests/fixtures/parity/lfdm/ with provenance).
Reached, fp32 on CPU: UNet forward (conditional and null text) max |diff| 3.6e-6 (tiny)
/ 4.5e-6 (published, 8 frames at 32²), 1.1e-6 relative; one ancestral step with
guidance 2: 1.2e-7; a 2-step DDIM run: 1.1e-6 / 1.9e-6; the LFAE (regions, background
motion, dense flow, occlusion, reconstruction and warp): bit-identical (0.0) at tiny and
published sizes. The published key lists equal the port's key sets (UNet: via the
converter's renaming; LFAE: one-to-one).
"""

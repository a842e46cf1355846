"""Native LFDM (Ni et al., CVPR 2023: latent flow diffusion models), ported from nihaomiao/CVPR23_LFDM.

See the modules: `config` (published and tiny configs), `lfae` (latent flow autoencoder),
`unet` (3D UNet over flow + occlusion maps), `sampler` (schedule, DDPM / DDIM),
`convert` (the released checkpoints' keys).
"""

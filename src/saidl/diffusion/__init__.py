"""Diffusion: DiT with pluggable attention, latent diffusion, FID/CMMD, conditioning methods."""

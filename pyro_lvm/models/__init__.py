"""Model/guide pairs: ``model(x, indices=None, num_data=None)`` plus a ``guide`` module."""

from .vae import VAE

__all__ = ["VAE"]

"""Model/guide pairs: ``model(x, indices=None, num_data=None)`` plus a ``guide`` module."""

from .gmm import EmptyGuide, GaussianMixture
from .image_flow import ImageFlow, PixelCells, UniformCells
from .ppca import LinearGaussianGuide, PPCA, PPCAParameters, PPCAPosteriorGuide, ppca_mle
from .vae import VAE

__all__ = ["EmptyGuide", "GaussianMixture", "ImageFlow", "LinearGaussianGuide", "PixelCells",
           "UniformCells", "PPCA", "PPCAParameters",
           "PPCAPosteriorGuide", "VAE", "ppca_mle"]

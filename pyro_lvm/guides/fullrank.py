"""The amortized full-covariance Normal guide."""

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from ..checks import check_hidden
from ..conv import ConvArch, network
from ..nn import positive
from ..params import register
from ..plates import data_plate


def lower_triangular(diagonal, strict, size):
    """The ``size × size`` lower-triangular matrix with ``diagonal`` (positive) and the
    ``size (size − 1) / 2`` entries ``strict`` below it, for any batch shape."""
    batch = diagonal.shape[:-1]
    rows, cols = torch.tril_indices(size, size, offset=-1, device=diagonal.device)
    tril = diagonal.new_zeros(*batch, size, size)
    tril[..., rows, cols] = strict
    return tril + torch.diag_embed(diagonal)


class FullRankNormalGuide(nn.Module):
    """q_φ(z | x) = N(z | μ_φ(x), L_φ(x) L_φ(x)ᵀ), L lower-triangular with positive diagonal.

    The encoder outputs k means, k raw diagonal entries (made positive by softplus) and the
    k (k − 1) / 2 entries below the diagonal; z = μ + L ε, ε ~ N(0, I) is reparametrized.

    Args:
        data_dim: the size of a row of x.
        latent_dim: k, the size of z.
        hidden: the encoder's hidden widths.
        conv: a ``ConvArch``: a convolutional encoder over x as an image (``None``: an MLP).
    """

    def __init__(self, data_dim: int, latent_dim: int, hidden: tuple = (256,),
                 conv: ConvArch | None = None):
        super().__init__()
        self.data_dim = data_dim
        self.latent_dim = latent_dim
        k = latent_dim
        self.net = network(data_dim, check_hidden(hidden), 2 * k + k * (k - 1) // 2, conv)

    def encode(self, x):
        """(μ_φ(x), L_φ(x)) of shapes ``(batch, k)`` and ``(batch, k, k)``."""
        k = self.latent_dim
        out = self.net(x)
        loc, raw_diagonal, strict = out[..., :k], out[..., k:2 * k], out[..., 2 * k:]
        return loc, lower_triangular(positive(raw_diagonal), strict, k)

    def distribution(self, x):
        loc, scale_tril = self.encode(x)
        return dist.MultivariateNormal(loc, scale_tril=scale_tril, validate_args=False)

    def forward(self, x, indices=None, num_data=None):
        register(self)
        with data_plate(x, indices, num_data):
            return {"z": pyro.sample("z", self.distribution(x))}

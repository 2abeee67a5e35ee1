"""The non-amortized Normal guide: one set of variational parameters per datapoint."""

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from ..errors import bad_value
from ..nn import inverse_positive, positive
from ..params import register
from ..plates import data_plate
from .fullrank import lower_triangular


class LocalNormalGuide(nn.Module):
    """q(z_i) = N(m_i, diag s_i²) (``full_rank=False``) or N(m_i, L_i L_iᵀ), for i = 1..N.

    The parameters of row i are picked by the minibatch ``indices`` that the trainer passes, so
    each datapoint's posterior is fitted on its own: classic (non-amortized) variational
    inference, the reference point of the amortization gap.

    Args:
        num_data: N, one set of parameters per row.
        latent_dim: the size of z.
        full_rank: a full covariance per row instead of a diagonal one.
    """

    def __init__(self, num_data: int, latent_dim: int, full_rank: bool = False):
        super().__init__()
        if num_data < 1 or latent_dim < 1:
            raise bad_value("num_data, latent_dim", (num_data, latent_dim), "positive integers")
        self.num_data, self.latent_dim, self.full_rank = num_data, latent_dim, full_rank
        self.loc = nn.Parameter(torch.zeros(num_data, latent_dim))
        self.raw_scale = nn.Parameter(inverse_positive(torch.ones(num_data, latent_dim)))
        if full_rank:
            self.strict = nn.Parameter(torch.zeros(num_data, latent_dim * (latent_dim - 1) // 2))

    def _rows(self, x, indices):
        if indices is None:
            if x.shape[0] != self.num_data:
                raise bad_value("indices", None, f"the rows' indices: the batch has "
                                f"{x.shape[0]} rows, this guide {self.num_data}")
            return slice(None)
        return indices

    def distribution(self, x, indices=None):
        rows = self._rows(x, indices)
        loc, scale = self.loc[rows], positive(self.raw_scale[rows])
        if self.full_rank:
            tril = lower_triangular(scale, self.strict[rows], self.latent_dim)
            return dist.MultivariateNormal(loc, scale_tril=tril, validate_args=False)
        return dist.Normal(loc, scale, validate_args=False).to_event(1)

    def forward(self, x, indices=None, num_data=None):
        register(self)
        with data_plate(x, indices, num_data):
            return {"z": pyro.sample("z", self.distribution(x, indices))}

    @torch.no_grad()
    def initialize_from(self, guide, x):
        """Start every row at an amortized Normal guide's q(z | x_i) (``guide.distribution``)."""
        q = guide.distribution(x)
        if isinstance(q, dist.MultivariateNormal):
            tril = q.scale_tril.expand(x.shape[0], self.latent_dim, self.latent_dim)
            scale = torch.diagonal(tril, dim1=-2, dim2=-1)
            if self.full_rank:
                rows, cols = torch.tril_indices(self.latent_dim, self.latent_dim, offset=-1)
                self.strict.copy_(tril[..., rows, cols])
        else:
            scale = q.base_dist.scale
        self.loc.copy_(q.mean)
        self.raw_scale.copy_(inverse_positive(scale.clamp_min(2e-5)))
        return self

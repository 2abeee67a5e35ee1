"""Observation models p_θ(x | z): a decoder output becomes a distribution over x.

Each likelihood is a ``torch.nn.Module`` that turns the decoder's output (``num_outputs``
numbers per example) into a Pyro distribution with event shape ``(data_dim,)``.
"""

import pyro.distributions as dist
import torch
from torch import nn

from .errors import bad_value
from .nn import inverse_positive, positive


class BernoulliLikelihood(nn.Module):
    """p(x | z) = Π_d Bernoulli(x_d | σ(logits_d)), for data in {0, 1} (binarized images).

    Args:
        data_dim: the size of a row of x.
    """

    bounded = True  # data must lie in [0, 1]

    def __init__(self, data_dim: int):
        super().__init__()
        self.data_dim = data_dim
        self.num_outputs = data_dim

    def forward(self, logits):
        return dist.Bernoulli(logits=logits, validate_args=False).to_event(1)

    def mean(self, logits):
        return torch.sigmoid(logits)


class GaussianLikelihood(nn.Module):
    """p(x | z) = N(x | μ_θ(z), diag σ²), σ learned per feature or fixed (``scale=``).

    Args:
        data_dim: the size of a row of x.
        scale: a fixed σ (``None``: learned per feature, softplus-parametrized).
    """

    bounded = False

    def __init__(self, data_dim: int, scale: float | None = None):
        super().__init__()
        self.data_dim = data_dim
        self.num_outputs = data_dim
        if scale is None:
            self.raw_scale = nn.Parameter(inverse_positive(torch.full((data_dim,), 0.5)))
        else:
            if not float(scale) > 0:
                raise bad_value("scale", scale, "a positive number or None (learned)")
            self.register_buffer("fixed_scale", torch.full((data_dim,), float(scale)))

    @property
    def scale(self):
        return positive(self.raw_scale) if hasattr(self, "raw_scale") else self.fixed_scale

    def forward(self, loc):
        return dist.Normal(loc, self.scale, validate_args=False).to_event(1)

    def mean(self, loc):
        return loc


LIKELIHOODS = {"bernoulli": BernoulliLikelihood, "gaussian": GaussianLikelihood}


def make_likelihood(name, data_dim, scale=None):
    """The likelihood called ``name`` ('bernoulli' or 'gaussian') for ``data_dim`` features."""
    if name not in LIKELIHOODS:
        raise bad_value("likelihood", name, f"one of {sorted(LIKELIHOODS)}")
    if name == "gaussian":
        return GaussianLikelihood(data_dim, scale)
    if scale is not None:
        raise bad_value("scale", scale, "None: a Bernoulli likelihood has no scale")
    return BernoulliLikelihood(data_dim)

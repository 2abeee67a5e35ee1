"""Likelihoods of real-valued features: Gaussian, Student-t, Beta and continuous Bernoulli."""

import math

import pyro.distributions as dist
import torch
from torch import nn
from torch.distributions import constraints
from torch.nn import functional as F

from ..checks import check_positive
from ..nn import inverse_positive, positive
from .base import Likelihood, StandardizedLikelihood, Support


class GaussianLikelihood(StandardizedLikelihood):
    """p(x_d | z) = N(x_d | c_d + s_d μ_d(z), (s_d σ_d)²), σ learned per feature or fixed
    (``scale=``, in standardized units).

    Args:
        data_dim: the size of a row of x.
        scale: a fixed σ (``None``: learned per feature, softplus-parametrized).
        center: the standardization's c per feature (``None``: 0).
        spread: the standardization's s per feature (``None``: 1).
    """

    name = "gaussian"

    def __init__(self, data_dim: int, scale: float | None = None, center: list | None = None,
                 spread: list | None = None):
        super().__init__(data_dim, center=center, spread=spread)
        if scale is None:
            self.raw_scale = nn.Parameter(inverse_positive(torch.full((data_dim,), 0.5)))
        else:
            scale = check_positive("scale", scale)
            self.register_buffer("fixed_scale", torch.full((data_dim,), float(scale)))

    @property
    def scale(self):
        """σ, per feature, in standardized units."""
        return positive(self.raw_scale) if hasattr(self, "raw_scale") else self.fixed_scale

    def elementwise(self, out):
        return dist.Normal(self.mean(out), self.spread * self.scale, validate_args=False)

    def mean(self, out):
        return self.center + self.spread * out


class StudentTLikelihood(StandardizedLikelihood):
    """p(x_d | z) = StudentT(x_d | ν_d, c_d + s_d μ_d(z), s_d σ_d): heavy tails, so that a few
    outliers do not pull the fit; ν_d > 0 and σ_d are learned per feature.  E[x_d | z] is the
    location (it exists for ν > 1).

    Args:
        data_dim: the size of a row of x.
        center: the standardization's c per feature (``None``: 0).
        spread: the standardization's s per feature (``None``: 1).
    """

    name = "studentt"

    def __init__(self, data_dim: int, center: list | None = None, spread: list | None = None):
        super().__init__(data_dim, center=center, spread=spread)
        self.raw_scale = nn.Parameter(inverse_positive(torch.full((data_dim,), 0.5)))
        self.raw_df = nn.Parameter(inverse_positive(torch.full((data_dim,), 5.0)))

    @property
    def df(self):
        return positive(self.raw_df)

    def elementwise(self, out):
        return dist.StudentT(self.df, self.mean(out), self.spread * positive(self.raw_scale),
                             validate_args=False)

    def mean(self, out):
        return self.center + self.spread * out


class BetaLikelihood(Likelihood):
    """p(x_d | z) = Beta(x_d | μ_d φ_d, (1 − μ_d) φ_d) with mean μ_d = σ(a_d(z)) and precision
    φ_d = softplus(b_d(z)): proportions strictly inside (0, 1).

    Args:
        data_dim: the size of a row of x.
    """

    name = "beta"
    support = Support(0.0, 1.0, open_low=True, open_high=True)
    fill_value = 0.5

    def __init__(self, data_dim: int):
        super().__init__(data_dim, 2 * data_dim)

    def elementwise(self, out):
        logit_mean, raw_precision = out.chunk(2, dim=-1)
        mean, precision = torch.sigmoid(logit_mean), positive(raw_precision)
        return dist.Beta(mean * precision, (1 - mean) * precision, validate_args=False)

    def mean(self, out):
        return torch.sigmoid(out.chunk(2, dim=-1)[0])


def continuous_bernoulli_log_norm(logits):
    """log C(λ) of the continuous Bernoulli with λ = σ(η), η the logits:

        C(λ) = 2 artanh(1 − 2λ) / (1 − 2λ) = η / tanh(η / 2),

    which tends to 2 as λ → 1/2, where the quotient is 0/0.  For |η| < 0.1 the series
    log 2 + η²/12 − 7η⁴/1440 (error below 1e-9) is used; elsewhere log|η| − log tanh(|η|/2),
    with log tanh(t/2) = log1p(−e^{−t}) − log1p(e^{−t}), is exact and stable for any η.
    """
    a = logits.abs()
    small = a < 0.1
    safe = torch.where(small, torch.ones_like(a), a)
    exact = safe.log() - torch.log1p(-torch.exp(-safe)) + torch.log1p(torch.exp(-safe))
    series = math.log(2.0) + logits ** 2 / 12 - 7 * logits ** 4 / 1440
    return torch.where(small, series, exact)


class ContinuousBernoulli(dist.TorchDistribution):
    """The continuous Bernoulli on [0, 1] (Loaiza-Ganem & Cunningham, 2019):
    p(x | λ) = C(λ) λ^x (1 − λ)^(1 − x), parametrized by its logits η = log(λ / (1 − λ)).

    E[x] = 1 / (1 − e^{−η}) − 1 / η (1/2 at η = 0); draws invert the CDF,
    x = log1p(u (e^η − 1)) / η with u ~ U(0, 1) (u + u (1 − u) η / 2 for |η| < 10⁻³).
    """

    arg_constraints = {"logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, logits, validate_args=False):
        self.logits = logits
        super().__init__(logits.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return ContinuousBernoulli(self.logits.expand(batch_shape))

    def log_prob(self, value):
        return (value * F.logsigmoid(self.logits) + (1 - value) * F.logsigmoid(-self.logits)
                + continuous_bernoulli_log_norm(self.logits))

    @property
    def mean(self):
        eta = self.logits
        small = eta.abs() < 1e-2
        safe = torch.where(small, torch.ones_like(eta), eta)
        exact = -1 / torch.expm1(-safe) - 1 / safe
        return torch.where(small, 0.5 + eta / 12 - eta ** 3 / 720, exact)

    def rsample(self, sample_shape=torch.Size()):
        eta = self.logits.expand(self._extended_shape(sample_shape))
        u = torch.rand_like(eta).clamp(1e-7, 1 - 1e-7)
        small = eta.abs() < 1e-3
        safe = torch.where(small, torch.ones_like(eta), eta)
        return torch.where(small, u + u * (1 - u) * eta / 2,
                           torch.log1p(u * torch.expm1(safe)) / safe)


class ContinuousBernoulliLikelihood(Likelihood):
    """p(x_d | z) = CB(x_d | λ_d(z)), λ_d = σ(η_d(z)): values anywhere in [0, 1] (grey
    images without binarizing), properly normalized unlike a Bernoulli on non-binary x.

    Args:
        data_dim: the size of a row of x.

    References:
        Loaiza-Ganem & Cunningham (2019), The continuous Bernoulli: fixing a pervasive error
        in variational autoencoders.
    """

    name = "cbernoulli"
    support = Support(0.0, 1.0)
    fill_value = 0.5

    def __init__(self, data_dim: int):
        super().__init__(data_dim)

    def elementwise(self, out):
        return ContinuousBernoulli(out)

    def mean(self, out):
        return ContinuousBernoulli(out).mean

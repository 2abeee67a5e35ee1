"""Likelihoods of discrete features: Bernoulli, Poisson, negative binomial (plain and
zero-inflated) and categorical."""

import pyro.distributions as dist
import torch
from torch import nn
from torch.nn import functional as F

from ..checks import check_int
from ..nn import inverse_positive, positive
from .base import Likelihood, Support

COUNTS = Support(0.0, integer=True)


class BernoulliLikelihood(Likelihood):
    """p(x | z) = Π_d Bernoulli(x_d | σ(logits_d)), for data in {0, 1} (binarized images).

    Values in between are accepted (as the cross-entropy of a grey pixel), but then p is not
    a normalized density: use ``ContinuousBernoulliLikelihood`` for grey values.

    Args:
        data_dim: the size of a row of x.
    """

    name = "bernoulli"
    support = Support(0.0, 1.0)

    def __init__(self, data_dim: int):
        super().__init__(data_dim)

    def elementwise(self, logits):
        return dist.Bernoulli(logits=logits, validate_args=False)

    def mean(self, logits):
        return torch.sigmoid(logits)


class CountLikelihood(Likelihood):
    """The base of the count models: the decoder gives log E[x_d | z], the encoder sees
    log(1 + x)."""

    support = COUNTS
    features_are_data = False

    def features(self, x):
        return torch.log1p(x)


class PoissonLikelihood(CountLikelihood):
    """p(x_d | z) = Poisson(x_d | μ_d(z)) with log μ_d(z) the decoder's output: counts whose
    variance equals their mean.

    Args:
        data_dim: the size of a row of x.
    """

    name = "poisson"

    def __init__(self, data_dim: int):
        super().__init__(data_dim)

    def elementwise(self, out):
        return dist.Poisson(self.mean(out), validate_args=False)

    def mean(self, out):
        return torch.exp(out)


class NegativeBinomialLikelihood(CountLikelihood):
    """p(x_d | z) = NB(x_d | mean μ_d(z), dispersion θ_d): E[x] = μ, Var[x] = μ + μ²/θ, so
    overdispersed counts (gene expression, words); θ_d > 0 is learned per feature, log μ_d(z)
    is the decoder's output.  In Pyro's terms total_count = θ, logits = log μ − log θ.

    Args:
        data_dim: the size of a row of x.
    """

    name = "negbinom"

    def __init__(self, data_dim: int):
        super().__init__(data_dim)
        self.raw_dispersion = nn.Parameter(inverse_positive(torch.ones(data_dim)))

    @property
    def dispersion(self):
        """θ, per feature."""
        return positive(self.raw_dispersion)

    def elementwise(self, out):
        theta = self.dispersion
        return dist.NegativeBinomial(total_count=theta, logits=out - theta.log(),
                                     validate_args=False)

    def mean(self, out):
        return torch.exp(out)


class ZeroInflatedNegativeBinomialLikelihood(NegativeBinomialLikelihood):
    """p(x_d | z) = π_d δ₀(x_d) + (1 − π_d) NB(x_d | μ_d(z), θ_d): the negative binomial with
    extra zeros (dropouts) of probability π_d = σ(g_d(z)); the decoder gives log μ and g, so
    E[x_d | z] = (1 − π_d) μ_d.

    Args:
        data_dim: the size of a row of x.
    """

    name = "zinb"

    def __init__(self, data_dim: int):
        super().__init__(data_dim)
        self.num_outputs = 2 * data_dim

    def elementwise(self, out):
        log_mean, gate_logits = out.chunk(2, dim=-1)
        theta = self.dispersion
        return dist.ZeroInflatedNegativeBinomial(
            total_count=theta, logits=log_mean - theta.log(), gate_logits=gate_logits,
            validate_args=False)

    def mean(self, out):
        log_mean, gate_logits = out.chunk(2, dim=-1)
        return torch.sigmoid(-gate_logits) * torch.exp(log_mean)


class CategoricalLikelihood(Likelihood):
    """p(x | z) = Categorical(x | softmax(a(z))) for one column coded 0, ..., K − 1.

    Its ``mean`` is the most probable level (a level, not an average of codes); the encoder
    sees the column one-hot.

    Args:
        levels: K, the number of levels.
    """

    name = "categorical"
    fill_value = 0.0
    features_are_data = False

    def __init__(self, levels: int):
        levels = check_int("levels", levels, 2)
        super().__init__(1, levels)
        self.levels = levels
        self.support = Support(0.0, self.levels - 1.0, integer=True)

    def elementwise(self, out):
        return dist.Categorical(logits=out.unsqueeze(-2), validate_args=False)

    def mean(self, out):
        return out.argmax(-1, keepdim=True).to(out.dtype)

    def weighted_mean(self, out, weights):
        probs = (weights.unsqueeze(-1) * torch.softmax(out, -1)).sum(0)
        return probs.argmax(-1, keepdim=True).to(out.dtype)

    def features(self, x):
        return F.one_hot(x[..., 0].long(), self.levels).to(x.dtype)

    @property
    def num_features(self):
        return self.levels

    def feature_mask(self, mask):
        return mask.expand(*mask.shape[:-1], self.levels)

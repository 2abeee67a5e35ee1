"""Posterior collapse: KL per latent dimension and active units on a constructed guide."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from conftest import gaussian_kl_to_standard
from torch import nn

from pyro_lvm.diagnostics import collapse_diagnostics, gaussian_kl
from pyro_lvm.plates import data_plate

LATENT = 5


def standard_model(x, indices=None, num_data=None):
    """z ~ N(0, I_5), x | z ~ N(z, I): only the prior of z matters here."""
    with data_plate(x, indices, num_data):
        z = pyro.sample("z", dist.Normal(x.new_zeros(LATENT), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z, 1.0).to_event(1), obs=x)


class PartlyCollapsedGuide(nn.Module):
    """Dimensions 0, 1 follow the data (μ = x_j, σ = 0.5); dimension 2 barely moves
    (μ = 0.05 x_2, σ = 0.8: KL > 0 but activity 0.0025 < 0.01); dimensions 3, 4 are exactly
    the prior."""

    def moments(self, x):
        loc = torch.stack([x[:, 0], x[:, 1], 0.05 * x[:, 2], 0 * x[:, 3], 0 * x[:, 4]], -1)
        scale = x.new_tensor([0.5, 0.5, 0.8, 1.0, 1.0]).expand_as(loc)
        return loc, scale

    def forward(self, x, indices=None, num_data=None):
        loc, scale = self.moments(x)
        with data_plate(x, indices, num_data):
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))


@pytest.mark.slow
def test_collapsed_dimensions_have_zero_kl_and_are_inactive():
    torch.manual_seed(0)
    x = torch.randn(300, LATENT, dtype=torch.float64)
    guide = PartlyCollapsedGuide()
    result = collapse_diagnostics(standard_model, guide, x, num_samples=3, batch_size=64)
    loc, scale = guide.moments(x)
    expected_kl = torch.stack([gaussian_kl_to_standard(loc[:, j:j + 1], scale[:, j:j + 1])
                               for j in range(LATENT)], -1).mean(0)
    torch.testing.assert_close(result["kl_per_dim"], expected_kl)
    assert (result["kl_per_dim"][3:] == 0).all() and (result["kl_per_dim"][:3] > 0.04).all()
    torch.testing.assert_close(result["activity"], loc.var(0, unbiased=False))
    assert result["active"].tolist() == [True, True, False, False, False]
    assert result["num_active"] == 2
    torch.testing.assert_close(result["posterior_mean"], loc)
    torch.testing.assert_close(result["posterior_sd"], scale)
    torch.testing.assert_close(result["prior_mean"], torch.zeros(LATENT, dtype=torch.float64))
    torch.testing.assert_close(result["prior_sd"], torch.ones(LATENT, dtype=torch.float64))


def test_gaussian_kl_matches_torch():
    q = dist.Normal(torch.tensor([0.3, -1.0]), torch.tensor([0.4, 2.0]))
    p = dist.Normal(torch.tensor([0.1, 0.5]), torch.tensor([1.5, 0.7]))
    torch.testing.assert_close(gaussian_kl(q.mean, q.variance, p.mean, p.variance),
                               torch.distributions.kl_divergence(q, p))


def test_a_site_missing_from_the_guide_is_named():
    x = torch.randn(4, LATENT)
    with pytest.raises(ValueError, match="site: got 'u'"):
        collapse_diagnostics(standard_model, PartlyCollapsedGuide(), x, site="u")

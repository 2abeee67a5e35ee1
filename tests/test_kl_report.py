"""The KL per latent dimension that the diagnostics report is the KL of the guide, whatever its
family (issue 18, item 5): closed form where PyTorch has it, Monte Carlo with its standard error
otherwise, and the report says which."""

import json
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from conftest import gaussian_kl_to_standard
from scipy import integrate
from torch import nn

from pyro_lvm import DataSplit
from pyro_lvm.diagnostics import collapse_diagnostics, diagnose, gaussian_kl
from pyro_lvm.plates import data_plate

LATENT = 2


def standard_model(x, indices=None, num_data=None):
    """z ~ N(0, I_2), x | z ~ N(z, I)."""
    with data_plate(x, indices, num_data):
        z = pyro.sample("z", dist.Normal(x.new_zeros(LATENT), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z, 1.0).to_event(1), obs=x)


def loc_scale(x):
    """Per row and dimension: a location 0.5 x and a scale 0.3 + 0.2 |x|."""
    return 0.5 * x, 0.3 + 0.2 * x.abs()


class Guide(nn.Module):
    """q(z | x) = ``family(loc, scale)`` per dimension, ``.to_event(1)``."""

    def __init__(self, family):
        super().__init__()
        self.family = family

    def forward(self, x, indices=None, num_data=None):
        with data_plate(x, indices, num_data):
            pyro.sample("z", self.family(*loc_scale(x)).to_event(1))

    # diagnose() wants a module holding both
    def model(self, x, indices=None, num_data=None):
        standard_model(x, indices, num_data)

    def guide(self, x, indices=None, num_data=None):
        self(x, indices, num_data)


def student_t(loc, scale):
    return dist.StudentT(4.0, loc, scale)


def quadrature_kl(log_q):
    """KL(q ‖ N(0, 1)) = ∫ q(z) [log q(z) − log N(z | 0, 1)] dz by adaptive quadrature, float64."""
    def integrand(z):
        lq = log_q(z)
        return math.exp(lq) * (lq + 0.5 * z * z + 0.5 * math.log(2 * math.pi))
    return integrate.quad(integrand, -math.inf, math.inf, epsabs=1e-12, epsrel=1e-10, limit=200)[0]


def reference_kl(x, log_density):
    """(1/n) Σ_i KL(q(z_j | x_i) ‖ N(0, 1)) per dimension j, each by quadrature."""
    loc, scale = loc_scale(x.double())
    return torch.tensor([[quadrature_kl(lambda z, m=float(m), s=float(s): log_density(z, m, s))
                          for m, s in zip(row_loc, row_scale)]
                         for row_loc, row_scale in zip(loc, scale)], dtype=torch.float64).mean(0)


def laplace_log_density(z, m, s):
    return -abs(z - m) / s - math.log(2 * s)


def student_t_log_density(z, m, s, df=4.0):
    return (math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
            - math.log(s) - (df + 1) / 2 * math.log1p(((z - m) / s) ** 2 / df))


@pytest.fixture
def x():
    torch.manual_seed(0)
    return torch.randn(30, LATENT, dtype=torch.float64) * 1.5


def test_laplace_guide_kl_is_the_exact_laplace_normal_kl(x):
    result = collapse_diagnostics(standard_model, Guide(dist.Laplace), x, num_samples=8)
    assert result["kl_method"] == "closed form"
    expected = reference_kl(x, laplace_log_density)
    torch.testing.assert_close(result["kl_per_dim"], expected, rtol=1e-8, atol=1e-10)
    assert (result["kl_se"] == 0).all()
    # The Gaussian formula at the Laplace's moments (variance 2 b²) is another number.
    loc, scale = loc_scale(x)
    moments = gaussian_kl(loc, 2 * scale ** 2, 0.0, 1.0).mean(0)
    assert ((moments - result["kl_per_dim"]).abs() > 0.01).all()


def test_normal_guide_kl_is_the_closed_form(x):
    result = collapse_diagnostics(standard_model, Guide(dist.Normal), x, num_samples=3)
    assert result["kl_method"] == "closed form"
    loc, scale = loc_scale(x)
    expected = torch.stack([gaussian_kl_to_standard(loc[:, j:j + 1], scale[:, j:j + 1])
                            for j in range(LATENT)], -1).mean(0)
    torch.testing.assert_close(result["kl_per_dim"], expected)


def test_full_rank_guide_kl_uses_its_normal_marginals(x):
    class FullRank(nn.Module):
        def forward(self, x, indices=None, num_data=None):
            loc, scale = loc_scale(x)
            tril = torch.diag_embed(scale) + torch.tensor([[0.0, 0.0], [0.4, 0.0]],
                                                          dtype=x.dtype)
            with data_plate(x, indices, num_data):
                pyro.sample("z", dist.MultivariateNormal(loc, scale_tril=tril))

    result = collapse_diagnostics(standard_model, FullRank(), x, num_samples=3)
    assert result["kl_method"] == "closed form"
    loc, scale = loc_scale(x)
    sd = torch.stack([scale[:, 0], (scale[:, 1] ** 2 + 0.4 ** 2).sqrt()], -1)
    expected = torch.stack([gaussian_kl_to_standard(loc[:, j:j + 1], sd[:, j:j + 1])
                            for j in range(LATENT)], -1).mean(0)
    torch.testing.assert_close(result["kl_per_dim"], expected)


def test_without_a_closed_form_the_kl_is_a_monte_carlo_estimate_with_its_error(x):
    """Student-t against Normal has no KL in torch: E_q[log q − log p] from S draws."""
    with pytest.raises(NotImplementedError):
        torch.distributions.kl_divergence(student_t(x, 1.0), dist.Normal(0.0, 1.0))
    pyro.set_rng_seed(1)
    result = collapse_diagnostics(standard_model, Guide(student_t), x, num_samples=256)
    se = result["kl_se"]
    assert result["kl_method"] == f"monte carlo (256 draws per row), se <= {float(se.max()):.2g}"
    assert ((0 < se) & (se < 0.02)).all()
    expected = reference_kl(x, student_t_log_density)
    assert ((result["kl_per_dim"] - expected).abs() < 4 * se).all()


def test_a_guide_without_marginal_densities_is_labelled_an_approximation(x):
    class Mixture(nn.Module):
        def forward(self, x, indices=None, num_data=None):
            loc, scale = loc_scale(x)
            components = dist.Normal(torch.stack([loc, -loc], -2),
                                     torch.stack([scale, scale], -2)).to_event(1)
            weights = dist.Categorical(logits=x.new_zeros(x.shape[0], 2))
            with data_plate(x, indices, num_data):
                pyro.sample("z", dist.MixtureSameFamily(weights, components))

    result = collapse_diagnostics(standard_model, Mixture(), x, num_samples=16)
    assert result["kl_method"].startswith("gaussian approximation")
    assert torch.isnan(result["kl_se"]).all()


@pytest.mark.filterwarnings("ignore:num_samples:UserWarning")
def test_diagnose_reports_the_kl_and_how_it_was_computed(tmp_path, x):
    data = DataSplit(train=x[:10].float(), test=x.float())
    diagnose(Guide(dist.Laplace), data, tmp_path, num_samples=50, max_rows=10, quiet=True)
    record = json.loads((tmp_path / "diagnostics.json").read_text())
    assert record["kl_method"] == "closed form"
    assert record["kl_se"] == [0.0, 0.0]
    expected = reference_kl(x.float(), laplace_log_density)
    torch.testing.assert_close(torch.tensor(record["kl_per_dim"], dtype=torch.float64), expected,
                               rtol=1e-5, atol=1e-6)
    assert "closed form" in (tmp_path / "report.html").read_text()

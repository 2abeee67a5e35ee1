"""to_inference_data: groups, dims and sizes exactly, and draws that agree across groups."""

import re
from pathlib import Path

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from conftest import GaussianGuide
from torch import nn

import pyro_lvm
from pyro_lvm import VAE
from pyro_lvm.diagnostics import arviz_adapter, to_inference_data
from pyro_lvm.plates import data_plate

D, K, SIGMA = 5, 2, 0.7


class BiasedLinearGaussian(nn.Module):
    """A global latent b ~ N(0, I_d) outside the plate: x_i | z_i, b ~ N(W z_i + b, σ² I)."""

    def __init__(self):
        super().__init__()
        self.weight = torch.randn(D, K, dtype=torch.float64)

    def loc(self, z, b):
        return (z.unsqueeze(-2) * self.weight).sum(-1) + b

    def model(self, x, indices=None, num_data=None):
        b = pyro.sample("b", dist.Normal(x.new_zeros(D), 1.0).to_event(1))
        with data_plate(x, indices, num_data):
            z = pyro.sample("z", dist.Normal(x.new_zeros(K), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(self.loc(z, b), SIGMA).to_event(1), obs=x)

    @staticmethod
    def q_b(x):
        return dist.Normal(x.new_full((D,), 0.1), 0.5).to_event(1)

    @staticmethod
    def q_z(x):
        return dist.Normal(0.3 * x[..., :K], 0.8).to_event(1)

    def guide(self, x, indices=None, num_data=None):
        pyro.sample("b", self.q_b(x))
        with data_plate(x, indices, num_data):
            pyro.sample("z", self.q_z(x))


def test_groups_dims_and_sizes_are_exact(linear_gaussian):
    lg, x = linear_gaussian
    n = x.shape[0]
    idata = to_inference_data(lg.model, GaussianGuide(lg.posterior, 0.2, 1.3), x,
                              num_samples=60, num_predictive=25, max_cells=7 * n)
    expected = {
        "posterior": {"z": (("chain", "draw", "obs", "latent"), (1, 60, n, K))},
        "posterior_predictive": {"x": (("chain", "draw", "obs", "feature"), (1, 25, n, D))},
        "log_likelihood": {"x": (("chain", "draw", "obs"), (1, 60, n))},
        "sample_stats": {"log_weight": (("chain", "draw", "obs"), (1, 60, n))},
        "observed_data": {"x": (("obs", "feature"), (n, D))},
    }
    assert set(arviz_adapter.group_names(idata)) == set(expected)
    for group, variables in expected.items():
        assert set(idata[group].data_vars) == set(variables)
        for name, (dims, shape) in variables.items():
            assert idata[group][name].dims == dims
            assert idata[group][name].shape == shape
    np.testing.assert_array_equal(idata["posterior"]["obs"].values, np.arange(n))
    np.testing.assert_array_equal(idata["posterior"]["latent"].values, np.arange(K))
    np.testing.assert_array_equal(idata["observed_data"]["x"].values, x.numpy())


def test_exact_posterior_gives_constant_log_weights_equal_to_log_px(linear_gaussian):
    lg, x = linear_gaussian
    idata = to_inference_data(lg.model, GaussianGuide(lg.posterior), x, num_samples=30)
    log_w = idata["sample_stats"]["log_weight"].values[0]
    np.testing.assert_allclose(log_w, np.broadcast_to(lg.log_marginal(x).numpy(), log_w.shape),
                               atol=1e-9)


def test_global_latents_and_every_group_come_from_the_same_draws():
    torch.manual_seed(3)
    lvm = BiasedLinearGaussian()
    x = torch.randn(6, D, dtype=torch.float64)
    # 50 draws in chunks of 16: the predictive draws (20) cross a chunk boundary.
    idata = to_inference_data(lvm.model, lvm.guide, x, num_samples=50, num_predictive=20,
                              max_cells=100)
    b = torch.from_numpy(idata["posterior"]["b"].values[0])
    z = torch.from_numpy(idata["posterior"]["z"].values[0])
    assert idata["posterior"]["b"].dims == ("chain", "draw", "b_dim_0")
    assert b.shape == (50, D) and z.shape == (50, 6, K)
    loc = lvm.loc(z, b.unsqueeze(1))                                     # (draw, obs, D)
    log_lik = dist.Normal(loc, SIGMA).to_event(1).log_prob(x)
    np.testing.assert_allclose(idata["log_likelihood"]["x"].values[0], log_lik.numpy(),
                               atol=1e-10)
    # log w_i = log p(x_i | z_i, b) + log p(z_i) − log q(z_i | x_i) + [log p(b) − log q(b)] / n
    prior_z = dist.Normal(torch.zeros(K, dtype=torch.float64), 1.0).to_event(1)
    prior_b = dist.Normal(torch.zeros(D, dtype=torch.float64), 1.0).to_event(1)
    expected = (log_lik + prior_z.log_prob(z) - lvm.q_z(x).log_prob(z)
                + ((prior_b.log_prob(b) - lvm.q_b(x).log_prob(b)) / 6).unsqueeze(-1))
    np.testing.assert_allclose(idata["sample_stats"]["log_weight"].values[0], expected.numpy(),
                               atol=1e-10)
    # x̃ ~ N(W z_s + b_s, σ²) for the first 20 draws: standardized residuals are N(0, 1).
    predicted = torch.from_numpy(idata["posterior_predictive"]["x"].values[0])
    residual = (predicted - loc[:20]) / SIGMA
    assert abs(float(residual.mean())) < 0.15 and 0.85 < float(residual.std()) < 1.15


def test_a_guide_that_cannot_run_on_x_is_a_clear_error():
    vae = VAE(8, latent_dim=2, hidden=(4,))
    with pytest.raises(ValueError, match=re.escape("x: got 'a torch.float32 tensor of shape "
                                                   "(5, 3)'") + ".*the guide can be evaluated"):
        to_inference_data(vae.model, vae.guide, torch.rand(5, 3), num_samples=4)
    with pytest.raises(TypeError, match="x: got ndarray"):
        to_inference_data(vae.model, vae.guide, np.zeros((5, 8)), num_samples=4)
    with pytest.raises(ValueError, match="num_samples: got 0"):
        to_inference_data(vae.model, vae.guide, torch.rand(5, 8), num_samples=0)


def test_arviz_is_imported_by_the_adapter_only():
    package = Path(pyro_lvm.__file__).parent
    importers = sorted(str(path.relative_to(package)) for path in package.rglob("*.py")
                       if re.search(r"^\s*(import arviz|from arviz)", path.read_text(), re.M))
    assert importers == ["diagnostics/arviz_adapter.py"]

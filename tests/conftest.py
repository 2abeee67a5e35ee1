"""Shared fixtures: a linear-Gaussian model whose log p(x) and posterior are known exactly."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn

from pyro_lvm.plates import data_plate


class LinearGaussian(nn.Module):
    """z ~ N(0, I_k), x | z ~ N(W z + b, σ² I_d): log p(x) = log N(x | b, W Wᵀ + σ² I)."""

    def __init__(self, weight, bias, sigma):
        super().__init__()
        self.weight, self.bias, self.sigma = weight, bias, sigma

    def model(self, x, indices=None, num_data=None):
        k = self.weight.shape[1]
        with data_plate(x, indices, num_data):
            z = pyro.sample("z", dist.Normal(x.new_zeros(k), 1.0).to_event(1))
            loc = (z.unsqueeze(-2) * self.weight).sum(-1) + self.bias
            pyro.sample("x", dist.Normal(loc, self.sigma).to_event(1), obs=x)

    def log_marginal(self, x):
        cov = self.weight @ self.weight.T + self.sigma ** 2 * torch.eye(self.weight.shape[0],
                                                                          dtype=x.dtype)
        return dist.MultivariateNormal(self.bias, covariance_matrix=cov).log_prob(x)

    def posterior(self, x):
        """p(z | x) = N(Σ Wᵀ (x − b) / σ², Σ), Σ = (I + Wᵀ W / σ²)⁻¹."""
        k = self.weight.shape[1]
        precision = torch.eye(k, dtype=x.dtype) + self.weight.T @ self.weight / self.sigma ** 2
        cov = torch.linalg.inv(precision)
        mean = (x - self.bias) @ self.weight @ cov / self.sigma ** 2
        return mean, cov


class GaussianGuide(nn.Module):
    """q(z | x) = N(m(x) + shift · sd, inflate · S) from ``posterior(x) -> (m, S)``.

    ``shift`` is in posterior standard deviations, so the distortion is the same whatever the
    posterior's width.
    """

    def __init__(self, posterior, shift=0.0, inflate=1.0):
        super().__init__()
        self.posterior, self.shift, self.inflate = posterior, shift, inflate

    def forward(self, x, indices=None, num_data=None):
        mean, cov = self.posterior(x)
        with data_plate(x, indices, num_data):
            sd = torch.diagonal(cov, dim1=-2, dim2=-1).sqrt()
            pyro.sample("z", dist.MultivariateNormal(mean + self.shift * sd,
                                                     covariance_matrix=cov * self.inflate))


@pytest.fixture
def correlated_linear_gaussian():
    """A linear-Gaussian model whose posterior p(z | x) has strongly correlated coordinates."""
    torch.manual_seed(0)
    d = 5
    first = torch.randn(d, dtype=torch.float64)
    weight = torch.stack([first, first + 0.4 * torch.randn(d, dtype=torch.float64)], -1)
    lg = LinearGaussian(weight, torch.zeros(d, dtype=torch.float64), 0.7)
    with torch.no_grad():
        x = torch.randn(30, 2, dtype=torch.float64) @ weight.T
        x = x + 0.7 * torch.randn(30, d, dtype=torch.float64)
    return lg, x


@pytest.fixture
def linear_gaussian():
    torch.manual_seed(0)
    d, k = 5, 2
    weight = torch.randn(d, k, dtype=torch.float64)
    bias = torch.randn(d, dtype=torch.float64)
    lg = LinearGaussian(weight, bias, 0.7)
    with torch.no_grad():
        z = torch.randn(40, k, dtype=torch.float64)
        x = z @ weight.T + bias + 0.7 * torch.randn(40, d, dtype=torch.float64)
    return lg, x


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """The test models are tiny: one thread runs them faster, and steadier on a busy 2-core
    machine, than two threads contending for the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _seed_and_clean():
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    yield


def gaussian_kl_to_standard(loc, scale):
    """KL(N(μ, σ²) ‖ N(0, I)) = ½ Σ (μ² + σ² − 1 − log σ²), the closed form from the lecture."""
    return 0.5 * (loc ** 2 + scale ** 2 - 1 - 2 * torch.log(scale)).sum(-1)


LOG_2PI = math.log(2 * math.pi)

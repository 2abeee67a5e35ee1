"""Estimators of log p(x) and the ELBO against a model where both are known exactly."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from conftest import GaussianGuide, gaussian_kl_to_standard
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO

from pyro_lvm.infer import (bits_per_dim, elbo_per_datapoint, evaluate_per_datapoint,
                            importance_log_likelihood, log_weights, naive_log_likelihood)
from pyro_lvm.infer.evaluation import particle_chunks
from pyro_lvm.plates import data_plate


def test_exact_posterior_gives_constant_weights_and_exact_log_px(linear_gaussian):
    lg, x = linear_gaussian
    guide = GaussianGuide(lg.posterior)
    log_w = log_weights(lg.model, guide, x, 64)
    exact = lg.log_marginal(x)
    assert log_w.shape == (64, x.shape[0])
    # log p(x, z) - log p(z | x) = log p(x) for every z: the weights do not vary.
    assert torch.allclose(log_w, exact.expand_as(log_w), atol=1e-9)
    result = evaluate_per_datapoint(lg.model, guide, x, num_samples=16)
    assert torch.allclose(result["elbo"], exact, atol=1e-9)
    assert torch.allclose(result["log_px"], exact, atol=1e-9)
    assert result["gap"].abs().max() < 1e-9


def test_importance_estimate_converges_and_brackets(linear_gaussian):
    lg, x = linear_gaussian
    guide = GaussianGuide(lg.posterior, shift=0.3, inflate=1.5)
    exact = lg.log_marginal(x)
    result = evaluate_per_datapoint(lg.model, guide, x, num_samples=5000)
    # ELBO <= log p̂(x) holds draw by draw (Jensen on the same weights).
    assert (result["elbo"] <= result["log_px"] + 1e-12).all()
    # The ELBO is a bound on the exact value, and visibly below it for a wrong guide.
    assert (result["elbo"] < exact).all()
    assert (exact - result["elbo"]).mean() > 0.1
    # With K = 5000 the importance estimate is within Monte Carlo error of the truth.
    assert (result["log_px"] - exact).abs().max() < 0.02
    # The gap estimates KL(q || p(z|x)) between two Gaussians, known in closed form.
    mean, cov = lg.posterior(x)
    sd = torch.diagonal(cov, dim1=-2, dim2=-1).sqrt()
    q = dist.MultivariateNormal(mean + 0.3 * sd, covariance_matrix=cov * 1.5)
    p = dist.MultivariateNormal(mean, covariance_matrix=cov)
    kl = torch.distributions.kl_divergence(q, p)
    assert torch.allclose(exact - result["elbo"], kl, atol=0.05)


def test_importance_error_shrinks_with_k(linear_gaussian):
    lg, x = linear_gaussian
    guide = GaussianGuide(lg.posterior, shift=0.5, inflate=2.0)
    exact = lg.log_marginal(x)
    errors = [float((importance_log_likelihood(lg.model, guide, x, k) - exact).abs().mean())
              for k in (2, 2000)]
    assert errors[1] < errors[0] / 5


def test_naive_estimate_is_right_in_low_dimension_and_fails_in_high():
    torch.manual_seed(1)

    def model_for(k, d=8, sigma=0.3):
        weight = torch.randn(d, k, dtype=torch.float64) / math.sqrt(k) * 2
        from conftest import LinearGaussian
        return LinearGaussian(weight, torch.zeros(d, dtype=torch.float64), sigma)

    low, high = model_for(1), model_for(6)
    x_low = torch.randn(20, 8, dtype=torch.float64) @ torch.eye(8, dtype=torch.float64)
    errors = {}
    for name, lg in (("low", low), ("high", high)):
        with torch.no_grad():
            z = torch.randn(20, lg.weight.shape[1], dtype=torch.float64)
            x = z @ lg.weight.T + 0.3 * torch.randn(20, 8, dtype=torch.float64)
        estimate = naive_log_likelihood(lg.model, x, num_samples=4000)
        errors[name] = float((lg.log_marginal(x) - estimate).mean())
    del x_low
    # The naive estimate is (in expectation) below log p(x): it misses the small region of z
    # that explains x; with one latent dimension 4000 prior draws cover it, with six they do not.
    assert abs(errors["low"]) < 0.05
    assert errors["high"] > 1.0


def test_chunking_bounds_the_work_per_call():
    assert particle_chunks(5000, 256, 2 ** 16) == [256] * 19 + [136]
    assert sum(particle_chunks(5000, 256, 2 ** 16)) == 5000
    assert particle_chunks(10, 10 ** 6, 2 ** 16) == [1] * 10
    assert particle_chunks(7, 2, 100) == [7]


def test_chunked_and_unchunked_agree_within_monte_carlo_error(linear_gaussian):
    lg, x = linear_gaussian
    guide = GaussianGuide(lg.posterior, shift=0.3)
    one = evaluate_per_datapoint(lg.model, guide, x, num_samples=3000, max_cells=10 ** 9)
    many = evaluate_per_datapoint(lg.model, guide, x, num_samples=3000, batch_size=7,
                                  max_cells=7 * 300)
    exact = lg.log_marginal(x)
    for result in (one, many):
        assert (result["log_px"] - exact).abs().max() < 0.05
    assert torch.allclose(one["elbo"], many["elbo"], atol=0.05)


def _kl_model_and_guide(loc, scale):
    """Model z ~ N(0, I) plus an observation that does not depend on z: −ELBO = KL − log N(0|0,1)."""
    def model(x, indices=None, num_data=None):
        with data_plate(x, indices, num_data):
            pyro.sample("z", dist.Normal(torch.zeros_like(loc), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(0.0, 1.0).expand([x.shape[0], 1]).to_event(1), obs=x)

    def guide(x, indices=None, num_data=None):
        with data_plate(x, indices, num_data):
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    return model, guide


def test_closed_form_gaussian_kl_against_both_elbos():
    torch.manual_seed(3)
    loc = torch.randn(4, 3, dtype=torch.float64)
    scale = torch.rand(4, 3, dtype=torch.float64) + 0.3
    x = torch.zeros(4, 1, dtype=torch.float64)
    model, guide = _kl_model_and_guide(loc, scale)
    kl = gaussian_kl_to_standard(loc, scale).sum()
    constant = 4 * 0.5 * math.log(2 * math.pi)  # −Σ log N(0 | 0, 1)
    analytic = TraceMeanField_ELBO().loss(model, guide, x)
    assert analytic == pytest.approx(float(kl) + constant, abs=1e-9)
    sampled = Trace_ELBO(num_particles=20000, vectorize_particles=True,
                         max_plate_nesting=1).loss(model, guide, x)
    assert sampled == pytest.approx(float(kl) + constant, abs=0.03)
    # The package's per-datapoint ELBO estimator gives the same number, row by row.
    per_row = elbo_per_datapoint(model, guide, x, num_samples=20000)
    expected = -(gaussian_kl_to_standard(loc, scale) + 0.5 * math.log(2 * math.pi))
    assert torch.allclose(per_row, expected, atol=0.03)


def test_bits_per_dim():
    assert float(bits_per_dim(torch.tensor(-64 * math.log(2.0)), 64)) == pytest.approx(1.0)


def test_bad_arguments(linear_gaussian):
    lg, x = linear_gaussian
    guide = GaussianGuide(lg.posterior)
    with pytest.raises(ValueError, match="num_samples: got 0"):
        evaluate_per_datapoint(lg.model, guide, x, num_samples=0)
    with pytest.raises(ValueError, match="batch_size: got -1"):
        evaluate_per_datapoint(lg.model, guide, x, batch_size=-1)


def test_latents_the_guide_leaves_out_are_proposed_by_the_prior(linear_gaussian):
    lg, x = linear_gaussian

    def empty_guide(x, indices=None, num_data=None):
        pass

    pyro.set_rng_seed(7)
    with_empty = importance_log_likelihood(lg.model, empty_guide, x, 500)
    pyro.set_rng_seed(7)
    naive = naive_log_likelihood(lg.model, x, 500)
    # Both are importance sampling with the prior as proposal: the same draws, the same numbers.
    assert torch.allclose(with_empty, naive)
    assert (naive - lg.log_marginal(x)).abs().mean() < 0.3

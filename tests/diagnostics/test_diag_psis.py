"""PSIS k̂: the known answer, mean-field against full-rank, and the too-few-draws warning."""

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from conftest import GaussianGuide
from torch import nn

from pyro_lvm.diagnostics import arviz_adapter
from pyro_lvm.diagnostics import draws_needed, khat_bins, psis_diagnostics, reweighted_means
from pyro_lvm.infer import fit_local_guide, log_weights
from pyro_lvm.infer.traces import particle_trace, trace_log_weights
from pyro_lvm.plates import data_plate


class FixedNormalGuide(nn.Module):
    """q(z | x_i) = N(loc_i, L_i L_iᵀ) given per row; ``diagonal`` makes it mean-field."""

    def __init__(self, loc, scale_tril, diagonal):
        super().__init__()
        self.loc, self.scale_tril, self.diagonal = loc, scale_tril, diagonal

    def distribution(self, x):
        if self.diagonal:
            scale = torch.diagonal(self.scale_tril, dim1=-2, dim2=-1)
            return dist.Normal(self.loc, scale).to_event(1)
        return dist.MultivariateNormal(self.loc, scale_tril=self.scale_tril)

    def forward(self, x, indices=None, num_data=None):
        with data_plate(x, indices, num_data):
            pyro.sample("z", self.distribution(x))


@pytest.mark.slow
def test_known_answer_normal_proposal_for_a_wider_normal_target():
    """Proposal N(0, 1), target N(0, 1.5²): w ∝ exp(z² (1 − 1/1.5²) / 2), whose tail has Pareto
    shape k = 1 − 1/1.5² = 0.556.  Measured with arviz 0.23 at S = 10⁴ draws over 200 estimates:
    mean k̂ 0.5245, sd 0.091 (0.531 at S = 10⁶: the estimate approaches k from below).  The mean of
    400 estimates thus lies within 0.03 (bias) + 3 × 0.091/√400 ≈ 0.045 of 0.556; we allow 0.06.
    Passing −log w instead (the arviz-stats convention) gives k̂ ≈ −1.6."""
    torch.manual_seed(1)
    z = torch.randn(10_000, 400, dtype=torch.float64)
    log_w = dist.Normal(0.0, 1.5).log_prob(z) - dist.Normal(0.0, 1.0).log_prob(z)
    result = psis_diagnostics(log_w)
    assert result["khat"].shape == (400,) and result["num_draws"] == 10_000
    assert abs(result["khat"].mean() - (1 - 1 / 1.5 ** 2)) < 0.06
    assert result["log_weights"].shape == (10_000, 400)
    np.testing.assert_allclose(np.exp(result["log_weights"]).sum(0), 1.0, rtol=1e-9)
    assert ((1 < result["ess"]) & (result["ess"] < 10_000)).all()


@pytest.mark.slow
def test_mean_field_fails_and_full_rank_passes_on_a_correlated_posterior(
        correlated_linear_gaussian):
    lg, x = correlated_linear_gaussian
    mean, cov = lg.posterior(x)
    assert abs(float(cov[0, 1] / cov.diagonal().prod().sqrt())) > 0.9
    # The best mean-field Gaussian in KL(q ‖ p) has the posterior's mean and precisions
    # diag(Σ⁻¹): narrower than the posterior along its long axis (Bishop 2006, §10.1.2).
    sd = torch.linalg.inv(cov).diagonal().rsqrt()
    start = torch.diag_embed(sd).expand(x.shape[0], 2, 2)
    mean_field = FixedNormalGuide(mean, start, diagonal=True)
    # The full-rank family, fitted from the same start, can turn its axes with the posterior.
    full_rank = fit_local_guide(lg.model, FixedNormalGuide(mean, start, diagonal=False), x,
                                steps=150, learning_rate=3e-2)
    num_draws = draws_needed()
    khat = {name: psis_diagnostics(log_weights(lg.model, guide, x, num_draws))["khat"]
            for name, guide in (("mean-field", mean_field), ("full-rank", full_rank))}
    assert np.median(khat["mean-field"]) > 0.7
    assert khat_bins(khat["mean-field"])["share_khat_bad"] > 0.5
    assert khat["full-rank"].max() < 0.7


def test_too_few_draws_warns_with_the_number_needed(linear_gaussian):
    lg, x = linear_gaussian
    assert draws_needed() == 2155 == math.ceil(10 ** (1 / 0.3))
    log_w = log_weights(lg.model, GaussianGuide(lg.posterior, 0.3, 1.5), x, 200)
    with pytest.warns(UserWarning, match="200 draws .* below .* = 0.57; the 0.7 threshold needs "
                                         "at least 2155 draws"):
        psis_diagnostics(log_w)
    with pytest.raises(ValueError, match=r"log_weights: got \(1, 40\)"):
        psis_diagnostics(log_w[:1])


@pytest.mark.filterwarnings("ignore:num_samples")
def test_an_exact_guide_has_khat_minus_infinity_and_full_ess(linear_gaussian):
    lg, x = linear_gaussian
    result = psis_diagnostics(log_weights(lg.model, GaussianGuide(lg.posterior), x, 500))
    assert np.isneginf(result["khat"]).all()
    np.testing.assert_allclose(result["ess"], 500)
    assert khat_bins(result["khat"])["khat_good"] == x.shape[0]


def test_khat_bins_count_each_band():
    bins = khat_bins([-np.inf, 0.1, 0.5, 0.51, 0.7, 0.71, 2.0, np.inf])
    assert (bins["khat_good"], bins["khat_ok"], bins["khat_bad"]) == (3, 2, 3)
    assert bins["share_khat_bad"] == 3 / 8


def test_reweighted_means_correct_a_shifted_guide(linear_gaussian):
    lg, x = linear_gaussian
    guide = GaussianGuide(lg.posterior, shift=0.5, inflate=1.5)
    num_draws = 4000
    drawn = particle_trace(guide, x, num_draws)
    model_trace = particle_trace(lg.model, x, num_draws, replay=drawn)
    result = psis_diagnostics(trace_log_weights(model_trace, drawn, x, num_draws))
    z = drawn.nodes["z"]["value"]
    means = reweighted_means(z, result["log_weights"], result["khat"])
    exact, cov = lg.posterior(x)
    sd = cov.diagonal().sqrt()
    assert means.shape == (x.shape[0], 2)
    # The guide is 0.5 sd off; reweighting brings the mean back to within Monte Carlo error.
    assert np.abs((means - exact.numpy()) / sd.numpy()).max() < 0.15
    khat = result["khat"].copy()
    khat[0] = 0.9
    assert np.isnan(reweighted_means(z, result["log_weights"], khat)[0]).all()


def test_too_few_draws_for_a_pareto_fit_give_an_infinite_khat_under_either_arviz():
    log_w = np.random.default_rng(0).normal(size=(3, 20))
    smoothed, khat = arviz_adapter.psis(log_w)
    assert np.isinf(khat).all()
    np.testing.assert_allclose(np.exp(smoothed).sum(-1), 1.0)
    _, khat = arviz_adapter.psis(np.random.default_rng(0).normal(size=(3, 100)))
    assert np.isfinite(khat).all()

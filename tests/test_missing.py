"""Missing values: a masked entry has no influence, the encoder sees the MIWAE inputs, and
imputation recovers the closed-form conditional mean of a linear-Gaussian model."""

import math

import numpy as np
import pyro
import pytest
import torch

from pyro_lvm import VAE, elbo_per_datapoint, importance_log_likelihood
from pyro_lvm.guides import EncoderInputs, InputsGuide
from pyro_lvm.infer import impute, impute_draws
from pyro_lvm.likelihoods import TableLikelihood
from pyro_lvm.nn import inverse_positive


def _with_holes(x, fraction=0.3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    holes = torch.rand(x.shape, generator=generator) < fraction
    holes[holes.all(1), 0] = False  # no row missing entirely
    return x.masked_fill(holes, math.nan)


def _loss(vae, x, seed=0):
    pyro.set_rng_seed(seed)
    return pyro.infer.Trace_ELBO().differentiable_loss(vae.model, vae.guide, x)


@pytest.mark.parametrize("likelihood", ["gaussian", "negbinom", "bernoulli"])
def test_a_missing_entry_changes_neither_the_loss_nor_its_gradient(likelihood):
    """The filled value behind a NaN is invisible: set the fill to something else and the
    loss and every gradient are the same."""
    torch.manual_seed(0)
    vae = VAE(6, latent_dim=2, hidden=(8,), likelihood=likelihood, missing=True)
    x = _with_holes(torch.randint(0, 2, (10, 6)).float())
    loss = _loss(vae, x)
    grads = torch.autograd.grad(loss, list(vae.parameters()), allow_unused=True)
    vae.likelihood.fill_value = 1.0  # another value in every support here
    other = _loss(vae, x)
    other_grads = torch.autograd.grad(other, list(vae.parameters()), allow_unused=True)
    assert torch.equal(loss, other)
    for a, b in zip(grads, other_grads):
        assert (a is None and b is None) or torch.equal(a, b)


def test_the_masked_elbo_is_the_elbo_of_the_observed_entries():
    """log p(x_obs | z) is the sum of the observed entries' terms: checked against the
    decoder's Normal at the guide's draw."""
    torch.manual_seed(1)
    vae = VAE(5, latent_dim=2, hidden=(8,), likelihood="gaussian", missing=True)
    x = _with_holes(torch.randn(7, 5))
    trace = pyro.poutine.trace(vae.guide).get_trace(x)
    model = pyro.poutine.trace(pyro.poutine.replay(vae.model, trace)).get_trace(x)
    z = trace.nodes["z"]["value"]
    normal = torch.distributions.Normal(vae.decoder(z), vae.likelihood.scale)
    expected = torch.where(torch.isnan(x), 0.0, normal.log_prob(torch.nan_to_num(x))).sum(-1)
    site = model.nodes["x"]
    assert torch.allclose(site["fn"].log_prob(site["value"]), expected, atol=1e-5)


def test_the_encoder_sees_zero_filled_features_and_the_mask():
    likelihood = TableLikelihood([{"name": "g", "kind": "gaussian", "center": 2.0,
                                   "spread": 4.0},
                                  {"name": "c", "kind": "categorical", "levels": ["a", "b"]}])
    inputs = EncoderInputs(likelihood, missing=True)
    x = torch.tensor([[6.0, 1.0], [math.nan, 0.0], [2.0, math.nan]])
    assert inputs.num_features == 3 + 2
    assert torch.equal(inputs(x), torch.tensor([[1.0, 0.0, 1.0, 1.0, 1.0],
                                                [0.0, 1.0, 0.0, 0.0, 1.0],
                                                [0.0, 0.0, 0.0, 1.0, 0.0]]))
    vae = VAE(2, latent_dim=2, hidden=(4,), likelihood=likelihood.schema, missing=True)
    assert isinstance(vae.guide, InputsGuide) and vae.guide.guide.data_dim == 5
    # the likelihood's parameters belong to the model, not to the guide as well
    assert not any(name.startswith("guide.inputs") for name, _ in vae.named_parameters())
    assert not any("likelihood" in name for name, _ in vae.guide.named_parameters())


def test_a_plain_vae_is_unchanged_by_the_inputs():
    """Bernoulli and Gaussian VAEs without missing values keep their guide as it was (old
    checkpoints load)."""
    vae = VAE(4, latent_dim=2, hidden=(8,), likelihood="gaussian")
    assert not isinstance(vae.guide, InputsGuide)
    assert sorted(vae.state_dict()) == sorted(
        ["likelihood.raw_scale", "decoder.0.weight", "decoder.0.bias", "decoder.2.weight",
         "decoder.2.bias", "guide.net.0.weight", "guide.net.0.bias", "guide.net.2.weight",
         "guide.net.2.bias", "prior_loc", "prior_scale"])


def test_estimates_bound_log_p_of_the_observed_entries():
    torch.manual_seed(2)
    vae = VAE(5, latent_dim=2, hidden=(8,), likelihood="gaussian", missing=True)
    x = _with_holes(torch.randn(20, 5))
    elbo = elbo_per_datapoint(vae.model, vae.guide, x, num_samples=200)
    log_px = importance_log_likelihood(vae.model, vae.guide, x, num_samples=200)
    assert torch.isfinite(log_px).all() and (elbo <= log_px + 1e-4).all()
    # a row with fewer observed entries has fewer terms: dropping entries raises log p
    fewer = x.clone()
    fewer[:, 0] = math.nan
    fewer[torch.isnan(fewer).all(1), 1] = 0.0
    assert not torch.equal(importance_log_likelihood(vae.model, vae.guide, fewer, 200), log_px)


def _linear_gaussian(seed=0, data_dim=5, latent_dim=2, noise=0.5):
    torch.manual_seed(seed)
    vae = VAE(data_dim, latent_dim=latent_dim, hidden=(), likelihood="gaussian", scale=noise,
              missing=True).double()
    weight, bias = torch.randn(data_dim, latent_dim).double(), torch.randn(data_dim).double()
    with torch.no_grad():
        vae.decoder[0].weight.copy_(weight)
        vae.decoder[0].bias.copy_(bias)
        last = vae.guide.guide.net[-1]  # q(z | x) = p(z): a proposal that covers the posterior
        last.weight.zero_()
        last.bias.copy_(torch.cat([torch.zeros(latent_dim),
                                   inverse_positive(torch.ones(latent_dim))]))
    covariance = weight @ weight.T + noise ** 2 * torch.eye(data_dim, dtype=torch.float64)
    return vae, bias, covariance


def test_imputation_is_the_closed_form_conditional_mean_of_a_linear_gaussian_model():
    """x ~ N(b, WWᵀ + σ²I): E[x_m | x_o] = b_m + Σ_mo Σ_oo⁻¹ (x_o − b_o), within Monte Carlo
    error of the self-normalized importance estimate."""
    vae, bias, covariance = _linear_gaussian()
    x = torch.distributions.MultivariateNormal(bias, covariance).sample((40,))
    x = _with_holes(x, 0.4, seed=3)
    pyro.set_rng_seed(0)
    imputed = impute(vae, x, num_samples=20000)
    errors = []
    for row, filled in zip(x, imputed):
        m = torch.isnan(row)
        o = ~m
        assert torch.equal(filled[o], row[o])  # observed entries untouched
        if m.any():
            exact = bias[m] + covariance[m][:, o] @ torch.linalg.solve(
                covariance[o][:, o], row[o] - bias[o])
            errors.append((filled[m] - exact).abs().max())
    errors = torch.stack(errors)
    assert errors.median() < 0.02 and errors.max() < 0.1


def test_multiple_imputations_spread_as_the_conditional_distribution():
    """Draws of one missing entry have the closed-form conditional mean and variance."""
    vae, bias, covariance = _linear_gaussian(seed=4)
    row = torch.distributions.MultivariateNormal(bias, covariance).sample((1,))
    row[0, 0] = math.nan
    pyro.set_rng_seed(1)
    drawn = impute_draws(vae, row, draws=4000, num_samples=4000)[:, 0, 0]
    o = torch.arange(1, 5)
    gain = covariance[0, o] @ torch.linalg.inv(covariance[o][:, o])
    mean = bias[0] + gain @ (row[0, o] - bias[o])
    variance = covariance[0, 0] - gain @ covariance[o, 0]
    assert drawn.mean() == pytest.approx(float(mean), abs=4 * math.sqrt(variance / 4000) + 0.02)
    assert drawn.var() == pytest.approx(float(variance), rel=0.15)


def test_imputing_needs_a_model_of_missing_values():
    with pytest.raises(ValueError, match="missing=True"):
        impute(VAE(3, latent_dim=2, hidden=(4,), likelihood="gaussian"), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="rows of 3 columns"):
        impute(VAE(3, latent_dim=2, hidden=(4,), likelihood="gaussian", missing=True),
               torch.zeros(2, 4))


def test_a_plain_svi_loop_trains_a_model_with_missing_values():
    """Pyro's own loop over the masked model: the loss goes down and stays finite."""
    pyro.clear_param_store()
    torch.manual_seed(5)
    vae = VAE(6, latent_dim=2, hidden=(16,), likelihood="gaussian", missing=True)
    x = _with_holes(torch.randn(64, 2) @ torch.randn(2, 6), 0.3)
    svi = pyro.infer.SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 0.02}),
                         pyro.infer.Trace_ELBO())
    losses = [svi.step(x) for _ in range(300)]
    assert all(math.isfinite(loss) for loss in losses)
    assert sum(losses[-20:]) / 20 < sum(losses[:20]) / 20 - 50


def test_the_observed_site_keeps_the_missing_entries_missing():
    """The model observes x as given (NaN where missing), so its trace, arviz's
    ``observed_data`` and the posterior predictive check see missing values as missing."""
    from pyro_lvm import to_inference_data
    torch.manual_seed(6)
    vae = VAE(4, latent_dim=2, hidden=(8,), likelihood="gaussian", missing=True)
    x = _with_holes(torch.randn(12, 4))
    trace = pyro.poutine.trace(vae.model).get_trace(x)
    assert torch.equal(torch.isnan(trace.nodes["x"]["value"]), torch.isnan(x))
    assert torch.isfinite(trace.log_prob_sum())
    idata = to_inference_data(vae.model, vae.guide, x, num_samples=5)
    observed = idata["observed_data"]["x"].values
    assert np.array_equal(np.isnan(observed), torch.isnan(x).numpy())

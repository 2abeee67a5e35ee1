"""Reparametrized and score-function ELBO gradients: both unbiased, very different variances."""

import pyro.distributions as dist
import pytest
import torch
from pyro import poutine

from pyro_lvm.infer.gradients import NoRsample, gradient_variance, score_function_guide
from pyro_lvm.models.ppca import PPCA, PPCAParameters

D, K = 4, 2


@pytest.fixture
def gaussian_pair():
    """A PPCA with fixed parameters and its linear guide, away from the optimum, in float64."""
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(D, K, generator=g, dtype=torch.float64)
    loc = torch.randn(D, generator=g, dtype=torch.float64)
    ppca = PPCA(D, K).double().load_parameters(
        PPCAParameters(weight, loc, torch.tensor(1.0, dtype=torch.float64)))
    x = (torch.randn(6, K, generator=g, dtype=torch.float64) @ weight.T + loc
         + torch.randn(6, D, generator=g, dtype=torch.float64))
    return ppca, x


def _exact_gradient(ppca, x):
    """∇_φ ELBO = −∇_φ Σ_i KL(q_φ(z | x_i) ‖ p(z | x_i)): log p(x) does not depend on φ."""
    guide = ppca.guide
    mean, cov = ppca.posterior(x)
    q = guide.distribution(x).base_dist
    kl = torch.distributions.kl_divergence(
        dist.MultivariateNormal(q.loc, scale_tril=torch.diag_embed(q.scale.expand_as(q.loc))),
        dist.MultivariateNormal(mean.detach(), covariance_matrix=cov.detach())).sum()
    grads = torch.autograd.grad(-kl, list(guide.parameters()))
    return torch.cat([g.flatten() for g in grads])


@pytest.mark.slow
def test_both_estimators_are_unbiased_and_reparam_has_far_lower_variance(gaussian_pair):
    ppca, x = gaussian_pair
    exact = _exact_gradient(ppca, x)
    reparam = gradient_variance(ppca.model, ppca.guide, x, "reparam", num_estimates=300)
    score = gradient_variance(ppca.model, ppca.guide, x, "score", num_estimates=300)
    assert reparam.mean.shape == exact.shape == (D * K + K + K,)
    for stats in (reparam, score):
        assert (stats.mean - exact).abs().max() < 5 * stats.standard_error.max()
    difference = (reparam.mean - score.mean).abs()
    assert (difference < 5 * (reparam.standard_error ** 2 + score.standard_error ** 2).sqrt()).all()
    assert score.total_variance > 10 * reparam.total_variance
    # Nothing is left in .grad: the parameters are as they were.
    assert all(p.grad is None for p in ppca.guide.parameters())


def test_score_function_guide_cuts_the_pathwise_gradient(gaussian_pair):
    ppca, x = gaussian_pair
    trace = poutine.trace(score_function_guide(ppca.guide)).get_trace(x)
    site = trace.nodes["z"]
    assert isinstance(site["fn"], NoRsample) and not site["fn"].has_rsample
    assert not site["value"].requires_grad
    assert torch.allclose(site["fn"].log_prob(site["value"]),
                          ppca.guide.distribution(x).log_prob(site["value"]))
    assert trace.nodes["data"]["type"] == "sample"  # the plate's subsample site is untouched


@pytest.mark.parametrize("kwargs, error, message", [
    ({"estimator": "pathwise"}, ValueError, "estimator: got 'pathwise', expected one of"),
    ({"num_estimates": 1}, ValueError, "num_estimates: got 1, expected an integer >= 2"),
    ({"parameters": []}, ValueError, "parameters: got"),
])
def test_bad_arguments(gaussian_pair, kwargs, error, message):
    ppca, x = gaussian_pair
    with pytest.raises(error, match=message):
        gradient_variance(ppca.model, ppca.guide, x, **kwargs)


def test_a_guide_function_needs_its_parameters(gaussian_pair):
    ppca, x = gaussian_pair
    with pytest.raises(TypeError, match="guide: got function, expected a torch.nn.Module"):
        gradient_variance(ppca.model, lambda *args: ppca.guide(*args), x)

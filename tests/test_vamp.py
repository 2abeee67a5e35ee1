"""The VampPrior: p(z) is the mixture of the guide at the pseudo-inputs, every evaluator uses
it, and the gradient reaches the pseudo-inputs."""

import math

import pyro
import pytest
import torch

from pyro_lvm import VAE, importance_log_likelihood
from pyro_lvm.infer import log_weights


def _vae(**kwargs):
    torch.manual_seed(0)
    return VAE(6, latent_dim=3, hidden=(8,), likelihood="gaussian", prior="vamp:5", **kwargs)


def test_the_prior_is_the_mean_of_the_guide_at_the_pseudo_inputs():
    vae = _vae()
    z = torch.randn(10, 3)
    q = vae.guide.distribution(vae.vamp.pseudo_inputs)  # batch (5,)
    expected = torch.logsumexp(q.log_prob(z.unsqueeze(1)), dim=1) - math.log(5)
    assert torch.allclose(vae.prior().log_prob(z), expected, atol=1e-5)


def test_the_model_and_every_evaluator_use_it():
    vae = _vae()
    x = torch.randn(4, 6)
    pyro.set_rng_seed(1)
    guide = pyro.poutine.trace(vae.guide).get_trace(x)
    model = pyro.poutine.trace(pyro.poutine.replay(vae.model, guide)).get_trace(x)
    z = guide.nodes["z"]["value"]
    assert torch.allclose(model.nodes["z"]["fn"].log_prob(z), vae.prior().log_prob(z))
    pyro.set_rng_seed(2)
    log_w = log_weights(vae.model, vae.guide, x, 7)
    pyro.set_rng_seed(2)
    drawn = pyro.poutine.trace(pyro.plate("particles", 7, dim=-2)(vae.guide)).get_trace(x)
    zs = drawn.nodes["z"]["value"]
    manual = (vae.decode(zs).log_prob(x) + vae.prior().log_prob(zs)
              - vae.guide.distribution(x).log_prob(zs))
    assert torch.allclose(log_w, manual, atol=1e-4)
    assert torch.isfinite(importance_log_likelihood(vae.model, vae.guide, x, 50)).all()


def test_the_gradient_reaches_the_pseudo_inputs_and_every_parameter():
    vae = _vae(guide="fullrank")
    loss = pyro.infer.Trace_ELBO().differentiable_loss(vae.model, vae.guide, torch.randn(8, 6))
    loss.backward()
    for name, parameter in vae.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert vae.config["prior"] == "vamp:5"


@pytest.mark.parametrize("prior, guide, message", [
    ("vamp:0", "meanfield", "vamp:K"), ("vamp:x", "meanfield", "vamp:K"),
    ("mixture", "meanfield", "vamp:K"), ("vamp:3", "flow:iaf", "Normal distribution"),
])
def test_bad_priors_are_refused(prior, guide, message):
    with pytest.raises(ValueError, match=message):
        VAE(6, latent_dim=3, hidden=(8,), prior=prior, guide=guide)

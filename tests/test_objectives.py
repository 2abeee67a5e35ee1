"""DeviceTraceELBO and DeviceTraceMeanFieldELBO: Pyro's values and gradients, without host
synchronisations."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO

from pyro_lvm import DeviceTraceELBO, data_plate
from pyro_lvm import DeviceTraceMeanFieldELBO
from pyro_lvm.models import VAE

F64 = torch.float64


def _loss_and_grads(elbo, model, guide, parameters, *args):
    pyro.set_rng_seed(3)
    loss = elbo.differentiable_loss(model, guide, *args)
    return loss.detach(), torch.autograd.grad(loss, parameters)


def _same_as_pyro(model, guide, parameters, *args, pair=(DeviceTraceELBO, Trace_ELBO), **elbo_kwargs):
    ours = _loss_and_grads(pair[0](**elbo_kwargs), model, guide, parameters, *args)
    pyros = _loss_and_grads(pair[1](**elbo_kwargs), model, guide, parameters, *args)
    assert ours[0].item() == pytest.approx(pyros[0].item(), rel=1e-12)
    for got, expected in zip(ours[1], pyros[1]):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    return ours


@pytest.mark.parametrize("particles", [1, 4])
def test_reparametrized_vae_loss_and_gradient_match_trace_elbo(particles):
    torch.manual_seed(0)
    vae = VAE(6, latent_dim=2, hidden=(5,)).to(F64)
    x = (torch.rand(7, 6, dtype=F64) < 0.5).to(F64)
    parameters = list(vae.parameters())
    _, grads = _same_as_pyro(vae.model, vae.guide, parameters, x, torch.arange(7), 20,
                             num_particles=particles, vectorize_particles=particles > 1,
                             max_plate_nesting=1)
    assert all(g.abs().sum() > 0 for g in grads)


def test_score_function_terms_match_trace_elbo():
    """A discrete latent has no rsample: the surrogate carries log q · stop(log p − log q)."""
    logits = torch.tensor([0.3, -1.2, 0.8], dtype=F64, requires_grad=True)
    loc = torch.tensor(0.5, dtype=F64, requires_grad=True)
    x = torch.tensor([1.0, -0.5, 2.0], dtype=F64)

    def model(x):
        with pyro.plate("data", 3):
            z = pyro.sample("z", dist.Bernoulli(torch.tensor(0.4, dtype=F64)))
            pyro.sample("x", dist.Normal(loc + 2 * z, 1.0), obs=x)

    def guide(x):
        with pyro.plate("data", 3):
            pyro.sample("z", dist.Bernoulli(logits=logits))

    loss, (grad_logits, _) = _same_as_pyro(model, guide, [logits, loc], x)
    assert grad_logits.abs().sum() > 0  # the score term reaches the guide
    assert torch.isfinite(loss)


class _StudentTGuide(torch.nn.Module):
    """A guide with no closed-form KL to the Normal prior."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(6, 4)

    def forward(self, x, indices=None, num_data=None):
        loc, raw = self.net(x).chunk(2, -1)
        with data_plate(x, indices, num_data):
            pyro.sample("z", dist.StudentT(4.0, loc, torch.nn.functional.softplus(raw))
                        .to_event(1))


@pytest.mark.parametrize("guide", ["meanfield", "studentt"])
@pytest.mark.parametrize("particles", [1, 3])
def test_mean_field_loss_and_gradient_match_trace_mean_field_elbo(guide, particles):
    """Closed-form KL (Normal guide, Normal prior) and the Monte Carlo fallback (Student-t)."""
    torch.manual_seed(0)
    vae = VAE(6, latent_dim=2, hidden=(5,),
              guide=_StudentTGuide() if guide == "studentt" else "meanfield").to(F64)
    x = (torch.rand(7, 6, dtype=F64) < 0.5).to(F64)
    _, grads = _same_as_pyro(vae.model, vae.guide, list(vae.parameters()), x, torch.arange(7),
                             20, pair=(DeviceTraceMeanFieldELBO, TraceMeanField_ELBO),
                             num_particles=particles, vectorize_particles=particles > 1,
                             max_plate_nesting=1)
    assert all(g.abs().sum() > 0 for g in grads)

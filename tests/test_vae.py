"""The VAE model/guide pair follows the contract, trains every parameter, takes any guide."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from torch import nn

from pyro_lvm import VAE, TrainConfig, Trainer
from pyro_lvm.infer import evaluate_per_datapoint, log_weights
from pyro_lvm.plates import data_plate


def _binary_data(n=96, d=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    prototypes = (torch.rand(3, d, generator=g) > 0.5).float()
    rows = prototypes[torch.randint(0, 3, (n,), generator=g)]
    flips = (torch.rand(n, d, generator=g) < 0.1).float()
    return (rows + flips) % 2


def test_sites_shapes_and_plate_scaling():
    vae = VAE(12, latent_dim=3, hidden=(16,))
    x = _binary_data()[:8]
    indices = torch.arange(10, 18)
    guide_trace = poutine.trace(vae.guide).get_trace(x, indices, 96)
    model_trace = poutine.trace(poutine.replay(vae.model, guide_trace)).get_trace(x, indices, 96)
    z_site, x_site = model_trace.nodes["z"], model_trace.nodes["x"]
    assert z_site["fn"].event_shape == (3,) and z_site["fn"].batch_shape == (8,)
    assert x_site["is_observed"] and x_site["fn"].event_shape == (12,)
    assert [f.name for f in z_site["cond_indep_stack"]] == ["data"]
    # The minibatch is scaled up to the full data set: N / batch = 96 / 8.
    assert x_site["scale"] == pytest.approx(12.0) and z_site["scale"] == pytest.approx(12.0)
    assert torch.equal(model_trace.nodes["data"]["value"], indices)
    # The guide draws by reparametrization, so Trace_ELBO differentiates through z.
    assert guide_trace.nodes["z"]["fn"].has_rsample
    assert torch.equal(guide_trace.nodes["z"]["value"], z_site["value"])


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_broadcasts_under_a_particle_plate(likelihood):
    vae = VAE(12, latent_dim=3, hidden=(16,), likelihood=likelihood)
    x = _binary_data()[:5]
    assert log_weights(vae.model, vae.guide, x, 7).shape == (7, 5)


@pytest.mark.parametrize("likelihood,elbo,jit", [("bernoulli", "trace", False),
                                                  ("gaussian", "meanfield", False),
                                                  ("bernoulli", "trace", True)])
def test_every_parameter_gets_a_gradient_and_changes(likelihood, elbo, jit):
    vae = VAE(12, latent_dim=3, hidden=(16, 16), likelihood=likelihood)
    before = {name: p.detach().clone() for name, p in vae.named_parameters()}
    trainer = Trainer(vae, TrainConfig(epochs=1, batch_size=16, elbo=elbo, jit=jit), device="cpu")
    x = _binary_data()
    trainer.step(x[:16], torch.arange(16), 96)
    for name, p in vae.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    trainer.fit(x)
    for name, p in vae.named_parameters():
        assert not torch.equal(before[name], p.detach()), f"{name} did not change"
    if likelihood == "gaussian":
        assert any("raw_scale" in name for name in before)


def test_training_improves_the_test_log_likelihood_and_elbo_bounds_it():
    x = _binary_data(n=256)
    vae = VAE(12, latent_dim=2, hidden=(32,))
    before = evaluate_per_datapoint(vae.model, vae.guide, x[:64], num_samples=200)
    Trainer(vae, TrainConfig(epochs=30, batch_size=32, learning_rate=1e-2), device="cpu").fit(x[64:])
    after = evaluate_per_datapoint(vae.model, vae.guide, x[:64], num_samples=200)
    # From about 12 log 2 = 8.3 nats (coin flips) towards the ≈ 5 nats of the generating process.
    assert after["log_px"].mean() > before["log_px"].mean() + 1.5
    assert (after["elbo"] <= after["log_px"]).all()


class StudentTGuide(nn.Module):
    """A guide written by a user: q(z | x) = StudentT(ν = 5, μ(x), s(x)) per coordinate."""

    def __init__(self, data_dim, latent_dim):
        super().__init__()
        self.net = nn.Linear(data_dim, 2 * latent_dim)

    def forward(self, x, indices=None, num_data=None):
        loc, raw = self.net(x).chunk(2, -1)
        with data_plate(x, indices, num_data):
            pyro.sample("z", dist.StudentT(5.0, loc, nn.functional.softplus(raw) + 1e-4)
                        .to_event(1))


def test_a_user_guide_trains_with_the_vae():
    x = _binary_data(n=256)
    guide = StudentTGuide(12, 2)
    vae = VAE(12, latent_dim=2, hidden=(32,), guide=guide)
    assert vae.guide is guide
    initial = guide.net.weight.detach().clone()
    before = evaluate_per_datapoint(vae.model, vae.guide, x[:64], num_samples=100)["elbo"].mean()
    Trainer(vae, TrainConfig(epochs=30, batch_size=32, learning_rate=1e-2), device="cpu").fit(x[64:])
    after = evaluate_per_datapoint(vae.model, vae.guide, x[:64], num_samples=100)["elbo"].mean()
    assert not torch.equal(initial, guide.net.weight)
    assert after > before + 2.0


def test_generate_and_reconstruct_shapes_and_ranges():
    vae = VAE(12, latent_dim=3, hidden=(16,))
    samples = vae.generate(9)
    assert samples.shape == (9, 12) and ((samples >= 0) & (samples <= 1)).all()
    assert vae.reconstruct(_binary_data()[:4]).shape == (4, 12)


def test_bad_arguments():
    with pytest.raises(ValueError, match="latent_dim: got 0"):
        VAE(12, latent_dim=0)
    with pytest.raises(ValueError, match="likelihood: got 'laplace'"):
        VAE(12, likelihood="laplace")
    with pytest.raises(ValueError, match="hidden: got"):
        VAE(12, hidden=(16, -1))
    with pytest.raises(TypeError, match="guide: got int"):
        VAE(12, guide=3)
    with pytest.raises(ValueError, match="scale: got -1"):
        VAE(12, likelihood="gaussian", scale=-1)


class _WrongGuide(nn.Module):
    def __init__(self, sites):
        super().__init__()
        self.sites = sites
        self.weight = nn.Parameter(torch.zeros(()))

    def forward(self, x, indices=None, num_data=None):
        with data_plate(x, indices, num_data):
            for name, size in self.sites.items():
                pyro.sample(name, dist.Normal(self.weight.expand(x.shape[0], size), 1.0)
                            .to_event(1))


@pytest.mark.parametrize("sites,match", [
    ({}, r"missing: \['z'\]"),
    ({"z": 3, "w": 1}, r"not in the model: \['w'\]"),
    ({"z": 5}, r"""site 'z' of shape \(16, 5\)", expected the model's shape \(16, 3\)"""),
])
def test_a_guide_that_breaks_the_contract_is_refused_before_training(sites, match):
    vae = VAE(12, latent_dim=3, hidden=(8,), guide=_WrongGuide(sites))
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    with pytest.raises(ValueError, match=match):
        Trainer(vae, TrainConfig(epochs=1, batch_size=16), device="cpu").fit(_binary_data())
    assert all(torch.equal(v, vae.state_dict()[k]) for k, v in before.items())

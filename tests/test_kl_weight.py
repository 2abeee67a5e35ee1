"""β-VAE and KL warm-up: the latent terms of the objective weigh β, compiled or not, while
every reported number stays the true ELBO; a warm-up resumes exactly."""

import pyro
import pytest
import torch

from pyro_lvm import VAE, TrainConfig, Trainer, elbo_per_datapoint
from pyro_lvm.infer import DeviceTraceELBO, DeviceTraceMeanFieldELBO
from pyro_lvm.infer.objectives import CompiledNegativeELBO, NegativeELBO
from pyro_lvm.runtime import set_seed


def _vae(seed=0):
    torch.manual_seed(seed)
    return VAE(6, latent_dim=3, hidden=(8,), likelihood="gaussian")


def _data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=g) @ torch.randn(2, 6, generator=g)


def _terms(vae, x):
    """(Σ log p(x | z), Σ [log q(z | x) − log p(z)]) at one draw z ~ q, the guide's."""
    guide = pyro.poutine.trace(vae.guide).get_trace(x)
    model = pyro.poutine.trace(pyro.poutine.replay(vae.model, guide)).get_trace(x)
    model.compute_log_prob()
    guide.compute_log_prob()
    reconstruction = model.nodes["x"]["log_prob"].sum()
    kl = (guide.nodes["z"]["log_prob"] - model.nodes["z"]["log_prob"]).sum()
    return reconstruction, kl


@pytest.mark.parametrize("beta", [0.0, 0.5, 4.0])
def test_the_weighted_loss_is_reconstruction_minus_beta_kl(beta):
    vae, x = _vae(), _data()
    loss = NegativeELBO(vae, DeviceTraceELBO(), weighted=True)
    loss.kl_weight.fill_(beta)
    pyro.set_rng_seed(1)
    value = loss(x, None, None)
    pyro.set_rng_seed(1)
    reconstruction, kl = _terms(vae, x)
    assert torch.allclose(value, -(reconstruction - beta * kl), rtol=1e-5)


def test_the_closed_form_kl_is_weighted_too():
    vae, x = _vae(), _data()
    loss = NegativeELBO(vae, DeviceTraceMeanFieldELBO(), weighted=True)
    loss.kl_weight.fill_(3.0)
    pyro.set_rng_seed(2)
    value = loss(x, None, None)
    pyro.set_rng_seed(2)
    reconstruction, _ = _terms(vae, x)
    q = vae.guide.distribution(x)
    kl = torch.distributions.kl_divergence(q, vae.prior()).sum()
    assert torch.allclose(value, -(reconstruction - 3.0 * kl), rtol=1e-5)


def test_a_compiled_loss_reads_the_weight_it_is_given():
    vae, x = _vae(), _data()
    compiled = CompiledNegativeELBO(NegativeELBO(vae, DeviceTraceELBO(), weighted=True))
    compiled.loss.kl_weight.fill_(1.0)
    compiled(x, torch.arange(64), 64)  # traced at weight 1
    compiled.loss.kl_weight.fill_(5.0)
    pyro.set_rng_seed(3)
    traced = compiled(x, torch.arange(64), 64)
    pyro.set_rng_seed(3)
    eager = compiled.loss(x, torch.arange(64), 64)
    assert torch.allclose(traced, eager, rtol=1e-5)


def test_warm_up_schedule_and_the_true_elbo_reported():
    x, test = _data(256), _data(64, seed=1)
    set_seed(0)
    vae = _vae()
    config = TrainConfig(epochs=5, batch_size=32, beta=2.0, kl_warmup=4, learning_rate=1e-2,
                         test_particles=500)
    history = Trainer(vae, config, device="cpu").fit(x, test, quiet=True)
    assert [h["kl_weight"] for h in history] == [0.0, 0.5, 1.0, 1.5, 2.0]
    pyro.set_rng_seed(4)
    true_elbo = float(elbo_per_datapoint(vae.model, vae.guide, test, 2000).mean())
    assert history[-1]["test_elbo"] == pytest.approx(true_elbo, abs=0.1)


def test_a_warm_up_resumes_exactly(tmp_path):
    x = _data(128)

    def trainer(epochs):
        set_seed(0)
        return Trainer(_vae(), TrainConfig(epochs=epochs, batch_size=32, kl_warmup=3,
                                           seed=7), device="cpu")

    straight = trainer(4)
    straight.fit(x, quiet=True)
    first = trainer(2)
    first.fit(x, checkpoint=tmp_path / "c.pt", quiet=True)
    resumed = trainer(4).resume(tmp_path / "c.pt")
    resumed.fit(x, quiet=True)
    for name, value in straight.lvm.state_dict().items():
        assert torch.equal(value, resumed.lvm.state_dict()[name]), name
    assert [h["kl_weight"] for h in resumed.history] == [0.0, 1 / 3, 2 / 3, 1.0]


def test_bad_weights_are_refused():
    for kwargs, message in [({"beta": 0.0}, "beta"), ({"beta": -1.0}, "beta"),
                            ({"kl_warmup": -1}, "kl_warmup"),
                            ({"beta": 2.0, "elbo": "iwae", "num_particles": 5}, "no KL term")]:
        with pytest.raises(ValueError, match=message):
            TrainConfig(**kwargs)
    assert not TrainConfig().weighted and TrainConfig(kl_warmup=2).weighted


def _per_dimension_kl(vae, x):
    guide = pyro.poutine.trace(vae.guide).get_trace(x)
    model = pyro.poutine.trace(pyro.poutine.replay(vae.model, guide)).get_trace(x)
    z = guide.nodes["z"]["value"]
    q = guide.nodes["z"]["fn"].base_dist
    p = model.nodes["z"]["fn"].base_dist
    return model.nodes["x"]["fn"].log_prob(x).sum(), q.log_prob(z) - p.log_prob(z)


@pytest.mark.parametrize("free_bits", [0.01, 0.3, 5.0])
def test_free_bits_floor_the_average_kl_of_each_dimension(free_bits):
    """−loss = Σ_i log p(x_i | z_i) − B Σ_j max(λ, mean_i KL_ij) at the same draw."""
    from pyro_lvm.infer import make_elbo
    vae, x = _vae(), _data()
    pyro.set_rng_seed(5)
    value = make_elbo("trace", free_bits=free_bits).differentiable_loss(vae.model, vae.guide, x)
    pyro.set_rng_seed(5)
    reconstruction, kl = _per_dimension_kl(vae, x)
    expected = reconstruction - 64 * kl.mean(0).clamp(min=free_bits).sum()
    assert torch.allclose(-value, expected, rtol=1e-5)


def test_free_bits_leave_the_gradient_of_a_floored_dimension_to_the_reconstruction():
    """A dimension below its floor gets no KL gradient: the loss's gradient w.r.t. the
    encoder equals that of the reconstruction alone when every dimension is floored."""
    from pyro_lvm.infer import make_elbo
    vae, x = _vae(), _data()
    encoder = list(vae.guide.parameters())
    pyro.set_rng_seed(6)
    floored = make_elbo("trace", free_bits=100.0).differentiable_loss(vae.model, vae.guide, x)
    pyro.set_rng_seed(6)
    reconstruction, _ = _per_dimension_kl(vae, x)
    for a, b in zip(torch.autograd.grad(floored, encoder),
                    torch.autograd.grad(-reconstruction, encoder)):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)


def test_free_bits_need_factorized_latents_and_an_elbo():
    from pyro_lvm.infer import make_elbo
    vae = VAE(6, latent_dim=3, hidden=(8,), likelihood="gaussian", guide="fullrank")
    with pytest.raises(ValueError, match="site 'z' of MultivariateNormal"):
        make_elbo("trace", free_bits=0.5).differentiable_loss(vae.model, vae.guide, _data())
    with pytest.raises(ValueError, match="'trace' or 'meanfield' with free_bits"):
        TrainConfig(elbo="iwae", free_bits=0.5)
    with pytest.raises(ValueError, match="free_bits"):
        TrainConfig(free_bits=-0.5)

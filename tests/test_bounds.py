"""The importance-weighted bounds: L_1 is the ELBO, L_K rises with K towards PPCA's closed-form
log p(x), Rényi's bound matches Pyro's on one row, and both train."""

import math

import pyro
import pytest
import torch

from pyro_lvm import PPCA, VAE, ImportanceWeightedELBO, TrainConfig, Trainer, ppca_mle
from pyro_lvm.infer import log_weights, make_elbo, score_function_guide
from pyro_lvm.runtime import set_seed

D, K = 5, 2


def _ppca_data(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    weight, loc = torch.randn(D, K, generator=g), torch.randn(D, generator=g)
    return torch.randn(n, K, generator=g) @ weight.T + loc + 0.5 * torch.randn(n, D, generator=g)


@pytest.fixture(scope="module")
def fitted():
    """PPCA trained by the ELBO for a few epochs: its mean-field guide is a good proposal but
    not the (correlated) posterior, so the bounds have room to rise with K."""
    x = _ppca_data()
    set_seed(0)
    ppca = PPCA(D, K)
    Trainer(ppca, TrainConfig(epochs=10, batch_size=100, learning_rate=0.05),
            device="cpu").fit(x, quiet=True)
    return ppca.eval(), x


def test_one_draw_is_the_elbo(fitted):
    ppca, x = fitted
    set_seed(1)
    bound = ImportanceWeightedELBO(1).bound(ppca.model, ppca.guide, x)
    set_seed(1)
    elbo = log_weights(ppca.model, ppca.guide, x, 1)[0]
    assert torch.allclose(bound, elbo, atol=1e-5)


def test_the_bound_rises_with_k_towards_the_closed_form(fitted):
    ppca, x = fitted
    with torch.no_grad():
        exact = float(ppca.log_marginal(x).mean())
        set_seed(2)
        means = [float(ImportanceWeightedELBO(k).bound(ppca.model, ppca.guide, x).mean())
                 for k in (1, 5, 50, 1000)]
    assert means == sorted(means) and means[-1] - means[0] > 0.03  # the ELBO's gap, closed
    assert abs(means[-1] - exact) < 0.003


def test_a_smaller_alpha_gives_a_higher_bound_at_the_same_draws(fitted):
    """1/(1 − α) log mean w^(1 − α) is a power mean of the weights: decreasing in α, the
    ELBO (the geometric mean) as α → 1."""
    ppca, x = fitted
    values = []
    for alpha in (0.0, 0.5, 0.999):
        set_seed(3)
        values.append(ImportanceWeightedELBO(20, alpha).bound(ppca.model, ppca.guide, x))
    set_seed(3)
    elbo = log_weights(ppca.model, ppca.guide, x, 20).mean(0)
    assert (values[0] >= values[1]).all() and (values[1] >= values[2]).all()
    assert torch.allclose(values[2], elbo, atol=0.02)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_renyi_matches_pyro_on_one_row(alpha):
    """On a batch of one row Pyro's RenyiELBO (which weighs the whole batch as one sample) is
    the same bound: same value and same gradient at the same draws."""
    torch.manual_seed(0)
    vae = VAE(6, latent_dim=2, hidden=(8,), likelihood="gaussian")
    x = torch.randn(1, 6)
    ours = ImportanceWeightedELBO(7, alpha, max_plate_nesting=1)
    theirs = pyro.infer.RenyiELBO(alpha=alpha, num_particles=7, vectorize_particles=True,
                                  max_plate_nesting=1)
    pyro.set_rng_seed(4)
    loss = ours.differentiable_loss(vae.model, vae.guide, x)
    grads = torch.autograd.grad(loss, list(vae.parameters()))
    pyro.set_rng_seed(4)
    pyro_loss = theirs.loss_and_grads(vae.model, vae.guide, x)
    assert float(loss) == pytest.approx(pyro_loss, rel=1e-5)
    for ours_grad, parameter in zip(grads, vae.parameters()):
        assert torch.allclose(ours_grad, parameter.grad, rtol=1e-4, atol=1e-6)


def test_the_minibatch_loss_is_scaled_to_the_data_set(fitted):
    ppca, x = fitted
    objective = ImportanceWeightedELBO(3)
    set_seed(5)
    full = objective.differentiable_loss(ppca.model, ppca.guide, x[:40], None, None)
    set_seed(5)
    scaled = objective.differentiable_loss(ppca.model, ppca.guide, x[:40],
                                           torch.arange(40), 400)
    assert torch.allclose(scaled, 10 * full, rtol=1e-5)


def test_a_guide_without_rsample_is_refused(fitted):
    ppca, x = fitted
    with pytest.raises(ValueError, match="site 'z' without rsample"):
        ImportanceWeightedELBO(3).bound(ppca.model, score_function_guide(ppca.guide), x)


def test_names_and_bad_values():
    assert isinstance(make_elbo("iwae", 5), ImportanceWeightedELBO)
    renyi = make_elbo("renyi:0.25", 5)
    assert renyi.alpha == 0.25 and renyi.num_particles == 5
    for bad in ("renyi:x", "renyi:1", "renyi:-0.5", "iwea"):
        with pytest.raises(ValueError, match="elbo|alpha"):
            TrainConfig(elbo=bad)


@pytest.mark.slow
def test_iwae_training_reaches_the_ppca_mle():
    """The MLE maximizes every bound's limit: IWAE-trained PPCA gets there as ELBO-trained
    PPCA does (the compiled and the eager losses agree on the way)."""
    x = _ppca_data(2000)
    set_seed(0)
    ppca = PPCA(D, K)
    trainer = Trainer(ppca, TrainConfig(epochs=20, batch_size=200, learning_rate=0.05,
                                        elbo="iwae", num_particles=5), device="cpu")
    history = trainer.fit(x, quiet=True)
    assert trainer.compiled and {h["objective"] for h in history} == {"iwae"}
    mle = PPCA(D, K).load_parameters(ppca_mle(x, K))
    with torch.no_grad():
        gap = float(mle.log_marginal(x).mean() - ppca.log_marginal(x).mean())
    assert 0 <= gap < 0.05
    set_seed(6)
    eager = trainer.loss.loss(x[:200], torch.arange(200), 2000)
    set_seed(6)
    compiled = trainer.loss(x[:200], torch.arange(200), 2000)
    assert math.isclose(float(eager), float(compiled), rel_tol=1e-5)


def _vae_and_rows(seed=0):
    torch.manual_seed(seed)
    vae = VAE(6, latent_dim=2, hidden=(8,), likelihood="gaussian")
    return vae, torch.randn(5, 6)


def _gradients(objective, vae, x, seed):
    pyro.set_rng_seed(seed)
    loss = objective.differentiable_loss(vae.model, vae.guide, x)
    names = [name for name, _ in vae.named_parameters()]
    return loss, dict(zip(names, torch.autograd.grad(loss, list(vae.parameters()))))


def test_dreg_keeps_the_value_and_the_model_gradient_of_iwae():
    vae, x = _vae_and_rows()
    plain, plain_grads = _gradients(ImportanceWeightedELBO(8), vae, x, 7)
    dreg, dreg_grads = _gradients(ImportanceWeightedELBO(8, dreg=True), vae, x, 7)
    assert torch.allclose(plain, dreg)
    for name, grad in plain_grads.items():
        if not name.startswith("guide."):
            assert torch.allclose(grad, dreg_grads[name], rtol=1e-4, atol=1e-6), name
    assert not torch.allclose(plain_grads["guide.net.2.weight"], dreg_grads["guide.net.2.weight"])


def test_dreg_guide_gradient_is_unbiased_with_lower_variance(fitted):
    """Over many draws the two guide gradients have the same mean (within Monte Carlo error)
    and, for a trained pair, DReG's spread is far smaller (Tucker et al., 2019; measured
    here about 250x at K = 5 and 6700x at K = 50)."""
    ppca, x = fitted
    draws = {}
    for dreg in (False, True):
        objective = ImportanceWeightedELBO(20, dreg=dreg)
        draws[dreg] = torch.stack([_gradients(objective, ppca, x[:20], seed)[1]
                                   ["guide.linear.weight"].flatten() for seed in range(200)])
    plain, dreg = draws[False], draws[True]
    error = (plain.var(0) / 200 + dreg.var(0) / 200).sqrt()
    assert ((plain.mean(0) - dreg.mean(0)).abs() < 4 * error).all()
    assert dreg.var(0).sum() < 0.01 * plain.var(0).sum()


def test_dreg_is_iwae_only():
    with pytest.raises(ValueError, match="DReG is IWAE's"):
        ImportanceWeightedELBO(5, alpha=0.5, dreg=True)
    assert make_elbo("iwae-dreg", 5).dreg

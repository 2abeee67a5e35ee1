"""Probabilistic PCA: closed forms against brute force, SVI against the closed-form MLE."""

import pyro.distributions as dist
import pytest
import torch

from pyro_lvm.infer import (TrainConfig, Trainer, evaluate_per_datapoint,
                            importance_log_likelihood, log_weights, make_elbo)
from pyro_lvm.models.ppca import (LinearGaussianGuide, PPCA, PPCAParameters, PPCAPosteriorGuide,
                                  ppca_mle)
from pyro_lvm.runtime import set_seed

D, K = 5, 2


def _simulate(n, seed=0, dtype=torch.float32, noise=0.5):
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(D, K, generator=g, dtype=torch.float64)
    loc = torch.randn(D, generator=g, dtype=torch.float64)
    x = (torch.randn(n, K, generator=g, dtype=torch.float64) @ weight.T + loc
         + noise * torch.randn(n, D, generator=g, dtype=torch.float64))
    return PPCAParameters(weight, loc, torch.tensor(noise, dtype=torch.float64)), x.to(dtype)


def _ppca64(seed=0, n=50):
    parameters, x = _simulate(n, seed, torch.float64, noise=0.7)
    return PPCA(D, K).double().load_parameters(parameters), x


def test_log_marginal_equals_the_multivariate_normal():
    ppca, x = _ppca64()
    brute = dist.MultivariateNormal(ppca.loc, covariance_matrix=ppca.covariance()).log_prob(x)
    assert ppca.log_marginal(x).shape == (x.shape[0],)
    assert torch.allclose(ppca.log_marginal(x), brute, atol=1e-10)


def test_posterior_equals_gaussian_conditioning():
    ppca, x = _ppca64()
    # (z, x) is jointly Gaussian with Cov(z, x) = Wᵀ, so p(z | x) = N(Wᵀ C⁻¹ (x − μ), I − Wᵀ C⁻¹ W).
    gain = ppca.weight.T @ torch.linalg.inv(ppca.covariance())
    mean, cov = ppca.posterior(x)
    assert torch.allclose(mean, (x - ppca.loc) @ gain.T, atol=1e-10)
    assert torch.allclose(cov, torch.eye(K, dtype=x.dtype) - gain @ ppca.weight, atol=1e-10)


def test_exact_posterior_guide_makes_the_elbo_tight():
    ppca, x = _ppca64()
    guide = PPCAPosteriorGuide(ppca)
    assert list(guide.parameters()) == []
    pair = PPCA(D, K, guide="exact").double()
    assert isinstance(pair.guide, PPCAPosteriorGuide) and pair.guide._ppca[0] is pair
    assert set(pair.state_dict()) == {"weight", "loc", "raw_noise_scale"}
    # Training with the exact guide is maximum likelihood: −loss and its gradient are log p(x)'s.
    loss = make_elbo("trace").differentiable_loss(pair.model, pair.guide, x)
    log_px = pair.log_marginal(x).sum()
    assert torch.allclose(-loss, log_px, atol=1e-8)
    for a, b in zip(torch.autograd.grad(-loss, list(pair.parameters())),
                    torch.autograd.grad(log_px, list(pair.parameters()))):
        assert torch.allclose(a, b, atol=1e-8)
    exact = ppca.log_marginal(x)
    log_w = log_weights(ppca.model, guide, x, 32)
    # log p(x, z) − log p(z | x) = log p(x) whatever z: the importance weights are constant.
    assert torch.allclose(log_w, exact.expand_as(log_w), atol=1e-9)
    result = evaluate_per_datapoint(ppca.model, guide, x, num_samples=16)
    assert torch.allclose(result["elbo"], exact, atol=1e-9)
    assert torch.allclose(result["log_px"], exact, atol=1e-9)


def test_mle_is_a_stationary_maximum():
    _, x = _simulate(500, seed=1, dtype=torch.float64)
    ppca = PPCA(D, K).double().load_parameters(ppca_mle(x, K))
    best = ppca.log_marginal(x).mean()
    weight, loc, raw = torch.autograd.grad(best, [ppca.weight, ppca.loc, ppca.raw_noise_scale])
    for grad in (weight, loc, raw):
        assert grad.abs().max() < 1e-5
    # Rotating W leaves C = W Wᵀ + σ² I, hence the likelihood, unchanged.
    rotation = torch.linalg.qr(torch.randn(K, K, dtype=torch.float64))[0]
    rotated = ppca_mle(x, K)._replace(weight=ppca.weight.detach() @ rotation)
    assert torch.allclose(PPCA(D, K).double().load_parameters(rotated).log_marginal(x).mean(),
                          best, atol=1e-6)
    mle = ppca_mle(x, K)
    for _ in range(5):
        perturbed = PPCAParameters(mle.weight + 0.05 * torch.randn_like(mle.weight),
                                   mle.loc + 0.05 * torch.randn_like(mle.loc),
                                   mle.noise_scale * (1 + 0.05 * torch.randn(())))
        worse = PPCA(D, K).double().load_parameters(perturbed).log_marginal(x).mean()
        assert worse < best


@pytest.fixture(scope="module")
def trained():
    _, x = _simulate(2000)
    set_seed(0)  # module-scoped: runs before the per-test seeding of conftest
    ppca = PPCA(D, K)
    Trainer(ppca, TrainConfig(epochs=20, batch_size=200, learning_rate=0.05),
            device="cpu").fit(x, quiet=True)
    return ppca.eval(), x


def test_svi_reaches_the_closed_form_mle(trained):
    ppca, x = trained
    mle = PPCA(D, K).load_parameters(ppca_mle(x, K))
    with torch.no_grad():
        gap = float(mle.log_marginal(x).mean() - ppca.log_marginal(x).mean())
    assert 0 <= gap < 0.05


def test_importance_estimate_matches_the_closed_form(trained):
    ppca, x = trained
    rows = x[:200]
    log_w = log_weights(ppca.model, ppca.guide, rows, 500)
    estimate = importance_log_likelihood(ppca.model, ppca.guide, rows, 500)
    with torch.no_grad():
        exact = ppca.log_marginal(rows)
    # The standard error of log p̂(x) ≈ sd(w) / (mean(w) √K), by the delta method.
    weights = torch.exp(log_w - log_w.max(0).values)
    error = weights.std(0) / (weights.mean(0) * 500 ** 0.5)
    assert ((estimate - exact).abs() < 5 * error + 1e-4).all()


def test_sites_broadcast_and_every_parameter_trains():
    _, x = _simulate(64)
    ppca = PPCA(**PPCA(D, K).config)  # the config rebuilds the pair, as a checkpoint does
    assert isinstance(ppca.guide, LinearGaussianGuide)
    assert log_weights(ppca.model, ppca.guide, x[:6], 7).shape == (7, 6)
    before = {name: p.detach().clone() for name, p in ppca.named_parameters()}
    Trainer(ppca, TrainConfig(epochs=1, batch_size=16), device="cpu").fit(x, quiet=True)
    for name, p in ppca.named_parameters():
        assert not torch.equal(p, before[name]), name
    assert ppca.generate(3).shape == (3, D) and ppca.reconstruct(x[:4]).shape == (4, D)


@pytest.mark.parametrize("make, message", [
    (lambda: PPCA(3, 3), r"latent_dim: got 3, expected an integer in \[1, data_dim - 1\]"),
    (lambda: PPCA(3, 0), "latent_dim: got 0"),
    (lambda: PPCA(1, 1), "data_dim: got 1"),
    (lambda: ppca_mle(torch.randn(1, 4), 2), r"x: got \(1, 4\), expected at least 2 rows"),
    (lambda: ppca_mle(torch.ones(10, 4), 2), "x: got 'constant data"),
    (lambda: ppca_mle(torch.randn(10, 2) @ torch.randn(2, 4), 2), "rank <= latent_dim = 2"),
    (lambda: ppca_mle(torch.randn(10, 4), 4), "latent_dim: got 4"),
    (lambda: PPCA(4, 2).log_marginal(torch.randn(3, 5)), r"x: got \(3, 5\), expected a tensor "
                                                          r"of shape \(n, 4\)"),
    (lambda: PPCA(4, 2).load_parameters(ppca_mle(torch.randn(9, 5), 2)), "weight: got"),
    (lambda: PPCA(4, 2, guide="meanfield"), "guide: got 'meanfield', expected 'linear', 'exact'"),
])
def test_bad_input_names_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()

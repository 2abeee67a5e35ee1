"""The guide library: full-rank and local guides, and the inference gaps, against closed forms."""

import pyro.distributions as dist
import pytest
import torch

from pyro_lvm.guides import (FlowGuide, FullRankNormalGuide, LocalNormalGuide,
                             MeanFieldNormalGuide)
from pyro_lvm.guides.fullrank import lower_triangular
from pyro_lvm.infer import evaluate_per_datapoint, fit_local_guide, inference_gaps


def test_lower_triangular_layout():
    tril = lower_triangular(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([4.0, 5.0, 6.0]), 3)
    assert torch.equal(tril, torch.tensor([[1.0, 0, 0], [4, 2, 0], [5, 6, 3]]))


def test_full_rank_guide_covariance_and_gradients():
    torch.manual_seed(0)
    guide = FullRankNormalGuide(6, 3, hidden=(8,))
    for p in guide.parameters():
        p.data.normal_()
    x = torch.randn(4, 6)
    loc, tril = guide.encode(x)
    assert (torch.diagonal(tril, dim1=-2, dim2=-1) > 0).all()
    assert torch.equal(tril, torch.tril(tril))
    q = guide.distribution(x)
    assert torch.allclose(q.covariance_matrix, tril @ tril.transpose(-1, -2), atol=1e-5)
    q.rsample().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in guide.parameters())


def _best_mean_field_gap(lg, x):
    """min over diagonal Gaussians of KL(q ‖ p(z|x)) = ½ (Σ_j log Λ_jj − log det Λ)."""
    _, cov = lg.posterior(x[:1])
    precision = torch.linalg.inv(cov)
    return 0.5 * (torch.log(torch.diagonal(precision)).sum() - torch.logdet(precision))


@pytest.mark.slow
def test_gaps_of_a_mean_field_guide_match_the_closed_form(correlated_linear_gaussian):
    lg, x = correlated_linear_gaussian
    guide = MeanFieldNormalGuide(5, 2, hidden=(8,)).double()  # untrained: a poor encoder
    exact = lg.log_marginal(x)
    gaps = inference_gaps(lg.model, guide, x, num_samples=2000, steps=400, learning_rate=5e-2,
                          log_px=exact)
    expected = float(_best_mean_field_gap(lg, x))
    assert expected > 0.1  # the posterior is correlated: mean-field cannot be exact
    assert gaps["approximation_gap"].mean() == pytest.approx(expected, abs=0.03)
    assert (gaps["amortization_gap"] > 0.5).all()
    total = gaps["approximation_gap"] + gaps["amortization_gap"]
    assert torch.allclose(total, gaps["log_px"] - gaps["elbo_amortized"], atol=1e-5)


@pytest.mark.slow
def test_a_full_rank_family_closes_the_gap_a_mean_field_family_cannot(
        correlated_linear_gaussian):
    lg, x = correlated_linear_gaussian
    gaps = {}
    for name, guide in (("mean-field", MeanFieldNormalGuide(5, 2, hidden=(8,))),
                        ("full-rank", FullRankNormalGuide(5, 2, hidden=(8,)))):
        local = fit_local_guide(lg.model, guide.double(), x, steps=400, learning_rate=5e-2)
        assert local.full_rank == (name == "full-rank")
        elbo = evaluate_per_datapoint(lg.model, local, x, 2000)["elbo"]
        gaps[name] = (lg.log_marginal(x) - elbo).mean()
    assert gaps["full-rank"] < 0.01
    assert gaps["mean-field"] == pytest.approx(float(_best_mean_field_gap(lg, x)), abs=0.03)


def test_local_guide_rows_and_initialisation():
    amortized = MeanFieldNormalGuide(6, 3, hidden=(8,))
    x = torch.randn(10, 6)
    local = LocalNormalGuide(10, 3).initialize_from(amortized, x)
    q_amortized, q_local = amortized.distribution(x), local.distribution(x)
    assert torch.allclose(q_local.mean, q_amortized.mean, atol=1e-6)
    assert torch.allclose(q_local.base_dist.scale, q_amortized.base_dist.scale, atol=1e-4)
    rows = torch.tensor([7, 2])
    assert torch.allclose(local.distribution(x[rows], rows).mean, q_amortized.mean[rows],
                          atol=1e-6)
    full = LocalNormalGuide(10, 3, full_rank=True).initialize_from(FullRankNormalGuide(6, 3), x)
    assert isinstance(full.distribution(x), dist.MultivariateNormal)
    with pytest.raises(ValueError, match="indices: got None"):
        local.distribution(x[:4])


def test_a_new_flow_guide_is_its_encoder_normal_and_its_density_is_the_change_of_variables():
    torch.manual_seed(0)
    guide = FlowGuide(6, 3, spec="iaf,lu,iaf", hidden=(8,), context_dim=4, flow_hidden=(8,))
    x = torch.randn(5, 6)
    q = guide.distribution(x)
    z = q.rsample()
    base = q.base_dist
    assert torch.allclose(q.log_prob(z), base.log_prob(z), atol=1e-5)  # identity at creation
    for p in guide.parameters():
        p.data.normal_(0, 0.3)
    q = guide.distribution(x)
    z0 = q.base_dist.rsample()
    z, log_det = z0, torch.zeros(5)
    for layer in q.transforms:
        new = layer(z)
        log_det = log_det + layer.log_abs_det_jacobian(z, new)
        z = new
    assert torch.allclose(q.log_prob(z), q.base_dist.log_prob(z0) - log_det, atol=1e-4)
    q.log_prob(q.rsample()).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in guide.parameters())


def test_flow_guide_by_name_and_under_particles():
    from pyro_lvm import VAE
    from pyro_lvm.guides import make_guide
    from pyro_lvm.infer import log_weights
    guide = make_guide("flow:iaf*2", 12, 3, hidden=(16,))
    assert isinstance(guide, FlowGuide) and len(guide.transforms) == 3  # iaf, reverse, iaf
    vae = VAE(12, latent_dim=3, hidden=(16,), guide="flow:iaf*2")
    assert log_weights(vae.model, vae.guide, torch.rand(5, 12).round(), 7).shape == (7, 5)
    with pytest.raises(ValueError, match="guide: got 'normalizing'"):
        make_guide("normalizing", 12, 3)
    with pytest.raises(ValueError, match="glow"):
        make_guide("flow:glow", 12, 3)


def test_gaps_need_a_normal_family(linear_gaussian):
    lg, x = linear_gaussian
    guide = FlowGuide(5, 2, hidden=(8,), context_dim=2, flow_hidden=(8,)).double()
    with pytest.raises(TypeError, match="guide: got FlowGuide, expected a guide of a Normal"):
        inference_gaps(lg.model, guide, x, num_samples=10, steps=1)

"""Observation models and the small runtime helpers, against closed forms."""

import math

import pytest
import torch

from pyro_lvm.likelihoods import make_likelihood
from pyro_lvm.nn import MLP, inverse_positive, positive
from pyro_lvm.runtime import resolve_device


def test_bernoulli_log_prob_is_the_closed_form():
    lik = make_likelihood("bernoulli", 3)
    logits = torch.tensor([[0.0, 2.0, -1.0]])
    x = torch.tensor([[1.0, 0.0, 1.0]])
    p = torch.sigmoid(logits)
    expected = (x * p.log() + (1 - x) * (1 - p).log()).sum()
    assert torch.allclose(lik(logits).log_prob(x), expected.unsqueeze(0))
    assert torch.allclose(lik.mean(logits), p)


def test_gaussian_log_prob_learned_and_fixed_scale():
    learned, fixed = make_likelihood("gaussian", 2), make_likelihood("gaussian", 2, scale=0.3)
    assert torch.allclose(learned.scale, torch.full((2,), 0.5), atol=1e-6)
    assert [n for n, _ in fixed.named_parameters()] == []
    loc, x = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.0, 0.0]])
    expected = sum(-0.5 * math.log(2 * math.pi * 0.09) - (xi - mi) ** 2 / (2 * 0.09)
                   for xi, mi in zip((0.0, 0.0), (0.5, -1.0)))
    assert float(fixed(loc).log_prob(x)) == pytest.approx(expected, rel=1e-6)


def test_positive_round_trip_and_gradient():
    raw = torch.linspace(-5, 5, 11, requires_grad=True)
    scale = positive(raw)
    assert (scale > 0).all()
    assert torch.allclose(inverse_positive(scale.detach()), raw.detach(), atol=1e-4)
    scale.sum().backward()
    assert (raw.grad > 0).all()  # softplus never kills the gradient, unlike a hard clamp


def test_mlp_layout():
    net = MLP(4, (8, 6), 2)
    assert [tuple(p.shape) for p in net.parameters()] == [(8, 4), (8,), (6, 8), (6,), (2, 6),
                                                          (2,)]
    assert net(torch.zeros(3, 4)).shape == (3, 2)
    with pytest.raises(ValueError, match="activation: got 'sigmoidal'"):
        MLP(4, (8,), 2, activation="sigmoidal")


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected
    with pytest.raises(ValueError, match="device: got 'gpu7'"):
        resolve_device("gpu7")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_vae_trains_on_cuda():
    from pyro_lvm import VAE, TrainConfig, Trainer
    x = (torch.rand(64, 10) < 0.3).float()
    trainer = Trainer(VAE(10, latent_dim=2, hidden=(8,)), TrainConfig(epochs=2, batch_size=16),
                      device="cuda")
    history = trainer.fit(x, x[:16])
    assert next(trainer.lvm.parameters()).is_cuda and math.isfinite(history[-1]["test_elbo"])

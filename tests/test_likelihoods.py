"""Observation models p(x | z), against closed forms."""

import math

import pytest
import torch

from pyro_lvm.likelihoods import make_likelihood


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

"""Network blocks and the softplus parametrization of scales."""

import pytest
import torch

from pyro_lvm.nn import MLP, inverse_positive, positive


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

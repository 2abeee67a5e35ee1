"""MADE's masks: output i depends on inputs before i only, and the context reaches every output."""

import pytest
import torch

from pyro_lvm.flows import MADE, MaskedLinear

F64 = torch.float64


def random_made(dim, context_dim=0, residual=False, hidden=(24, 24)):
    """Random weights; tanh units are never flat, so every allowed path carries a signal."""
    torch.manual_seed(0)
    made = MADE(dim, hidden, context_dim, residual=residual, activation=torch.nn.Tanh).to(F64)
    with torch.no_grad():
        for p in made.parameters():
            p.normal_(0.0, 0.5)
    return made


def jacobians(made, x, context=None):
    """d(shift, log_scale)/dx and, with a context, d(shift, log_scale)/dc: each (2, D, size)."""
    def outputs(x, c=context):
        return made(x, c)

    wrt_x = torch.autograd.functional.jacobian(outputs, x)
    wrt_c = None if context is None else torch.autograd.functional.jacobian(lambda c: outputs(x, c), context)
    return wrt_x, wrt_c


@pytest.mark.parametrize("residual", [False, True], ids=["plain", "residual"])
@pytest.mark.parametrize("dim", [2, 5, 8])
def test_output_i_depends_on_inputs_before_i_only(dim, residual):
    made = random_made(dim, residual=residual)
    wrt_x, _ = jacobians(made, torch.randn(dim, dtype=F64))
    for jac in wrt_x:  # shift, then log-scale
        assert torch.equal(jac.triu(), torch.zeros_like(jac)), "an output depends on its own or a later input"
        assert (jac.tril(-1).abs() > 0).sum() == dim * (dim - 1) // 2, "an allowed dependence is missing"


@pytest.mark.parametrize("residual", [False, True], ids=["plain", "residual"])
@pytest.mark.parametrize("dim", [1, 2, 5])
def test_context_reaches_every_output_including_the_first(dim, residual):
    made = random_made(dim, context_dim=3, residual=residual)
    wrt_x, wrt_c = jacobians(made, torch.randn(dim, dtype=F64), torch.randn(3, dtype=F64))
    assert torch.equal(wrt_x.triu(), torch.zeros_like(wrt_x))
    for i in range(dim):
        assert (wrt_c[:, i].abs().sum(-1) > 0).all(), f"output {i} ignores the context"


def test_made_starts_at_zero_and_broadcasts_context():
    made = MADE(4, (8,), context_dim=2).to(F64)
    shift, log_scale = made(torch.randn(5, 3, 4, dtype=F64), torch.randn(3, 2, dtype=F64)).unbind(-2)
    assert shift.shape == log_scale.shape == (5, 3, 4)
    assert not shift.any() and not log_scale.any()


def test_masked_linear_uses_masked_weights():
    layer = MaskedLinear(3, 2, torch.tensor([[1, 0, 0], [1, 1, 0]], dtype=torch.bool)).to(F64)
    x = torch.randn(3, dtype=F64, requires_grad=True)
    jac = torch.autograd.functional.jacobian(layer, x)
    assert torch.equal(jac, layer.weight * torch.tensor([[1.0, 0, 0], [1, 1, 0]], dtype=F64))
    assert "mask" not in layer.state_dict()

"""The rational-quadratic spline as a map: it interpolates its knots with their derivatives,
increases, joins the linear tails smoothly, inverts to 1e-8 and is the identity at zero."""

import pytest
import torch

from pyro_lvm.flows import RationalQuadraticSpline
from pyro_lvm.flows.linear import unit_softplus
from pyro_lvm.flows.spline import _knots

F64 = torch.float64
BINS, BOUND, DIM = 6, 3.0, 5


def random_params(batch=(), scale=1.5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return scale * torch.randn(*batch, 3 * BINS - 1, DIM, dtype=F64, generator=generator)


def knots_and_slopes(params):
    """The knots ``(x_k, y_k)`` and the derivatives ``d_k`` the parameters define, ``(K + 1, D)`` each."""
    xs = _knots(params[..., :BINS, :], BOUND)[1]
    ys = _knots(params[..., BINS:2 * BINS, :], BOUND)[1]
    inner = unit_softplus(params[..., 2 * BINS:, :])
    ones = torch.ones_like(inner[..., :1, :])
    return xs, ys, torch.cat([ones, inner, ones], dim=-2)


SPLINE = RationalQuadraticSpline(BINS, BOUND)


def elementwise_derivative(u, params):
    u = u.clone().requires_grad_()
    w, _ = SPLINE.forward(u, params)
    return torch.autograd.grad(w.sum(), u)[0]


def test_interpolates_every_knot_with_its_derivative():
    params = random_params()
    xs, ys, slopes = knots_and_slopes(params)
    for k in range(BINS + 1):
        w, log_det = SPLINE.forward(xs[k], params)
        assert torch.allclose(w, ys[k], atol=1e-12, rtol=0.0), f"knot {k} is not interpolated"
        assert torch.allclose(elementwise_derivative(xs[k], params), slopes[k], atol=1e-9), f"slope at knot {k}"
        assert torch.allclose(log_det, slopes[k].log().sum(), atol=1e-9)
    assert torch.equal(xs[0], torch.full((DIM,), -BOUND, dtype=F64)) and torch.equal(xs[-1], xs[0].neg())


def test_strictly_increasing_and_identity_in_the_tails():
    params = random_params()
    u = torch.linspace(-2 * BOUND, 2 * BOUND, 4001, dtype=F64)[:, None].expand(-1, DIM)
    w, _ = SPLINE.forward(u, params)
    assert (w.diff(dim=0) > 0).all()
    tails = u.abs() > BOUND
    assert torch.equal(w[tails], u[tails])
    assert torch.allclose(elementwise_derivative(u, params)[tails], torch.ones(int(tails.sum()), dtype=F64))


def test_log_det_is_the_log_of_the_elementwise_derivative():
    params = random_params(batch=(7,))
    u = 1.2 * BOUND * torch.randn(7, DIM, dtype=F64, generator=torch.Generator().manual_seed(1))
    _, log_det = SPLINE.forward(u, params)
    assert torch.allclose(log_det, elementwise_derivative(u, params).log().sum(-1), atol=1e-10)


def test_inverse_to_1e_8_in_the_bins_in_the_tails_and_on_the_knots():
    params = random_params(batch=(3,))
    xs, ys, _ = knots_and_slopes(params)
    inside = torch.rand(3, 200, DIM, dtype=F64, generator=torch.Generator().manual_seed(2)) * 2 * BOUND - BOUND
    u = torch.cat([inside, xs, torch.full((3, 2, DIM), 1.7 * BOUND, dtype=F64) * torch.tensor([[-1.0], [1.0]],
                  dtype=F64)], dim=1)
    p = params.unsqueeze(1)
    w, log_det = SPLINE.forward(u, p)
    back, log_det_back = SPLINE.inverse(w, p)
    assert (back - u).abs().max() < 1e-8
    assert (log_det_back - log_det).abs().max() < 1e-8
    exact, _ = SPLINE.inverse(ys.transpose(0, 1).transpose(0, 1), params.unsqueeze(1))  # y exactly on knots
    assert (exact - xs).abs().max() < 1e-8


def test_identity_at_zero_parameters():
    params = torch.zeros(3 * BINS - 1, DIM, dtype=F64)
    u = torch.linspace(-1.5 * BOUND, 1.5 * BOUND, 101, dtype=F64)[:, None].expand(-1, DIM)
    w, log_det = SPLINE.forward(u, params)
    assert torch.allclose(w, u, atol=1e-12) and torch.allclose(log_det, torch.zeros(101, dtype=F64), atol=1e-12)


def test_every_parameter_gets_a_gradient():
    params = random_params().requires_grad_()
    u = torch.linspace(-BOUND, BOUND, 97, dtype=F64)[:, None].expand(-1, DIM)
    w, log_det = SPLINE.forward(u, params)
    (w.square().sum() + log_det.sum()).backward()
    assert (params.grad.abs() > 0).all()


def test_finite_gradients_at_an_extreme_parameter():
    params = random_params(scale=30.0).requires_grad_()
    u = torch.linspace(-BOUND, BOUND, 97, dtype=F64)[:, None].expand(-1, DIM)
    w, log_det = SPLINE.forward(u, params)
    (w.square().sum() + log_det.sum()).backward()
    assert torch.isfinite(params.grad).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [({"bins": 0}, r"bins: got 0"), ({"bound": 0.0}, r"bound: got 0\.0, expected a positive finite number"),
     ({"bound": float("inf")}, r"bound: got inf")],
)
def test_bad_configuration_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RationalQuadraticSpline(**kwargs)

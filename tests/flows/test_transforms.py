"""Contracts every flow layer keeps: bijective, exact log-det, identity start, parameters that
learn, state that saves and loads, a cache that is never stale, and clear errors."""

import io
from dataclasses import dataclass
from typing import Callable

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import constraints
from torch.distributions.transforms import _InverseTransform

from pyro_lvm.flows import (
    IAF,
    MAF,
    AffineCoupling,
    ConditionalAffineCoupling,
    ConditionalIAF,
    ConditionalMAF,
    LULinear,
    Permute,
    QRLinear,
    RationalQuadraticSpline,
    soft_clip,
)

F64 = torch.float64
HIDDEN = (16, 16)
CONTEXT = 3
DIMS = (1, 2, 5, 8)
BATCHES = ((), (3,), (4, 2))


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable  # dim -> module
    conditional: bool = False
    min_dim: int = 1
    triangular: bool = False  # dy/dx lower triangular in the order given by ``order``

    def module(self, dim, seed=0):
        torch.manual_seed(seed)
        return self.build(dim).to(F64)

    def transform(self, module, context_batch=()):
        if not self.conditional:
            return module
        generator = torch.Generator().manual_seed(1)
        return module.condition(torch.randn(*context_batch, CONTEXT, dtype=F64, generator=generator))


def _alternating(dim):
    return torch.arange(dim) % 2 == 1


CASES = [
    Case("lu", LULinear),
    Case("lu-permuted", lambda d: LULinear(d, permutation=torch.arange(d).flip(0))),
    Case("qr", QRLinear),
    Case("maf", lambda d: MAF(d, HIDDEN), min_dim=2, triangular=True),
    Case("iaf", lambda d: IAF(d, HIDDEN), min_dim=2, triangular=True),
    Case("maf-residual", lambda d: MAF(d, HIDDEN, residual=True), min_dim=2, triangular=True),
    Case("coupling-halves", lambda d: AffineCoupling(d, HIDDEN), min_dim=2, triangular=True),
    Case("coupling-mask", lambda d: AffineCoupling(d, HIDDEN, mask=_alternating(d)), min_dim=2, triangular=True),
    Case("reverse", Permute.reverse),
    Case("shuffle", lambda d: Permute.random(d, seed=3)),
    Case("cond-maf", lambda d: ConditionalMAF(d, CONTEXT, HIDDEN), conditional=True, triangular=True),
    Case("cond-iaf", lambda d: ConditionalIAF(d, CONTEXT, HIDDEN), conditional=True, triangular=True),
    Case("cond-coupling", lambda d: ConditionalAffineCoupling(d, CONTEXT, HIDDEN, mask=_alternating(d)),
         conditional=True, min_dim=2, triangular=True),
]
SPLINE = RationalQuadraticSpline(bins=5, bound=2.5)  # a small bound: test inputs reach the tails
CASES += [
    Case("nsf", lambda d: MAF(d, HIDDEN, elementwise=SPLINE), min_dim=2, triangular=True),
    Case("nsf-iaf", lambda d: IAF(d, HIDDEN, elementwise=SPLINE), min_dim=2, triangular=True),
    Case("nsf-coupling", lambda d: AffineCoupling(d, HIDDEN, mask=_alternating(d), elementwise=SPLINE),
         min_dim=2, triangular=True),
    Case("cond-nsf", lambda d: ConditionalMAF(d, CONTEXT, HIDDEN, elementwise=SPLINE), conditional=True,
         triangular=True),
    Case("cond-nsf-coupling", lambda d: ConditionalAffineCoupling(d, CONTEXT, HIDDEN, mask=_alternating(d),
                                                                  elementwise=SPLINE),
         conditional=True, min_dim=2, triangular=True),
]
CASE_IDS = [case.name for case in CASES]
VALID = [(case, dim) for case in CASES for dim in DIMS if dim >= case.min_dim]
VALID_IDS = [f"{case.name}-{dim}" for case, dim in VALID]


def randomize_(module, scale=0.3, seed=0):
    """Random parameters: every path through the layer carries a signal (zero-init hides them)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(scale * torch.randn(p.shape, dtype=p.dtype, generator=generator))
    return module


def points(dim, batch=(), seed=0):
    return torch.randn(*batch, dim, dtype=F64, generator=torch.Generator().manual_seed(seed))


def uncached(call, x):
    """``call(x)`` computed afresh, for a layer or its ``.inv``."""
    return call._inv._inverse(x) if isinstance(call, _InverseTransform) else call._call(x)


def by_name(*names):
    return [case for case in CASES if case.name in names]


def order(module, dim):
    """The coordinate order in which the Jacobian of a layer is lower triangular."""
    if hasattr(module, "mask"):  # coupling: kept coordinates first
        return torch.cat([module.mask.nonzero().flatten(), (~module.mask).nonzero().flatten()])
    return torch.arange(dim)


@pytest.mark.parametrize("batch", BATCHES, ids=str)
@pytest.mark.parametrize("case, dim", VALID, ids=VALID_IDS)
def test_round_trip_both_ways(case, dim, batch):
    t = case.transform(randomize_(case.module(dim)), batch)
    x = points(dim, batch)
    y = t(x)
    assert y.shape == x.shape and y.dtype == F64
    assert t.bijective and t.domain is constraints.real_vector and t.codomain is constraints.real_vector
    assert torch.allclose(t.inv(y), x, atol=1e-6)
    assert torch.allclose(t._inverse(y), x, atol=1e-6)
    assert torch.allclose(t._call(t._inverse(x)), x, atol=1e-6)
    assert t.log_abs_det_jacobian(x, y).shape == batch


@pytest.mark.parametrize("case, dim", VALID, ids=VALID_IDS)
def test_log_det_matches_autograd_jacobian_both_ways(case, dim):
    module = randomize_(case.module(dim))
    t = case.transform(module)
    x = points(dim)
    jac = torch.autograd.functional.jacobian(t._call, x)
    expected = torch.linalg.slogdet(jac).logabsdet
    assert torch.allclose(t.log_abs_det_jacobian(x, t(x)), expected, atol=1e-8)
    assert torch.allclose(t.log_abs_det_jacobian(x, t._call(x)), expected, atol=1e-8)  # uncached
    y = points(dim, seed=1)
    jac_inv = torch.autograd.functional.jacobian(t._inverse, y)
    assert torch.allclose(t.inv.log_abs_det_jacobian(y, t.inv(y)), torch.linalg.slogdet(jac_inv).logabsdet, atol=1e-8)
    if case.triangular:
        perm = order(module, dim)
        for j in (jac, jac_inv):
            permuted = j[perm][:, perm]
            assert torch.equal(permuted, permuted.tril()), "Jacobian not lower triangular in the layer's order"


@pytest.mark.parametrize("case, dim", VALID, ids=VALID_IDS)
def test_new_layer_is_identity(case, dim):
    if case.name in ("reverse", "shuffle", "lu-permuted"):
        pytest.skip("a permutation is the identity only up to reordering")
    t = case.transform(case.module(dim), (3,))
    x = points(dim, (3,))
    y = t(x)
    assert torch.allclose(y, x, atol=1e-12)
    assert torch.allclose(t.log_abs_det_jacobian(x, y), torch.zeros(3, dtype=F64), atol=1e-12)


@pytest.mark.parametrize("case, dim", VALID, ids=VALID_IDS)
def test_every_parameter_gets_a_gradient(case, dim):
    module = randomize_(case.module(dim))
    if not list(module.parameters()):
        pytest.skip("no parameters")
    for direction in ("forward", "inverse"):
        module.zero_grad()
        t = case.transform(module, (5,))
        t = t if direction == "forward" else t.inv
        x = points(dim, (5,))
        y = t(x)
        (y.square().sum() + t.log_abs_det_jacobian(x, y).sum()).backward()
        for name, p in module.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{direction}: no gradient for {name}"


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_state_dict_round_trip(case):
    source = randomize_(case.module(5, seed=0), seed=4)
    buffer = io.BytesIO()
    torch.save(source.state_dict(), buffer)
    buffer.seek(0)
    target = case.module(5, seed=1)
    target.load_state_dict(torch.load(buffer, weights_only=True))
    x = points(5, (4,))
    a, b = case.transform(source, (4,)), case.transform(target, (4,))
    assert torch.equal(a(x), b(x))
    assert torch.equal(a.inv(x), b.inv(x))


@pytest.mark.parametrize("case", [c for c in CASES if c.name not in ("reverse", "shuffle")], ids=lambda c: c.name)
def test_cache_is_invalidated_by_an_optimizer_step(case):
    module = randomize_(case.module(5))
    t = case.transform(module, (4,))
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    x = points(5, (4,))
    for call, inverse_call in ((t, t.inv), (t.inv, t)):
        y = call(x)
        log_det = call.log_abs_det_jacobian(x, y)
        assert inverse_call(y) is x  # the cache answers the reverse direction in no pass
        optimizer.zero_grad()
        (y.square().sum() + log_det.sum()).backward()
        optimizer.step()
        y_after = call(x)
        assert not torch.allclose(y_after, y)
        assert torch.equal(y_after, uncached(call, x))
        fresh = call.log_abs_det_jacobian(x, uncached(call, x))
        assert torch.allclose(call.log_abs_det_jacobian(x, y_after), fresh, rtol=0.0, atol=1e-12)
        assert torch.allclose(inverse_call(y_after), x, atol=1e-6)


@pytest.mark.parametrize("case", [c for c in CASES if c.name != "reverse"], ids=lambda c: c.name)
def test_cache_is_invalidated_by_load_state_dict(case):
    module = randomize_(case.module(5), seed=1)
    other = randomize_(case.module(5), seed=2)
    if case.name == "shuffle":
        other = Permute.random(5, seed=4).to(F64)
    t, reference = case.transform(module, (4,)), case.transform(other, (4,))
    x = points(5, (4,))
    y = t(x)
    log_det = t.log_abs_det_jacobian(x, y)
    module.load_state_dict(other.state_dict())
    assert torch.equal(t(x), reference(x))
    assert not torch.equal(t(x), y)
    assert torch.equal(t.log_abs_det_jacobian(x, t(x)), reference.log_abs_det_jacobian(x, reference(x)))
    assert t.log_abs_det_jacobian(x, y) is not log_det


@pytest.mark.parametrize("case", by_name("lu", "maf", "iaf", "cond-maf"), ids=lambda c: c.name)
def test_cache_never_serves_a_dead_or_missing_graph(case):
    module = randomize_(case.module(4))
    t = case.transform(module, (3,))
    x = points(4, (3,))
    with torch.no_grad():
        t(x)
    y = t(x)  # computed again under grad: the no_grad value has no graph
    assert y.requires_grad
    for _ in range(2):  # the same input twice, parameters unchanged: the first graph is freed
        y = t(x)
        (y.sum() + t.log_abs_det_jacobian(x, y).sum()).backward()
    y = t(x)
    x.add_(1.0)  # an in-place change of the input
    assert torch.allclose(t(x), t._call(x)) and not torch.allclose(t(x), y)


def test_cache_follows_a_dtype_change():
    t = LULinear(3)
    x = torch.randn(2, 3)
    t(x)
    t.double()  # swaps the parameters' storage without bumping their version counters
    with pytest.raises(TypeError, match=r"expected a tensor of dtype torch\.float64"):
        t(x)


@pytest.mark.parametrize("case", by_name("lu", "lu-permuted", "qr"), ids=lambda c: c.name)
def test_linear_weight_is_the_jacobian(case):
    layer = randomize_(case.module(5))
    x = points(5)
    jac = torch.autograd.functional.jacobian(layer._call, x)
    assert torch.allclose(layer.weight(), jac, atol=1e-12)
    assert torch.allclose(torch.linalg.slogdet(jac).logabsdet, layer.log_abs_det_jacobian(x, layer(x)), atol=1e-10)


def test_one_pass_directions_call_made_once():
    calls = []
    for layer, direction in ((MAF(6, HIDDEN), "inverse"), (IAF(6, HIDDEN), "forward")):
        layer = randomize_(layer.to(F64))
        layer.made.register_forward_hook(lambda *_: calls.append(1))
        x = points(6, (10,))
        calls.clear()
        y = layer(x) if direction == "forward" else layer.inv(x)
        (layer if direction == "forward" else layer.inv).log_abs_det_jacobian(x, y)
        (layer.inv if direction == "forward" else layer)(y)  # the cache answers the way back
        assert len(calls) == 1, f"{type(layer).__name__} {direction}: {len(calls)} MADE passes"
        calls.clear()
        (layer.inv if direction == "forward" else layer)(x)
        assert len(calls) == 6  # the other direction is sequential: D passes


PROPERTY_CASES = [c for c in CASES if c.name not in ("reverse", "shuffle")]


@settings(max_examples=25, deadline=None)
@given(
    index=st.integers(0, len(PROPERTY_CASES) - 1),
    dim=st.integers(2, 6),
    batch=st.sampled_from(BATCHES),
    scale=st.floats(0.05, 1.5),
    seed=st.integers(0, 2**16),
)
def test_property_bijective_with_exact_log_det(index, dim, batch, scale, seed):
    case = PROPERTY_CASES[index]
    if "nsf" in case.name:  # a spline's slope has no floor (an affine log-scale is clipped to ±5): past
        scale = min(scale, 0.5)  # this scale a bin's slope drops below 1e-7, too flat to invert to 1e-6
    module = randomize_(case.module(dim), scale=scale, seed=seed)
    t = case.transform(module, batch)
    x = 2 * points(dim, batch, seed=seed)
    y = t(x)
    assert torch.allclose(t._inverse(y), x, atol=1e-6)
    point = x.reshape(-1, dim)[0]
    single = module.condition(t.context.reshape(-1, CONTEXT)[0]) if case.conditional else t
    expected = torch.linalg.slogdet(torch.autograd.functional.jacobian(single._call, point)).logabsdet
    assert torch.allclose(single.log_abs_det_jacobian(point, single(point)), expected, atol=1e-7)


@settings(max_examples=25, deadline=None)
@given(raw=st.floats(-1e3, 1e3), bound=st.floats(0.1, 10.0))
def test_property_log_scale_is_soft_clipped(raw, bound):
    value = torch.tensor(raw, dtype=F64, requires_grad=True)
    clipped = soft_clip(value, bound)
    clipped.backward()
    assert -bound <= clipped.item() <= bound
    if abs(raw) < 10 * bound:  # well past the bound, where a hard clamp has none, a gradient
        assert value.grad.item() > 0


# --------------------------------------------------------------------------- dimension one


@pytest.mark.parametrize(
    "build",
    [lambda: MAF(1), lambda: IAF(1), lambda: AffineCoupling(1), lambda: ConditionalAffineCoupling(1, 2)],
    ids=["maf", "iaf", "coupling", "cond-coupling"],
)
def test_dimension_one_needs_a_context_or_a_linear_layer(build):
    with pytest.raises(ValueError, match=r"dim: got 1, expected at least 2"):
        build()


# --------------------------------------------------------------------------- bad input


def test_wrong_event_shape_is_named():
    t = LULinear(5).to(F64)
    with pytest.raises(ValueError, match=r"x\.shape: got \(3, 6\), expected \(\.\.\., 5\)"):
        t(torch.zeros(3, 6, dtype=F64))
    with pytest.raises(ValueError, match=r"y\.shape: got \(\), expected \(\.\.\., 5\)"):
        t.inv(torch.tensor(1.0, dtype=F64))


def test_integer_and_mismatched_dtype_input_is_named():
    t = MAF(3, HIDDEN)
    integer = r"x: got Tensor, expected a floating-point tensor, not one of dtype torch\.int64"
    with pytest.raises(TypeError, match=integer):
        t(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(TypeError, match=r"expected a tensor of dtype torch\.float32 .* not torch\.float64"):
        t(torch.zeros(2, 3, dtype=F64))
    with pytest.raises(TypeError, match=r"x: got list, expected a torch\.Tensor"):
        t([0.0, 0.0, 0.0])


def test_wrong_context_is_named():
    layer = ConditionalMAF(3, 2, HIDDEN)
    with pytest.raises(ValueError, match=r"context\.shape: got \(4, 3\), expected \(\.\.\., 2\)"):
        layer.condition(torch.zeros(4, 3))
    with pytest.raises(TypeError, match=r"context: got Tensor, expected a floating-point tensor"):
        layer.condition(torch.zeros(4, 2, dtype=torch.long))
    unbroadcastable = r"context\.shape: got \(4, 2\), expected a batch shape that broadcasts with x's \(3,\)"
    with pytest.raises(ValueError, match=unbroadcastable):
        layer.condition(torch.zeros(4, 2))(torch.zeros(3, 3))


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: Permute([0, 0, 2]), r"permutation: got \[0, 0, 2\], expected a permutation of 0 \.\. 2"),
        (lambda: Permute([]), r"permutation: got \[\], expected a non-empty permutation of 0 \.\. D-1"),
        (lambda: LULinear(3, permutation=[0, 1]), r"permutation: got \[0, 1\], expected a permutation of 0 \.\. 2"),
        (lambda: AffineCoupling(3, mask=[True, True, True]),
         r"mask: got \[True, True, True\], expected 3 booleans with at least one True"),
        (lambda: AffineCoupling(3, mask=[False, False, False]), r"mask: .* at least one True \(kept\) and one False"),
        (lambda: MAF(3, log_scale_bound=0.0), r"log_scale_bound: got 0\.0, expected a positive finite number"),
        (lambda: MAF(3, hidden=()), r"hidden: got \(\), expected a non-empty tuple of positive integers"),
        (lambda: MAF(3, hidden=(8, 4), residual=True), r"hidden: got \(8, 4\), expected equal widths"),
        (lambda: LULinear(0), r"dim: got 0, expected an integer >= 1"),
        (lambda: ConditionalIAF(3, 0), r"context_dim: got 0, expected an integer >= 1"),
    ],
)
def test_non_invertible_or_invalid_configuration_is_named(build, match):
    with pytest.raises(ValueError, match=match):
        build()


# --------------------------------------------------------------------------- devices


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_cuda_round_trip_on_the_input_device(case):
    module = randomize_(case.module(5)).cuda()
    t = case.transform(module, (4,))
    if case.conditional:
        t = module.condition(t.context.cuda())
    x = points(5, (4,)).cuda()
    y = t(x)
    assert y.device == x.device and t.log_abs_det_jacobian(x, y).device == x.device
    assert torch.allclose(t._inverse(y), x, atol=1e-6)

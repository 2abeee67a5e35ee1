"""Other libraries' transforms in FlowDensity and FlowGuide: accepted, exact, trained; a
transform that is not a bijection of real vectors of the right size is refused by position."""

import math

import pyro
import pyro.distributions as dist
import pyro.distributions.transforms as T
import pytest
import torch
from torch.distributions.transforms import AbsTransform, AffineTransform, ExpTransform

from pyro_lvm.flows import FlowDensity, LULinear
from pyro_lvm.guides import FlowGuide

zuko = pytest.importorskip("zuko")


def test_a_fixed_torch_transform_gives_the_exact_density():
    loc, scale = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 3.0])
    flow = FlowDensity(2, [AffineTransform(loc, scale)])  # elementwise: log-dets summed over the vector
    x = torch.randn(7, 2)
    assert torch.allclose(flow.log_prob(x), dist.Normal(loc, scale).log_prob(x).sum(-1), atol=1e-6)


def test_pyro_layers_match_pyros_own_transformed_distribution():
    torch.manual_seed(0)
    layers = [T.spline_coupling(4, count_bins=4), T.Permute(torch.tensor([3, 1, 0, 2])), T.spline(4, count_bins=4)]
    for layer in layers:
        for p in getattr(layer, "parameters", lambda: [])():
            p.data.normal_(0.0, 0.3)
    flow = FlowDensity(4, layers)
    x = torch.randn(9, 4)
    pyros = dist.TransformedDistribution(dist.Normal(torch.zeros(4), 1.0).to_event(1),
                                         layers)  # torch sums the elementwise log-det itself
    assert torch.allclose(flow.log_prob(x), pyros.log_prob(x), atol=1e-5)
    draws = flow.rsample(5)
    assert draws.shape == (5, 4)
    trained = {name for name, p in flow.named_parameters()}
    assert trained and all(name.startswith("transforms.") for name in trained)


def test_a_zuko_flow_is_the_distribution_and_its_lazy_transforms_are_layers():
    torch.manual_seed(0)
    nsf = zuko.flows.NSF(3, hidden_features=(16,))
    flow = FlowDensity(3, nsf)
    x = torch.randn(8, 3)
    assert torch.allclose(flow.log_prob(x), nsf().log_prob(x), atol=1e-6)
    assert set(dict(flow.named_parameters())) == {f"zuko_flow.{n}" for n, _ in nsf.named_parameters()}
    layered = FlowDensity(3, [LULinear(3), zuko.flows.MaskedAutoregressiveTransform(3, hidden_features=(16,))])
    z = torch.randn(8, 3)
    lazy = layered.transforms[1]
    expected = dist.TransformedDistribution(layered.base(), [layered.transforms[0], lazy()]).log_prob(z)
    assert torch.allclose(layered.log_prob(z), expected, atol=1e-5)


def test_flow_guide_takes_pyro_conditional_and_zuko_layers_and_trains_them():
    pyro.clear_param_store()
    torch.manual_seed(0)
    layers = [T.conditional_spline(2, context_dim=4, count_bins=4),
              zuko.flows.MaskedAutoregressiveTransform(2, context=4, hidden_features=(8,)).inv,
              T.Permute(torch.tensor([1, 0]))]
    guide = FlowGuide(5, 2, spec=layers, context_dim=4, hidden=(8,))
    x = torch.randn(6, 5)
    q = guide.distribution(x)
    z = q.rsample()
    assert z.shape == (6, 2)
    (q.log_prob(z).sum() + z.square().sum()).backward()
    for name, p in guide.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches {name}"
    # the density is normalized: the mass of q(z | x) for one x on a grid is 1
    grid = torch.linspace(-8, 8, 321)
    points = torch.cartesian_prod(grid, grid)
    with torch.no_grad():
        density = guide.distribution(x[:1].expand(len(points), -1)).log_prob(points).exp()
    assert abs(float(density.sum()) * (16 / 320) ** 2 - 1.0) < 0.02


@pytest.mark.parametrize(
    "layer, match",
    [
        (ExpTransform(), r"transforms\[1\]: .*expected a transform of real vectors"),
        (AbsTransform(), r"transforms\[1\]: .*expected a bijective transform"),
        (T.Permute(torch.tensor([0, 2, 1, 3])), r"transforms\[1\]: .*expected a transform of vectors of size dim=3"),
        ("maf", r"transforms\[1\]: got str, expected a torch Transform"),
    ],
    ids=["exp", "abs", "size", "string"],
)
def test_refused_with_its_position(layer, match):
    with pytest.raises((TypeError, ValueError), match=match):
        FlowDensity(3, [LULinear(3), layer])


def test_refusals_for_a_context_or_a_single_transform():
    with pytest.raises(TypeError, match=r"transforms\[0\]: .*expected an unconditional transform"):
        FlowDensity(2, [T.conditional_spline(2, context_dim=3)])
    with pytest.raises(TypeError, match=r"transforms: .*expected a list of transforms"):
        FlowDensity(3, LULinear(3))
    with pytest.raises(ValueError, match=r"transforms: .*expected a zuko flow of vectors of size dim=3"):
        FlowDensity(3, zuko.flows.MAF(4))
    with torch.no_grad():
        assert math.isfinite(float(FlowDensity(3, zuko.flows.MAF(3)).log_prob(torch.zeros(3))))

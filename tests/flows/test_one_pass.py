"""call_and_ladj / inv_and_ladj: the value and log-det of one pass, equal to torch's separate
calls, never through the cache; FlowDistribution scores its own draws for free and others exactly."""

import pyro.distributions as dist
import pytest
import torch

from pyro_lvm.flows import IAF, MAF, FlowDensity, RationalQuadraticSpline, build_flow
from pyro_lvm.flows.distribution import FlowDistribution
from pyro_lvm.flows.foreign import ready
from tests.flows.test_transforms import VALID, VALID_IDS, randomize_

F64 = torch.float64


@pytest.mark.parametrize("case, dim", VALID, ids=VALID_IDS)
def test_one_pass_equals_the_separate_calls_and_skips_the_cache(case, dim):
    module = randomize_(case.module(dim))
    t = case.transform(module, context_batch=(4,))
    x = torch.randn(4, dim, dtype=F64)
    y, ladj = t.call_and_ladj(x)
    assert t._last is None, "call_and_ladj went through the cache"
    assert torch.allclose(y, t._call(x), atol=1e-12)
    assert torch.allclose(ladj, t.log_abs_det_jacobian(x, y), atol=1e-10)
    back, inverse_ladj = t.inv_and_ladj(y)
    assert t._last is None, "inv_and_ladj went through the cache"
    assert torch.allclose(back, x, atol=1e-6)
    assert torch.allclose(inverse_ladj, -ladj, atol=1e-6), "inv_and_ladj must give the inverse's log-det"


def test_autoregressive_layers_say_so():
    assert MAF(3, (8,)).autoregressive and IAF(3, (8,), elementwise=RationalQuadraticSpline()).autoregressive
    assert not hasattr(build_flow("lu", 3)[0], "autoregressive")


def _density(dim=3):
    torch.manual_seed(0)
    flow = FlowDensity(dim, build_flow("lu,nsf,reverse,coupling", dim, hidden=(8,))).to(F64)
    return randomize_(flow)


def test_flow_distribution_scores_its_own_draw_without_a_pass_and_others_exactly():
    flow = _density()
    distribution = flow.distribution()
    assert isinstance(distribution, FlowDistribution)
    z = distribution.rsample((6,))
    cached = distribution.log_prob(z)
    fresh = distribution.log_prob(z.clone())
    assert torch.allclose(cached, fresh, atol=1e-8)
    torch_way = dist.TransformedDistribution(flow.base(), [ready(t) for t in flow.transforms])
    assert torch.allclose(torch_way.log_prob(z.clone()), fresh, atol=1e-8)


def test_rsample_carries_gradients_to_every_parameter():
    flow = _density()
    distribution = flow.distribution()
    z = distribution.rsample((16,))
    (z.square().sum() + distribution.log_prob(z).sum()).backward()
    missing = [name for name, p in flow.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reaches {missing}"

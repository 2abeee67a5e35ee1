"""A normalizing-flow density model p(x) as a Pyro model/guide pair.

``transforms`` are listed in Pyro's order, from the base to the data:
``x = g_K(... g_1(z))`` with ``z ~ N(0, I_D)``. The lecture's flow is the inverse,
``f = f_K ∘ ... ∘ f_1`` with ``f_k = g_{K+1-k}⁻¹`` mapping data to noise, and

    log p(x) = log N(f(x); 0, I) + sum_k log|det J_{f_k}|,

where ``log|det J_{f_k}| = -log|det J_{g_{K+1-k}}|`` at the same pair of points. ``model``
observes ``x`` under the flow distribution and ``guide`` is empty, so Trace_ELBO's loss is
exactly the negative log-likelihood and the trainer does maximum likelihood.
"""

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from ..errors import bad_value
from ..params import register
from ..plates import data_plate
from ..checks import check_int
from .base import check_tensor
from .distribution import FlowDistribution
from .foreign import check_layers, ready
from .made import HIDDEN
from .spec import build_flow

try:
    from pyro.contrib.zuko import ZukoToPyro
    from zuko.lazy import LazyDistribution
except ImportError:  # zuko is optional
    LazyDistribution = ()


class FlowDensity(nn.Module):
    """``FlowDensity(dim, transforms)``: base ``N(0, I_dim)`` pushed through ``transforms``.

    Like every model here its parameters live in the module (the trainer optimizes
    ``parameters()``; nothing goes through Pyro's global parameter store, see
    docs/contract.md); the base mean and scale are buffers, so ``.to(device)`` and
    ``.double()`` move them along.

    ``log_prob`` and ``rsample`` take one pass per layer (``call_and_ladj`` /
    ``inv_and_ladj``). Other libraries' layers are welcome (``flows.foreign``): any bijective
    torch ``Transform`` or Pyro ``TransformModule`` on real vectors or reals, zuko's lazy
    transforms, or a whole zuko flow (``zuko.flows.NSF(dim)``, base included), which is then
    the distribution, through ``pyro.contrib.zuko.ZukoToPyro``.

    Args:
        dim: D, the size of a row of x.
        transforms: unconditional layers on vectors of size ``dim``, in Pyro's order (base to
            data), or a zuko flow.
    """

    max_plate_nesting = 1  # the data plate

    def __init__(self, dim: int, transforms: list):
        super().__init__()
        self.dim = check_int("dim", dim)
        self.zuko_flow = transforms if isinstance(transforms, LazyDistribution) else None
        self.transforms = nn.ModuleList([] if self.zuko_flow else check_layers(transforms, self.dim))
        if self.zuko_flow is not None:
            _check_zuko_flow(self.zuko_flow, self.dim)
        self.register_buffer("base_loc", torch.zeros(self.dim), persistent=False)
        self.register_buffer("base_scale", torch.ones(self.dim), persistent=False)
        self.config = None

    @classmethod
    def from_spec(cls, dim, spec, hidden=HIDDEN, seed=0):
        """The flow of ``build_flow`` ``(spec, dim, hidden, seed=seed)``;
        ``config`` records the arguments so a checkpoint can rebuild it."""
        flow = cls(dim, build_flow(spec, dim, hidden=tuple(hidden), seed=seed))
        flow.config = {"dim": dim, "spec": spec, "hidden": list(hidden), "seed": seed}
        return flow

    def base(self):
        """The base distribution ``N(0, I_dim)`` on this module's device and dtype."""
        return dist.Normal(self.base_loc, self.base_scale).to_event(1)

    def distribution(self):
        """The flow as a Pyro distribution: a ``FlowDistribution`` (a ``TransformedDistribution``
        scored in one pass per layer), or the zuko flow through ``ZukoToPyro``."""
        if self.zuko_flow is not None:
            return ZukoToPyro(self.zuko_flow())
        return FlowDistribution(self.base(), [ready(t) for t in self.transforms], validate_args=False)

    def log_prob(self, x):
        """``log p(x) = log N(f(x); 0, I) + sum_k log|det J_{f_k}|`` for ``x`` of shape ``(..., dim)``."""
        return self.distribution().log_prob(check_tensor("x", x, self.dim, self.base_loc))

    def log_marginal(self, x):
        """The exact log p(x) (the name the evaluators look for): ``log_prob``."""
        return self.log_prob(x)

    def rsample(self, n):
        """``n`` reparametrized draws ``x = g(z)``, shape ``(n, dim)``."""
        return self.distribution().rsample((check_int("n", n),))

    def sample(self, n):
        """``n`` draws without gradients, shape ``(n, dim)``."""
        with torch.no_grad():
            return self.rsample(n)

    def generate(self, num_samples):
        """``num_samples`` draws x ~ p(x) (the name the run pictures use)."""
        return self.sample(num_samples)

    def model(self, x, indices=None, num_data=None):
        """``x ~ p`` for a minibatch ``x`` of shape ``(batch, dim)`` inside the ``data`` plate."""
        if check_tensor("x", x, self.dim, self.base_loc).dim() != 2:
            raise bad_value("x.shape", tuple(x.shape), f"(batch, {self.dim})")
        register(self)
        with data_plate(x, indices, num_data):
            pyro.sample("x", self.distribution(), obs=x)

    def guide(self, x, indices=None, num_data=None):
        """No latent variables: the guide is empty, so the ELBO is ``log p(x)``."""


def _check_zuko_flow(flow, dim):
    """A zuko flow must be unconditional and give vectors of size ``dim``."""
    try:
        with torch.no_grad():
            shape = tuple(flow().sample().shape)
    except Exception as error:
        raise bad_value("transforms", flow, f"an unconditional zuko flow ({type(error).__name__}: {error})") from None
    if shape != (dim,):
        raise bad_value("transforms", flow, f"a zuko flow of vectors of size dim={dim} (it draws {shape})")

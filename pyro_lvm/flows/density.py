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
from pyro.distributions.conditional import ConditionalTransform
from pyro.distributions.torch_transform import TransformModule
from torch import nn

from ..errors import bad_type, bad_value
from ..params import register
from ..plates import data_plate
from ..checks import check_int
from .base import check_tensor
from .made import HIDDEN
from .spec import build_flow


def _check_transforms(transforms, dim):
    transforms = list(transforms)
    for k, t in enumerate(transforms):
        if isinstance(t, ConditionalTransform) or not isinstance(t, TransformModule):
            raise bad_type(f"transforms[{k}]", t, "an unconditional TransformModule (a FlowDensity has no context)")
        if t.domain.event_dim != 1 or t.codomain.event_dim != 1 or getattr(t, "dim", dim) != dim:
            raise bad_value(f"transforms[{k}]", t, f"a transform of vectors of size dim={dim} (event_dim 1)")
    return transforms


class FlowDensity(nn.Module):
    """``FlowDensity(dim, transforms)``: base ``N(0, I_dim)`` pushed through ``transforms``.

    Like every model here its parameters live in the module (the trainer optimizes
    ``parameters()``; nothing goes through Pyro's global parameter store, see
    docs/contract.md); the base mean and scale are buffers, so ``.to(device)`` and
    ``.double()`` move them along.

    Args:
        dim: D, the size of a row of x.
        transforms: unconditional ``TransformModule`` layers on vectors of size ``dim``, in
            Pyro's order (base to data).
    """

    max_plate_nesting = 1  # the data plate

    def __init__(self, dim: int, transforms: list):
        super().__init__()
        self.dim = check_int("dim", dim)
        self.transforms = nn.ModuleList(_check_transforms(transforms, self.dim))
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
        """The flow as a ``pyro.distributions.TransformedDistribution``."""
        return dist.TransformedDistribution(self.base(), list(self.transforms))

    def log_prob(self, x):
        """``log p(x) = log N(f(x); 0, I) + sum_k log|det J_{f_k}|`` for ``x`` of shape ``(..., dim)``."""
        z = check_tensor("x", x, self.dim, self.base_loc)
        log_det = 0.0
        for t in reversed(self.transforms):
            u = t.inv(z)
            log_det = log_det - t.log_abs_det_jacobian(u, z)
            z = u
        return self.base().log_prob(z) + log_det

    def log_marginal(self, x):
        """The exact log p(x) (the name the evaluators look for): ``log_prob``."""
        return self.log_prob(x)

    def rsample(self, n):
        """``n`` reparametrized draws ``x = g(z)``, shape ``(n, dim)``."""
        z = self.base().rsample((check_int("n", n),))
        for t in self.transforms:
            z = t(z)
        return z

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

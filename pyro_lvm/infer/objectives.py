"""The training objective: a Pyro ELBO, optionally compiled with ``torch.jit.trace``.

``"trace"`` is ``Trace_ELBO`` (every term by Monte Carlo, reparametrized through ``rsample``);
``"meanfield"`` is ``TraceMeanField_ELBO`` (the KL(q(z|x) ‖ p(z)) term in closed form where
Pyro knows it, e.g. KL(N(μ, σ²) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²));
``"enum"`` is ``TraceEnum_ELBO`` (discrete latents marked ``infer={"enumerate": "parallel"}``
are summed out exactly).
"""

import warnings

import pyro
from pyro.infer import Trace_ELBO, TraceEnum_ELBO, TraceMeanField_ELBO
from torch import jit, nn

from ..errors import bad_value
from ..plates import MAX_PLATE_NESTING

ELBOS = {"trace": Trace_ELBO, "meanfield": TraceMeanField_ELBO, "enum": TraceEnum_ELBO}


def make_elbo(name="trace", num_particles=1):
    """The Pyro ELBO called ``name``, with vectorized particles."""
    if name not in ELBOS:
        raise bad_value("elbo", name, f"one of {sorted(ELBOS)}")
    if isinstance(num_particles, bool) or not isinstance(num_particles, int) or num_particles < 1:
        raise bad_value("num_particles", num_particles, "a positive integer")
    return ELBOS[name](num_particles=num_particles, vectorize_particles=num_particles > 1,
                       max_plate_nesting=MAX_PLATE_NESTING)


class NegativeELBO(nn.Module):
    """``forward(x, indices, num_data)`` = −ELBO of ``lvm.model`` / ``lvm.guide`` on a minibatch.

    A module (rather than a closure) so that ``torch.jit.trace`` sees the parameters of ``lvm``
    as parameters, not as constants: the compiled loss shares them with ``lvm``.
    """

    def __init__(self, lvm, elbo):
        super().__init__()
        self.lvm = lvm
        self.elbo = elbo

    def forward(self, x, indices, num_data):
        return self.elbo.differentiable_loss(self.lvm.model, self.lvm.guide, x, indices, num_data)


class CompiledNegativeELBO:
    """:class:`NegativeELBO` traced once per minibatch shape with ``torch.jit.trace``.

    After the first call for a shape, no Python runs inside Pyro: the graph of the model and guide,
    the draws included, is replayed.  Only for models whose structure does not depend on the
    data values (no data-dependent Python branches); the plate scale ``num_data / batch`` is
    part of each trace.
    """

    def __init__(self, loss):
        self.loss = loss
        self._traced = {}

    def __call__(self, x, indices, num_data):
        key = (tuple(x.shape), int(num_data), x.device, x.dtype)
        if key not in self._traced:
            with pyro.validation_enabled(False), warnings.catch_warnings():
                warnings.simplefilter("ignore", category=jit.TracerWarning)
                warnings.simplefilter("ignore", category=DeprecationWarning)  # torch >= 2.9
                self._traced[key] = jit.trace(
                    _BoundNumData(self.loss, int(num_data)), (x, indices), check_trace=False)
        return self._traced[key](x, indices)


class _BoundNumData(nn.Module):
    def __init__(self, loss, num_data):
        super().__init__()
        self.loss = loss
        self.num_data = num_data

    def forward(self, x, indices):
        return self.loss(x, indices, self.num_data)

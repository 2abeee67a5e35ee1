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
import torch
from torch import jit, nn

from ..errors import bad_value
from ..plates import MAX_PLATE_NESTING

ELBOS = {"trace": Trace_ELBO, "meanfield": TraceMeanField_ELBO, "enum": TraceEnum_ELBO}
#: The objectives whose ``torch.jit.trace`` gives the eager loss and gradient (tested): a traced
#: ``TraceMeanField_ELBO`` keeps its closed-form KL term as a constant of the trace.
COMPILABLE_ELBOS = ("trace", "enum")


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


def is_builtin(module):
    """Whether every submodule of ``module`` is one of this package's or torch's own: models
    whose structure is known not to depend on the data's values, so a trace of one step is
    every step."""
    return all(type(m).__module__.split(".")[0] in ("pyro_lvm", "torch")
               for m in module.modules())


class CompiledNegativeELBO:
    """:class:`NegativeELBO` traced once per minibatch shape with ``torch.jit.trace``.

    After the first call for a shape, no Python runs inside Pyro: the graph of the model and guide,
    the draws included, is replayed.  Only for models whose structure does not depend on the
    data values (no data-dependent Python branches); the plate scale ``num_data / batch`` is
    part of each trace.  A model that cannot be traced (e.g. a torch ``Transform`` whose
    ``sign`` raises ``NotImplementedError`` when TorchScript probes it) runs eagerly instead,
    with a warning when ``warn`` is set.
    """

    def __init__(self, loss, warn=True):
        self.loss = loss
        self.warn = warn
        self._traced = {}

    def __call__(self, x, indices, num_data):
        key = (tuple(x.shape), int(num_data), x.device, x.dtype)
        if key not in self._traced:
            self._traced[key] = self._compile(x, indices, int(num_data))
        return self._traced[key](x, indices)

    def _compile(self, x, indices, num_data):
        """Trace, then run the trace until TorchScript has profiled and optimized it, all on a
        forked RNG: the random stream is left as it was, and every real step, the first
        included, runs the same optimized graph and draws exactly what it draws in any other
        run (a resumed run retraces and must reproduce the uninterrupted one bit for bit)."""
        bound = _BoundNumData(self.loss, num_data)
        devices = [x.device] if x.device.type == "cuda" else []
        with pyro.validation_enabled(False), warnings.catch_warnings(), \
                torch.random.fork_rng(devices=devices):
            warnings.simplefilter("ignore", category=jit.TracerWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)  # torch >= 2.9
            try:
                traced = jit.trace(bound, (x, indices), check_trace=False)
            except (NotImplementedError, RuntimeError, TypeError) as error:
                failure = error
            else:
                parameters = [p for p in traced.parameters() if p.requires_grad]
                for _ in range(_PROFILING_RUNS):
                    torch.autograd.grad(traced(x, indices), parameters, allow_unused=True)
                return traced
        if self.warn:
            warnings.warn(f"jit: could not trace the loss ({type(failure).__name__}: "
                          f"{failure}); training without compilation", stacklevel=3)
        return bound


#: Runs after which TorchScript's profiling executor has settled on its optimized graph.
_PROFILING_RUNS = 3


class _BoundNumData(nn.Module):
    def __init__(self, loss, num_data):
        super().__init__()
        self.loss = loss
        self.num_data = num_data

    def forward(self, x, indices):
        return self.loss(x, indices, self.num_data)

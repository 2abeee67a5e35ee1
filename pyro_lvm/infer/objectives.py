"""The training objective: a Pyro ELBO, optionally compiled with ``torch.jit.trace``.

``"trace"`` is ``DeviceTraceELBO``, Pyro's ``Trace_ELBO`` (every term by Monte Carlo,
reparametrized through ``rsample``) with its loss kept on the device;
``"meanfield"`` is ``DeviceTraceMeanFieldELBO``, Pyro's ``TraceMeanField_ELBO`` (the
KL(q(z|x) ‖ p(z)) term in closed form where PyTorch knows it, e.g. KL(N(μ, σ²) ‖ N(0, I)) =
½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)), likewise kept on the device;
``"enum"`` is ``TraceEnum_ELBO`` (discrete latents marked ``infer={"enumerate": "parallel"}``
are summed out exactly); ``"iwae"``, ``"iwae-dreg"`` (its doubly-reparametrized guide
gradient) and ``"renyi:ALPHA"`` are the importance-weighted bounds of
``bounds.ImportanceWeightedELBO`` with K = ``num_particles`` draws per row.
"""

import warnings

import pyro
from pyro.distributions.kl import kl_divergence
from pyro.distributions.util import scale_and_mask
from pyro.infer import Trace_ELBO, TraceEnum_ELBO, TraceMeanField_ELBO
from pyro.poutine.messenger import Messenger
from pyro.infer.util import (MultiFrameTensor, check_fully_reparametrized, get_plate_stacks,
                             is_identically_zero, is_validation_enabled)
import torch
from torch import jit, nn

from ..checks import check_int
from ..errors import bad_type, bad_value
from .bounds import ImportanceWeightedELBO
from .free_bits import FreeBitsELBO


class DeviceTraceELBO(Trace_ELBO):
    """``Trace_ELBO`` whose ``differentiable_loss`` never waits for the device.

    Per particle, ELBO = Σ_model log p − Σ_guide log q, and the surrogate whose gradient is the
    ELBO's gradient is Σ_model log p − Σ_guide (entropy term − score term · log r), with
    log r = log p − log q held fixed (Pyro's).  The loss is
    −(ELBO + surrogate − stop(surrogate)): the ELBO's value and the surrogate's gradient.  Pyro's own version computes the value with
    one ``.item()`` per site and checks it for NaN, a host synchronisation each; here the value
    stays a tensor (the trainer makes the one NaN check per step).
    """

    def differentiable_loss(self, model, guide, *args, **kwargs):
        loss = 0.0
        for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
            elbo, surrogate = _elbo_and_surrogate(model_trace, guide_trace)
            loss = loss - (elbo.detach() + surrogate - surrogate.detach()) / self.num_particles
        return loss


def _elbo_and_surrogate(model_trace, guide_trace):
    """The ELBO of one particle and its surrogate (see ``DeviceTraceELBO``), as tensors."""
    model_sites = [s for s in model_trace.nodes.values() if s["type"] == "sample"]
    guide_sites = [s for s in guide_trace.nodes.values() if s["type"] == "sample"]
    elbo = surrogate = sum(site["log_prob_sum"] for site in model_sites)
    log_r = None
    for site in guide_sites:
        _, score_term, entropy_term = site["score_parts"]
        elbo = elbo - site["log_prob_sum"]
        if not is_identically_zero(entropy_term):
            surrogate = surrogate - entropy_term.sum()
        if not is_identically_zero(score_term):
            log_r = _log_ratio(model_trace, guide_trace) if log_r is None else log_r
            surrogate = surrogate + (log_r.sum_to(site["cond_indep_stack"]) * score_term).sum()
    return elbo, surrogate


class DeviceTraceMeanFieldELBO(TraceMeanField_ELBO):
    """``TraceMeanField_ELBO`` whose ``differentiable_loss`` never waits for the device.

    Per particle, ELBO = Σ_observed log p(x | z) − Σ_latent KL(q(z) ‖ p(z)), each KL in closed
    form where PyTorch has it and by Monte Carlo at the draw, log p(z) − log q(z), where not
    (Pyro's rule; every latent must be reparametrized).  The loss is −ELBO as a tensor, so that
    a trace of it keeps no constant and one check per step suffices, as for ``DeviceTraceELBO``.
    """

    def differentiable_loss(self, model, guide, *args, **kwargs):
        loss = 0.0
        for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
            loss = loss - _mean_field_elbo(model_trace, guide_trace) / self.num_particles
        return loss


def _mean_field_elbo(model_trace, guide_trace):
    """The mean-field ELBO of one particle (see ``DeviceTraceMeanFieldELBO``), as a tensor."""
    elbo = 0.0
    for name, site in model_trace.nodes.items():
        if site["type"] != "sample":
            continue
        if site["is_observed"]:
            elbo = elbo + site["log_prob_sum"]
            continue
        q = guide_trace.nodes[name]
        if is_validation_enabled():
            check_fully_reparametrized(q)
        try:
            kl = scale_and_mask(kl_divergence(q["fn"], site["fn"]), q["scale"], q["mask"])
        except NotImplementedError:
            elbo = elbo + site["log_prob_sum"] - q["score_parts"].entropy_term.sum()
        else:
            elbo = elbo - (kl.sum() if torch.is_tensor(kl) else kl * q["fn"].batch_shape.numel())
    auxiliary = [s for n, s in guide_trace.nodes.items()
                 if s["type"] == "sample" and n not in model_trace.nodes]
    return elbo - sum(s["score_parts"].entropy_term.sum() for s in auxiliary)


def _log_ratio(model_trace, guide_trace):
    """log r = log p(x, z) − log q(z), per plate frame, without gradient."""
    stacks = get_plate_stacks(model_trace)
    log_r = MultiFrameTensor()
    for name, site in model_trace.nodes.items():
        if site["type"] == "sample":
            term = site["log_prob"]
            if not site["is_observed"]:
                term = term - guide_trace.nodes[name]["log_prob"]
            log_r.add((stacks[name], term.detach()))
    return log_r


ELBOS = {"trace": DeviceTraceELBO, "meanfield": DeviceTraceMeanFieldELBO, "enum": TraceEnum_ELBO}
#: Every objective by name: the ELBOs above and the importance-weighted bounds.
OBJECTIVES = ("trace", "meanfield", "enum", "iwae", "iwae-dreg", "renyi:ALPHA")


def _renyi_alpha(name):
    """α of ``"iwae"`` (0) or ``"renyi:ALPHA"``; ``None`` for another name."""
    if name == "iwae":
        return 0.0
    if not name.startswith("renyi:"):
        return None
    try:
        return float(name[len("renyi:"):])
    except ValueError:
        raise bad_value("elbo", name, "renyi:ALPHA with a number ALPHA in [0, 1)") from None


def make_elbo(name="trace", num_particles=1, max_plate_nesting=None, free_bits=0.0):
    """The objective called ``name`` (one of ``OBJECTIVES``), with vectorized particles to the
    left of the model's ``max_plate_nesting`` plates (``None``: found with a first trace);
    with ``free_bits`` > 0 the ``"trace"`` or ``"meanfield"`` ELBO with that KL floor per
    latent dimension (``free_bits.FreeBitsELBO``)."""
    if not isinstance(name, str):
        raise bad_type("elbo", name, f"one of {list(OBJECTIVES)}")
    num_particles = check_int("num_particles", num_particles)
    if free_bits:
        if name not in ("trace", "meanfield"):
            raise bad_value("elbo", name, "'trace' or 'meanfield' with free_bits (a KL floor "
                            "per latent dimension)")
        return FreeBitsELBO(free_bits, num_particles, closed_form=name == "meanfield")
    if name == "iwae-dreg":
        return ImportanceWeightedELBO(num_particles, 0.0, max_plate_nesting, dreg=True)
    alpha = _renyi_alpha(name)
    if alpha is not None:
        return ImportanceWeightedELBO(num_particles, alpha, max_plate_nesting)
    if name not in ELBOS:
        raise bad_value("elbo", name, f"one of {list(OBJECTIVES)}")
    nesting = float("inf") if max_plate_nesting is None else max_plate_nesting
    return ELBOS[name](num_particles=num_particles, vectorize_particles=num_particles > 1,
                       max_plate_nesting=nesting)


class ScaleLatents(Messenger):
    """Multiplies the log-density scale of every latent (unobserved) sample site by ``weight``:
    around a model and its guide, the ELBO becomes E_q log p(x | z) − β · E_q [log q(z) −
    log p(z)], the β-weighted objective (the KL term, in closed form or not, scaled by β)."""

    def __init__(self, weight):
        super().__init__()
        self.weight = weight

    def _pyro_sample(self, msg):
        if not msg["is_observed"]:
            msg["scale"] = msg["scale"] * self.weight


class NegativeELBO(nn.Module):
    """``forward(x, indices, num_data)`` = −ELBO of ``lvm.model`` / ``lvm.guide`` on a minibatch.

    A module (rather than a closure) so that ``torch.jit.trace`` sees the parameters of ``lvm``
    as parameters, not as constants: the compiled loss shares them with ``lvm``.  With
    ``weighted``, the latent sites' terms are scaled by the buffer ``kl_weight`` (β, set by the
    trainer each epoch, read by a compiled loss too); otherwise nothing is scaled.
    """

    def __init__(self, lvm, elbo, weighted=False):
        super().__init__()
        self.lvm = lvm
        self.elbo = elbo
        self.weighted = weighted
        self.register_buffer("kl_weight", torch.ones(()), persistent=False)

    def forward(self, x, indices, num_data):
        model, guide = self.lvm.model, self.lvm.guide
        if self.weighted:
            model, guide = ScaleLatents(self.kl_weight)(model), ScaleLatents(self.kl_weight)(guide)
        return self.elbo.differentiable_loss(model, guide, x, indices, num_data)


def is_builtin(module):
    """Whether every submodule of ``module`` is one of this package's or torch's own: models
    whose structure is known not to depend on the data's values, so a trace of one step is
    every step."""
    return all(type(m).__module__.split(".")[0] in ("pyro_lvm", "torch")
               for m in module.modules())


class CompiledNegativeELBO:
    """``NegativeELBO`` traced once per minibatch shape with ``torch.jit.trace``.

    After the first call for a shape, no Python runs inside Pyro: the graph of the model and guide,
    the draws included, is replayed.  Only for models whose structure does not depend on the
    data values (no data-dependent Python branches); the plate scale ``num_data / batch`` is
    part of each trace.  A model that cannot be traced (e.g. a torch ``Transform`` whose
    ``sign`` raises ``NotImplementedError`` when TorchScript probes it) runs eagerly instead,
    with a warning when ``warn`` is set.

    The trace runs as recorded, without TorchScript's graph optimizations
    (``torch.jit.optimized_execution(False)``): those replace PyTorch's backward kernels with
    symbolic derivatives (``softplus``'s becomes ``exp``, ``gt`` and ``where``), which measured
    3% slower a step (``benchmarks/svi_step.py``), and every call then runs the same graph.
    """

    def __init__(self, loss, warn=True):
        self.loss = loss
        self.warn = warn
        self._traced = {}

    def __call__(self, x, indices, num_data):
        key = (tuple(x.shape), int(num_data), x.device, x.dtype)
        if key not in self._traced:
            self._traced[key] = self._compile(x, indices, int(num_data))
        with jit.optimized_execution(False):
            return self._traced[key](x, indices)

    def _compile(self, x, indices, num_data):
        """Trace on a forked RNG: tracing runs the loss once, and the random stream is left as
        it was, so every real step, the first included, draws exactly what it draws in any
        other run (a resumed run retraces and must reproduce the uninterrupted one bit for
        bit)."""
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
                return traced
        if self.warn:
            warnings.warn(f"jit: could not trace the loss ({type(failure).__name__}: "
                          f"{failure}); training without compilation", stacklevel=3)
        return bound


class _BoundNumData(nn.Module):
    def __init__(self, loss, num_data):
        super().__init__()
        self.loss = loss
        self.num_data = num_data

    def forward(self, x, indices):
        return self.loss(x, indices, self.num_data)

"""Per-datapoint log-densities from vectorized Pyro traces of any contract-following pair.

One draw of the guide and a replay of the model under a ``"particles"`` plate (to the left of
every plate the model nests, see ``pyro_lvm.plates.max_plate_nesting``) give, for each
particle k and row i,

    log w_ik = log p(x_i, z_ik) − log q(z_ik | x_i) + [log p(w_k) − log q(w_k)] / N,

the quantity every estimator in ``pyro_lvm.infer.evaluation`` is built from.  The terms of
sites outside the ``"data"`` plate (global latents w, and their observations) are shared by
all N rows of the data set: each row carries 1/N of them, so that summing over the rows, in any
batches, counts them once.
"""

from collections.abc import Callable

import pyro
import torch
from pyro import poutine
from pyro.poutine.util import site_is_subsample

from ..plates import max_plate_nesting
from ..runtime import get_rng_state, set_rng_state


def particle_dim(nesting):
    """The dim of the particle plate for a model that nests ``nesting`` plates."""
    return -(nesting + 1)


def data_frame(site):
    """The ``"data"`` plate's frame of a site, or ``None`` for a site outside it."""
    return next((f for f in site["cond_indep_stack"] if f.name == "data"), None)


def _site_log_density(site, num_particles, num_data):
    """A sample site's log-density per (particle, row), broadcastable to ``(K, batch)``.

    Sites inside the ``"data"`` plate contribute per row (other plates summed out); sites
    outside it give each of the ``num_data`` rows of the data set its 1/N share.
    """
    log_p = site["fn"].log_prob(site["value"])
    frame = data_frame(site)
    particles = next(f.dim for f in site["cond_indep_stack"] if f.name == "particles")
    log_p = log_p.reshape((1,) * max(0, -particles - log_p.dim()) + log_p.shape)
    if frame is None:
        return log_p.movedim(particles, 0).reshape(num_particles, -1).sum(-1, keepdim=True) \
            / num_data
    rows = log_p.shape[frame.dim]
    return log_p.movedim((particles, frame.dim), (0, 1)).reshape(num_particles, rows, -1).sum(-1)


def particle_trace(fn, x, num_particles, indices=None, num_data=None, replay=None,
                   nesting=None, grad=False):
    """The trace of ``fn(x, indices, num_data)`` under a ``"particles"`` plate to the left of
    ``nesting`` plates (``None``: found from ``fn``): every site gains a dimension of
    ``num_particles`` draws there.

    With ``replay`` (a guide's particle trace) the latent sites it holds take its values, so a
    model traced this way is evaluated at the guide's draws z ~ q(z | x).  Without ``grad``
    nothing is recorded for autograd (evaluation); with it the trace can be differentiated
    (a training objective).
    """
    if nesting is None:
        nesting = max_plate_nesting(fn, None, x, indices, num_data)
    if replay is not None:
        fn = poutine.replay(fn, trace=replay)
    with torch.set_grad_enabled(grad), \
            pyro.plate("particles", num_particles, dim=particle_dim(nesting)):
        return poutine.trace(fn).get_trace(x, indices, num_data)


def site_terms(trace, names, num_particles, batch, num_data):
    """Σ over the sites ``names`` of ``trace`` of their log-densities, per (particle, row):
    shape ``(num_particles, batch)``, the terms outside the data plate as 1/N per row."""
    total = 0.0
    for name in names:
        total = total + _site_log_density(trace.nodes[name], num_particles, num_data).expand(
            num_particles, batch)
    return total


def trace_log_weights(model_trace, guide_trace, x, num_particles, num_data=None):
    """``log w`` of shape ``(num_particles, batch)`` from the particle traces of ``x`` (rows of
    a data set of ``num_data``, default the batch): the model replayed against ``guide_trace``
    (``None``: every latent was drawn from the prior).  See ``log_weights``."""
    batch = x.shape[0]
    num_data = batch if num_data is None else int(num_data)
    proposed = set() if guide_trace is None else set(guide_trace.nodes)
    total = x.new_zeros(num_particles, batch)
    for trace, sign in ((model_trace, 1.0), (guide_trace, -1.0)):
        if trace is None:
            continue
        for site in trace.nodes.values():
            if site["type"] != "sample" or site_is_subsample(site):
                continue
            if trace is model_trace and not (site["is_observed"] or site["name"] in proposed):
                continue
            term = _site_log_density(site, num_particles, num_data)
            total = total + sign * term.expand(num_particles, batch)
    return total


def draw_and_replay(model, guide, x, num_particles, indices=None, num_data=None, nesting=None,
                    grad=False):
    """``(model_trace, guide_trace)``: ``num_particles`` draws from the guide (``None``: no
    guide) and the model replayed at them, under one particle plate (``grad``: see
    ``particle_trace``)."""
    if nesting is None:
        nesting = max_plate_nesting(model, guide, x, indices, num_data)
    args = (x, num_particles, indices, num_data)
    drawn = None if guide is None else particle_trace(guide, *args, nesting=nesting, grad=grad)
    return particle_trace(model, *args, replay=drawn, nesting=nesting, grad=grad), drawn


@torch.no_grad()
def log_weights(model: Callable, guide: Callable | None, x: torch.Tensor, num_particles: int,
                indices: torch.Tensor | None = None, num_data: int | None = None,
                nesting: int | None = None) -> torch.Tensor:
    """``log w`` of shape ``(num_particles, batch)``: log p(x, z) − log q(z | x), z ~ q.

    Latent sites that the guide does not sample are drawn by the model from their prior; the
    prior is then their proposal and cancels, so only the observed sites and the guide's sites
    count.  With ``guide=None`` every latent comes from the prior and ``log w = log p(x | z)``
    (the naive Monte Carlo weights).  ``indices`` and ``num_data`` are passed on as in training
    (a local guide needs them); the plate's N / batch scaling does not enter ``log w``, and
    the terms outside the data plate enter as 1/``num_data`` per row (see the module's
    docstring).

    Args:
        model: a contract-following model.
        guide: its guide, or ``None`` (proposal = prior).
        x: a minibatch of shape ``(batch, *event_shape)``.
        num_particles: K, the draws per row.
        indices: the rows' positions in the data set (``None``: ``0 .. batch − 1``).
        num_data: the data set's size N (``None``: the batch is the data set).
        nesting: the model's ``max_plate_nesting`` (``None``: declared or found by a trace).

    Returns:
        A tensor of shape ``(num_particles, batch)``: log p(x_i, z_ik) − log q(z_ik | x_i).
    """
    model_trace, guide_trace = draw_and_replay(model, guide, x, num_particles, indices,
                                               num_data, nesting)
    return trace_log_weights(model_trace, guide_trace, x, num_particles, num_data)


def exact_likelihood(model: Callable, guide: Callable, x: torch.Tensor, elbo: str,
                     indices: torch.Tensor | None = None, num_data: int | None = None) -> bool:
    """Whether the ELBO of ``(model, guide)`` is log p(x) itself: the guide samples nothing and
    the model's latents, if any, are summed out (``elbo="enum"`` with every latent marked for
    enumeration), as for a flow or a mixture.  ``x`` (rows ``indices`` of ``num_data``) is a
    minibatch to trace them on; the random streams are left as they were."""
    state = get_rng_state()
    try:
        with torch.no_grad():
            guide_trace = poutine.trace(guide).get_trace(x, indices, num_data)
            model_trace = poutine.trace(model).get_trace(x, indices, num_data)
    finally:
        set_rng_state(state)
    if any(site["type"] == "sample" and not site_is_subsample(site)
           for site in guide_trace.nodes.values()):
        return False
    latents = [site for site in model_trace.nodes.values() if site["type"] == "sample"
               and not site["is_observed"] and not site_is_subsample(site)]
    return not latents or (elbo == "enum" and all(site["infer"].get("enumerate") == "parallel"
                                                  for site in latents))

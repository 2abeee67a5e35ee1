"""Per-datapoint log-densities from vectorized Pyro traces of any contract-following pair.

One draw of the guide and a replay of the model under a ``"particles"`` plate give, for each
particle k and row i,

    log w_ik = log p(x_i, z_ik) − log q(z_ik | x_i),

the quantity every estimator in :mod:`pyro_lvm.infer.evaluation` is built from.
"""

import pyro
import torch
from pyro import poutine
from pyro.poutine.util import site_is_subsample

from ..plates import MAX_PLATE_NESTING

PARTICLE_DIM = -(MAX_PLATE_NESTING + 1)


def _site_log_density(site, batch):
    """A sample site's log-density per (particle, row), broadcastable to ``(K, batch)``.

    Sites inside the ``"data"`` plate contribute per row; sites outside it (global latents) are
    shared by the rows, so their log-density is spread evenly over them.
    """
    log_p = site["fn"].log_prob(site["value"])
    if any(frame.name == "data" for frame in site["cond_indep_stack"]):
        return log_p
    return log_p.reshape(log_p.shape[0], -1).sum(-1, keepdim=True) / batch


@torch.no_grad()
def particle_trace(fn, x, num_particles, indices=None, num_data=None, replay=None):
    """The trace of ``fn(x, indices, num_data)`` under a ``"particles"`` plate at
    :data:`PARTICLE_DIM`: every site gains a leading dimension of ``num_particles`` draws.

    With ``replay`` (a guide's particle trace) the latent sites it holds take its values, so a
    model traced this way is evaluated at the guide's draws z ~ q(z | x).
    """
    if replay is not None:
        fn = poutine.replay(fn, trace=replay)
    with pyro.plate("particles", num_particles, dim=PARTICLE_DIM):
        return poutine.trace(fn).get_trace(x, indices, num_data)


def trace_log_weights(model_trace, guide_trace, x, num_particles):
    """``log w`` of shape ``(num_particles, batch)`` from the particle traces of ``x``: the model
    replayed against ``guide_trace`` (``None``: every latent was drawn from the prior).  See
    :func:`log_weights`."""
    batch = x.shape[0]
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
            total = total + sign * _site_log_density(site, batch).expand(num_particles, batch)
    return total


@torch.no_grad()
def log_weights(model, guide, x, num_particles, indices=None, num_data=None):
    """``log w`` of shape ``(num_particles, batch)``: log p(x, z) − log q(z | x), z ~ q.

    Latent sites that the guide does not sample are drawn by the model from their prior; the
    prior is then their proposal and cancels, so only the observed sites and the guide's sites
    count.  With ``guide=None`` every latent comes from the prior and ``log w = log p(x | z)``
    (the naive Monte Carlo weights).  ``indices`` and ``num_data`` are passed on as in training
    (a local guide needs them); the plate's N / batch scaling does not enter ``log w``.
    """
    args = (x, num_particles, indices, num_data)
    guide_trace = None if guide is None else particle_trace(guide, *args)
    model_trace = particle_trace(model, *args, replay=guide_trace)
    return trace_log_weights(model_trace, guide_trace, x, num_particles)

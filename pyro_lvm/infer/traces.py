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
def log_weights(model, guide, x, num_particles, indices=None, num_data=None):
    """``log w`` of shape ``(num_particles, batch)``: log p(x, z) − log q(z | x), z ~ q.

    Latent sites that the guide does not sample are drawn by the model from their prior; the
    prior is then their proposal and cancels, so only the observed sites and the guide's sites
    count.  With ``guide=None`` every latent comes from the prior and ``log w = log p(x | z)``
    (the naive Monte Carlo weights).  ``indices`` and ``num_data`` are passed on as in training
    (a local guide needs them); the plate's N / batch scaling does not enter ``log w``.
    """
    batch = x.shape[0]
    plate = pyro.plate("particles", num_particles, dim=PARTICLE_DIM)
    with plate:
        args = (x, indices, num_data)
        guide_trace = None if guide is None else poutine.trace(guide).get_trace(*args)
        replayed = model if guide_trace is None else poutine.replay(model, trace=guide_trace)
        model_trace = poutine.trace(replayed).get_trace(*args)
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

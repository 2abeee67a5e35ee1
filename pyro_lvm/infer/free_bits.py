"""The ELBO with free bits (Kingma et al., 2016): a floor λ on the KL of each latent dimension.

For a minibatch of B rows of a data set of N, with KL_ij the KL term of dimension j of row i's
local latent (log q(z_ij | x_i) − log p(z_ij) at the draw, or the closed form),

    L̃ = (N / B) Σ_i E_q log p(x_i | z_i) − N Σ_j max(λ, (1/B) Σ_i KL_ij),

so no dimension is pushed below λ nats on average, and none collapses to the prior early in
training.  Latent sites outside the data plate keep their plain ELBO terms.  The local latents
must be factorized per dimension (q and p ``Independent`` over the latent dimension, as the
mean-field guide and the VAE's prior are); another site is refused, naming it.
"""

from pyro import poutine
from pyro.distributions import Independent
from pyro.distributions.kl import kl_divergence
from pyro.poutine.util import site_is_subsample

from ..errors import bad_value
from .traces import data_frame


def _dimensions(name, site):
    fn = site["fn"]
    while not isinstance(fn, Independent) and hasattr(fn, "base_dist"):
        fn = fn.base_dist  # a masked or scaled wrapper
    if not isinstance(fn, Independent) or fn.reinterpreted_batch_ndims != 1:
        raise bad_value("free_bits", f"site {name!r} of {type(site['fn']).__name__}",
                        "local latents factorized per dimension (Independent over one "
                        "dimension, as a mean-field guide) for a KL floor per dimension")
    return fn.base_dist


class FreeBitsELBO:
    """The free-bits objective with floor ``free_bits`` = λ nats per latent dimension (see the
    module docstring), ``num_particles`` draws averaged; the KL per dimension in closed form
    where PyTorch has it with ``closed_form``, else by Monte Carlo at the draw.

    Args:
        free_bits: λ > 0, nats per latent dimension.
        num_particles: draws per step.
        closed_form: the KL of each dimension in closed form where PyTorch knows it.
    """

    def __init__(self, free_bits: float, num_particles: int = 1, closed_form: bool = False):
        self.free_bits, self.num_particles = float(free_bits), int(num_particles)
        self.closed_form = closed_form

    def _one(self, model, guide, x, indices, num_data):
        guide_trace = poutine.trace(guide).get_trace(x, indices, num_data)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(
            x, indices, num_data)
        model_trace.compute_log_prob()
        guide_trace.compute_score_parts()
        objective = 0.0
        for name, site in model_trace.nodes.items():
            if site["type"] != "sample" or site_is_subsample(site):
                continue
            if site["is_observed"]:
                objective = objective + site["log_prob_sum"]
                continue
            q = guide_trace.nodes[name]
            if data_frame(site) is None:  # a global latent: its plain ELBO terms
                objective = objective + site["log_prob_sum"] - q["log_prob_sum"]
                continue
            p_dims, q_dims = _dimensions(name, site), _dimensions(name, q)
            kl = None
            if self.closed_form:
                try:
                    kl = kl_divergence(q_dims, p_dims)
                except NotImplementedError:
                    pass
            if kl is None:
                kl = q_dims.log_prob(site["value"]) - p_dims.log_prob(site["value"])
            rows = kl.reshape(-1, kl.shape[-1])
            floor = rows.mean(0).clamp(min=self.free_bits).sum()
            objective = objective - q["scale"] * rows.shape[0] * floor
        return objective

    def differentiable_loss(self, model, guide, x, indices=None, num_data=None):
        """−L̃ of the minibatch, averaged over the particles."""
        total = sum(self._one(model, guide, x, indices, num_data)
                    for _ in range(self.num_particles))
        return -total / self.num_particles

    def loss(self, model, guide, *args, **kwargs):
        return float(self.differentiable_loss(model, guide, *args, **kwargs).detach())

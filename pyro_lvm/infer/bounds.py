"""Importance-weighted bounds on log p(x), per datapoint, as training objectives.

With K draws z_k ~ q(z | x_i) and log w_ik = log p(x_i, z_ik) − log q(z_ik | x_i) (``traces``),

    L_K(x_i) = log (1/K) Σ_k w_ik                                   (IWAE; Burda et al., 2016)
    L_α(x_i) = 1/(1 − α) · log (1/K) Σ_k w_ik^(1 − α),  0 ≤ α < 1   (Rényi; Li & Turner, 2016)

L_1 is the ELBO; in expectation L_K ≤ L_{K+1} ≤ log p(x), and L_K → log p(x) as K grows; α = 0
is IWAE and α → 1 the ELBO.  The minibatch loss is −(N / B) Σ_i L(x_i), an unbiased estimate of
−Σ_{i=1..N} L(x_i) (terms outside the data plate enter once, as 1/N per row).  Every latent site
of the guide must be reparametrized: the gradient is the derivative of the bound through the
draws z_k = g_φ(ε_k, x).

Unlike ``pyro.infer.RenyiELBO``, which weighs the minibatch as one sample (log (1/K) Σ_k
Π_i w_ik), the bound here is per row, as Burda et al. define it; the two agree on a batch of
one row.
"""

import math

from pyro.poutine.util import site_is_subsample

from ..errors import bad_value
from .traces import draw_and_replay, trace_log_weights


class ImportanceWeightedELBO:
    """The IWAE bound (``alpha=0``) or Rényi's (``0 < alpha < 1``) with K = ``num_particles``
    draws per row, vectorized; ``differentiable_loss`` has the signature of Pyro's ELBOs.

    Args:
        num_particles: K, the draws per row.
        alpha: Rényi's α in [0, 1).
        max_plate_nesting: the model's plate nesting (``None``: found with a first trace).
    """

    def __init__(self, num_particles: int = 5, alpha: float = 0.0,
                 max_plate_nesting: int | None = None):
        if not (isinstance(alpha, (int, float)) and 0 <= alpha < 1):
            raise bad_value("alpha", alpha, "a number in [0, 1) (alpha = 1 is the ELBO)")
        self.num_particles, self.alpha = int(num_particles), float(alpha)
        self.max_plate_nesting = None if max_plate_nesting in (None, math.inf) \
            else int(max_plate_nesting)

    def bound(self, model, guide, x, indices=None, num_data=None):
        """L(x_i) per row of the minibatch ``x``, shape ``(batch,)``, differentiable."""
        k = self.num_particles
        model_trace, guide_trace = draw_and_replay(model, guide, x, k, indices, num_data,
                                                   self.max_plate_nesting, grad=True)
        for name, site in guide_trace.nodes.items():
            if site["type"] == "sample" and not site["is_observed"] \
                    and not site_is_subsample(site) and not site["fn"].has_rsample:
                raise bad_value("guide", f"site {name!r} without rsample",
                                "a reparametrized guide for an importance-weighted bound")
        log_w = trace_log_weights(model_trace, guide_trace, x, k, num_data)
        scaled = (1 - self.alpha) * log_w
        return (scaled.logsumexp(0) - math.log(k)) / (1 - self.alpha)

    def differentiable_loss(self, model, guide, x, indices=None, num_data=None):
        """−(N / B) Σ_i L(x_i) for a minibatch of B rows of a data set of N."""
        scale = 1.0 if num_data is None else num_data / x.shape[0]
        return -self.bound(model, guide, x, indices, num_data).sum() * scale

    def loss(self, model, guide, *args, **kwargs):
        """The loss as a float (as Pyro's ELBOs have it)."""
        return float(self.differentiable_loss(model, guide, *args, **kwargs).detach())

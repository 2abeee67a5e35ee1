"""Importance-weighted bounds on log p(x), per datapoint, as training objectives.

With K draws z_k ~ q(z | x_i) and log w_ik = log p(x_i, z_ik) − log q(z_ik | x_i) (``traces``),

    L_K(x_i) = log (1/K) Σ_k w_ik                                   (IWAE; Burda et al., 2016)
    L_α(x_i) = 1/(1 − α) · log (1/K) Σ_k w_ik^(1 − α),  0 ≤ α < 1   (Rényi; Li & Turner, 2016)

L_1 is the ELBO; in expectation L_K ≤ L_{K+1} ≤ log p(x), and L_K → log p(x) as K grows; α = 0
is IWAE and α → 1 the ELBO.  The minibatch loss is −(N / B) Σ_i L(x_i), an unbiased estimate of
−Σ_{i=1..N} L(x_i) (terms outside the data plate enter once, as 1/N per row).  Every latent site
of the guide must be reparametrized: the gradient is the derivative of the bound through the
draws z_k = g_φ(ε_k, x).

With ``dreg=True`` (IWAE only) the guide's gradient is the doubly-reparametrized estimator of
Tucker, Lawson, Gu & Maddison (2019): with w̃_k the normalized weights,

    ∇_φ L_K ≈ Σ_k w̃_k² ∂ log w_k / ∂z_k · ∂z_k / ∂φ,

which drops the score term ∂ log q / ∂φ whose variance grows with K; the model's gradient
Σ_k w̃_k ∇_θ log p_θ(x, z_k) and the bound's value are those of IWAE.  It is built from one
guide trace and two model replays (at z and at z held fixed): the surrogate
Σ_k w̃_k A(z̄_k) + Σ_k w̃_k² [A(z_k) − A(z̄_k) − log q(z_k) + log q(z̄_k)], with A = log p(x, ·),
z̄ = stop(z) and w̃ held fixed, has exactly those two gradients.

Unlike ``pyro.infer.RenyiELBO``, which weighs the minibatch as one sample (log (1/K) Σ_k
Π_i w_ik), the bound here is per row, as Burda et al. define it; the two agree on a batch of
one row.
"""

import math

import torch
from pyro.poutine.util import site_is_subsample

from ..errors import bad_value
from .traces import draw_and_replay, particle_trace, site_terms, trace_log_weights


class ImportanceWeightedELBO:
    """The IWAE bound (``alpha=0``) or Rényi's (``0 < alpha < 1``) with K = ``num_particles``
    draws per row, vectorized; ``differentiable_loss`` has the signature of Pyro's ELBOs.

    Args:
        num_particles: K, the draws per row.
        alpha: Rényi's α in [0, 1).
        max_plate_nesting: the model's plate nesting (``None``: found with a first trace).
        dreg: the guide's gradient by DReG (``alpha=0`` only; see the module docstring).
    """

    def __init__(self, num_particles: int = 5, alpha: float = 0.0,
                 max_plate_nesting: int | None = None, dreg: bool = False):
        if not (isinstance(alpha, (int, float)) and 0 <= alpha < 1):
            raise bad_value("alpha", alpha, "a number in [0, 1) (alpha = 1 is the ELBO)")
        if dreg and alpha != 0:
            raise bad_value("dreg", dreg, "False with Renyi's bound (DReG is IWAE's, alpha=0)")
        self.num_particles, self.alpha, self.dreg = int(num_particles), float(alpha), dreg
        self.max_plate_nesting = None if max_plate_nesting in (None, math.inf) \
            else int(max_plate_nesting)

    def _traces(self, model, guide, x, indices, num_data):
        model_trace, guide_trace = draw_and_replay(model, guide, x, self.num_particles, indices,
                                                   num_data, self.max_plate_nesting, grad=True)
        latents = []
        for name, site in guide_trace.nodes.items():
            if site["type"] == "sample" and not site["is_observed"] \
                    and not site_is_subsample(site):
                if not site["fn"].has_rsample:
                    raise bad_value("guide", f"site {name!r} without rsample",
                                    "a reparametrized guide for an importance-weighted bound")
                latents.append(name)
        return model_trace, guide_trace, latents

    def bound(self, model, guide, x, indices=None, num_data=None):
        """L(x_i) per row of the minibatch ``x``, shape ``(batch,)``: its value, and with
        ``dreg`` the DReG gradient (else the bound's own)."""
        k = self.num_particles
        model_trace, guide_trace, latents = self._traces(model, guide, x, indices, num_data)
        log_w = trace_log_weights(model_trace, guide_trace, x, k, num_data)
        scaled = (1 - self.alpha) * log_w
        bound = (scaled.logsumexp(0) - math.log(k)) / (1 - self.alpha)
        if not self.dreg:
            return bound
        surrogate = self._dreg_surrogate(model, x, indices, num_data, model_trace, guide_trace,
                                         latents, log_w)
        return bound.detach() + surrogate - surrogate.detach()

    def _dreg_surrogate(self, model, x, indices, num_data, model_trace, guide_trace, latents,
                        log_w):
        """Σ_k w̃ A(z̄) + Σ_k w̃² [A(z) − A(z̄) − log q(z) + log q(z̄)] per row (module
        docstring)."""
        k, batch = self.num_particles, x.shape[0]
        held = guide_trace.copy()
        for name in latents:
            held.nodes[name] = {**guide_trace.nodes[name],
                                "value": guide_trace.nodes[name]["value"].detach()}
        replayed = particle_trace(model, x, k, indices, num_data, replay=held,
                                  nesting=self.max_plate_nesting, grad=True)
        scored = [n for n, s in model_trace.nodes.items()
                  if s["type"] == "sample" and (s["is_observed"] or n in latents)]
        at_z = site_terms(model_trace, scored, k, batch, num_data)
        at_held = site_terms(replayed, scored, k, batch, num_data)
        q_z = site_terms(guide_trace, latents, k, batch, num_data)
        q_held = site_terms(held, latents, k, batch, num_data)
        weights = torch.softmax(log_w.detach(), 0)
        return (weights * at_held + weights ** 2 * (at_z - at_held - q_z + q_held)).sum(0)

    def differentiable_loss(self, model, guide, x, indices=None, num_data=None):
        """−(N / B) Σ_i L(x_i) for a minibatch of B rows of a data set of N."""
        scale = 1.0 if num_data is None else num_data / x.shape[0]
        return -self.bound(model, guide, x, indices, num_data).sum() * scale

    def loss(self, model, guide, *args, **kwargs):
        """The loss as a float (as Pyro's ELBOs have it)."""
        return float(self.differentiable_loss(model, guide, *args, **kwargs).detach())

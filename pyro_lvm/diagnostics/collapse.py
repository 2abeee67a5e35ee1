"""Posterior collapse: latent dimensions that the guide no longer uses.

Per latent dimension j, averaged over the rows x_i:

- KL_j = (1/n) Σ_i KL(q(z_j | x_i) ‖ p(z_j)). How it is computed depends on the pair, and
  ``kl_method`` says which:

  - ``"closed form"``: q and p factor over the dimensions (``Independent`` distributions, or
    a multivariate normal, whose marginals are N(μ_j, Σ_jj)) and PyTorch has the KL of their
    marginals (``torch.distributions.kl_divergence``: Normal, Laplace, Gumbel, ... against a
    Normal);
  - ``"monte carlo"``: they factor but the KL has no closed form (a Student-t guide, a
    mixture per dimension): KL_ij ≈ (1/S) Σ_s [log q(z_js | x_i) − log p(z_js)], z_s ~ q, with
    the standard error se_j = √(Σ_i Var_s[...] / S) / n;
  - ``"gaussian approximation"``: q or p has no density per dimension (a flow guide, a flow or
    mixture prior): the KL of the Gaussians with their moments,
    KL(N(μ, σ²) ‖ N(m, s²)) = ½ [log(s² / σ²) + (σ² + (μ − m)²) / s² − 1]
    (``gaussian_kl``), exact only for Gaussian marginals;
  - ``"point mass (KL = inf)"``: a ``Delta`` guide (a MAP estimate) has no density.

  With global latents drawn alongside, the KL is averaged over their draws.  A collapsed
  dimension has q(z_j | x) = p(z_j) for every x, so KL_j = 0;
- activity A_j = Var_x(E_q[z_j | x]) (Burda et al., 2015); dimension j is *active* when
  A_j > 0.01: its posterior mean moves with the data.
"""

import math
from collections.abc import Callable

import pyro.distributions as dist
import torch
from torch.distributions import kl_divergence

from ..checks import check_int
from ..infer.evaluation import row_batches
from .encode import _per_row, site_moments
from .inference_data import check_rows, draw_traces, local_latent, pair_nesting, per_draw

ACTIVITY_THRESHOLD = 0.01
CLOSED_FORM, MONTE_CARLO, GAUSSIAN = "closed form", "monte carlo", "gaussian approximation"
POINT_MASS = "point mass (KL = inf)"


def gaussian_kl(q_mean, q_var, p_mean, p_var):
    """KL(N(q_mean, q_var) ‖ N(p_mean, p_var)), elementwise."""
    return 0.5 * (torch.log(p_var / q_var) + (q_var + (q_mean - p_mean) ** 2) / p_var - 1)


def marginals(fn):
    """The one-dimensional marginals of ``fn`` as one distribution with event shape ``()`` and
    batch shape ``fn.batch_shape + fn.event_shape``, or ``None`` when they are not at hand.

    Exact for distributions that factor over their event (``Independent`` of a univariate
    base) and for the multivariate normal: z_j ~ N(μ_j, Σ_jj).
    """
    if not fn.event_shape:
        return fn
    if isinstance(fn, torch.distributions.Independent):
        return marginals(fn.base_dist)
    if isinstance(fn, (torch.distributions.MultivariateNormal,
                       torch.distributions.LowRankMultivariateNormal)):
        return dist.Normal(fn.loc, fn.variance.sqrt())
    return None


def _is_point_mass(fn):
    while isinstance(fn, torch.distributions.Independent):
        fn = fn.base_dist
    return isinstance(fn, dist.Delta)


def _kl_terms(q_site, p_site, num_samples, moments):
    """Per row and dimension of one batch: ``(kl, var, method)``, the KL (averaged over the
    draws) and, for a Monte Carlo estimate, the variance of that mean (else zeros; NaN for the
    Gaussian approximation, which uses ``moments``, ``((q_mean, q_var), (p_mean, p_var))``),
    both of shape ``(rows, event_size)``."""
    def rows(value):  # (draws, rows, event_size)
        value = torch.broadcast_to(value, q_site["value"].shape)
        return _per_row(per_draw(q_site, value, num_samples, q_site["fn"].event_shape), 2)

    q, p = marginals(q_site["fn"]), marginals(p_site["fn"])
    if _is_point_mass(q_site["fn"]):
        kl = rows(torch.full_like(q_site["value"], math.inf))
        return kl.mean(0), torch.zeros_like(kl[0]), POINT_MASS
    if q is None or p is None:
        kl = gaussian_kl(*moments[0], *moments[1])
        return kl, torch.full_like(kl, math.nan), GAUSSIAN
    try:
        kl = rows(kl_divergence(q, p))
    except NotImplementedError:
        terms = rows(q.log_prob(q_site["value"]) - p.log_prob(q_site["value"]))
        var = terms.var(0) / num_samples if num_samples > 1 else terms[0] * math.nan
        return terms.mean(0), var, MONTE_CARLO
    return kl.mean(0), torch.zeros_like(kl[0]), CLOSED_FORM


def _describe(method, num_samples, se):
    if method == MONTE_CARLO:
        return f"{MONTE_CARLO} ({num_samples} draws per row), se <= {float(se.max()):.2g}"
    if method == GAUSSIAN:
        return (f"{GAUSSIAN} (KL of the Gaussians with q's and p's moments: q or p has no "
                "density per dimension)")
    return method


@torch.no_grad()
def collapse_diagnostics(model: Callable, guide: Callable, x: torch.Tensor,
                         num_samples: int = 64, batch_size: int = 256, site: str = "z",
                         threshold: float = ACTIVITY_THRESHOLD) -> dict:
    """KL per latent dimension, activity and active units of the local latent ``site``.

    Args:
        model: a contract-following model.
        guide: its guide.
        x: the rows, shape ``(n, *event_shape)``.
        num_samples: S, draws per row: those of a Monte Carlo KL, and those that estimate
            moments a distribution does not provide.
        batch_size: rows traced at a time.
        site: the local latent site.
        threshold: a dimension is active when its activity exceeds this.

    Returns:
        A dict: ``kl_per_dim`` and ``activity`` of shape ``(latent_dim,)``; ``kl_se``, the
            standard error of ``kl_per_dim`` (0 in closed form, NaN for the Gaussian
            approximation); ``kl_method``, how the KL was computed (see the module docstring:
            ``"closed form"``, ``"monte carlo (S draws per row), se <= ..."`` or ``"gaussian
            approximation (...)"``); ``active`` (``activity > threshold``), ``num_active``;
            ``posterior_mean`` / ``posterior_sd`` of shape ``(rows, latent_dim)``, and the
            prior's ``prior_mean`` / ``prior_sd`` of shape ``(latent_dim,)`` (averaged over
            rows).

    References:
        Burda, Grosse & Salakhutdinov (2016), Importance weighted autoencoders (active units).
    """
    check_rows(x)
    num_samples = check_int("num_samples", num_samples, 1)
    q_parts, p_parts, kl_parts, var_parts, methods = [], [], [], [], set()
    batches = list(row_batches(x.shape[0], check_int("batch_size", batch_size, 1), x.device))
    nesting = pair_nesting(model, guide, x[batches[0]], batches[0], x.shape[0])
    for indices in batches:
        model_trace, drawn = draw_traces(model, guide, x[indices], num_samples, indices,
                                         x.shape[0], nesting)
        q_site, p_site = local_latent(drawn, site), model_trace.nodes[site]
        moments = site_moments(q_site, num_samples), site_moments(p_site, num_samples)
        q_parts.append(moments[0])
        p_parts.append(moments[1])
        kl, var, method = _kl_terms(q_site, p_site, num_samples, moments)
        kl_parts.append(kl)
        var_parts.append(var)
        methods.add(method)
    q_mean, q_var = map(torch.cat, zip(*q_parts))
    p_mean, p_var = map(torch.cat, zip(*p_parts))
    kl = torch.cat(kl_parts).mean(0)
    se = torch.cat(var_parts).sum(0).sqrt() / x.shape[0]
    activity = q_mean.var(0, unbiased=False)
    active = activity > threshold
    return {"kl_per_dim": kl, "kl_se": se,
            "kl_method": "; ".join(_describe(m, num_samples, se) for m in sorted(methods)),
            "activity": activity, "active": active,
            "num_active": int(active.sum()), "posterior_mean": q_mean,
            "posterior_sd": q_var.sqrt(), "prior_mean": p_mean.mean(0),
            "prior_sd": p_var.mean(0).sqrt()}

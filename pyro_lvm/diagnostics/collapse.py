"""Posterior collapse: latent dimensions that the guide no longer uses.

Per latent dimension j, averaged over the rows x_i:

- KL_j = (1/n) Σ_i KL(q(z_j | x_i) ‖ p(z_j)), with Gaussian marginals
  KL(N(μ, σ²) ‖ N(m, s²)) = ½ [log(s² / σ²) + (σ² + (μ − m)²) / s² − 1]
  (exact for Normal guides and priors; for others, that of the Gaussians with their moments).
  A collapsed dimension has q(z_j | x) = p(z_j) for every x, so KL_j = 0;
- activity A_j = Var_x(E_q[z_j | x]) (Burda et al., 2015); dimension j is *active* when
  A_j > 0.01: its posterior mean moves with the data.
"""

from collections.abc import Callable

import torch

from ..checks import check_int
from ..infer.evaluation import row_batches
from .encode import site_moments
from .inference_data import check_rows, draw_traces, local_latent, pair_nesting

ACTIVITY_THRESHOLD = 0.01


def gaussian_kl(q_mean, q_var, p_mean, p_var):
    """KL(N(q_mean, q_var) ‖ N(p_mean, p_var)), elementwise."""
    return 0.5 * (torch.log(p_var / q_var) + (q_var + (q_mean - p_mean) ** 2) / p_var - 1)


@torch.no_grad()
def collapse_diagnostics(model: Callable, guide: Callable, x: torch.Tensor,
                         num_samples: int = 64, batch_size: int = 256, site: str = "z",
                         threshold: float = ACTIVITY_THRESHOLD) -> dict[str, torch.Tensor]:
    """KL per latent dimension, activity and active units of the local latent ``site``.

    Returns a dict of tensors: ``kl_per_dim`` and ``activity`` of shape ``(latent_dim,)``,
    ``active`` (``activity > threshold``), ``num_active``, ``posterior_mean`` /
    ``posterior_sd`` of shape ``(rows, latent_dim)`` and the prior's ``prior_mean`` /
    ``prior_sd`` of shape ``(latent_dim,)`` (averaged over rows).

    Args:
        model: a contract-following model.
        guide: its guide.
        x: the rows, shape ``(n, *event_shape)``.
        num_samples: draws that estimate moments a distribution does not provide.
        batch_size: rows traced at a time.
        site: the local latent site.
        threshold: a dimension is active when its activity exceeds this.

    Returns:
        The dict of tensors above.

    References:
        Burda, Grosse & Salakhutdinov (2016), Importance weighted autoencoders (active units).
    """
    check_rows(x)
    num_samples = check_int("num_samples", num_samples, 1)
    q_parts, p_parts = [], []
    batches = list(row_batches(x.shape[0], check_int("batch_size", batch_size, 1), x.device))
    nesting = pair_nesting(model, guide, x[batches[0]], batches[0], x.shape[0])
    for indices in batches:
        model_trace, drawn = draw_traces(model, guide, x[indices], num_samples, indices,
                                         x.shape[0], nesting)
        q_parts.append(site_moments(local_latent(drawn, site), num_samples))
        p_parts.append(site_moments(model_trace.nodes[site], num_samples))
    q_mean, q_var = map(torch.cat, zip(*q_parts))
    p_mean, p_var = map(torch.cat, zip(*p_parts))
    kl = gaussian_kl(q_mean, q_var, p_mean, p_var).mean(0)
    activity = q_mean.var(0, unbiased=False)
    active = activity > threshold
    return {"kl_per_dim": kl, "activity": activity, "active": active,
            "num_active": int(active.sum()), "posterior_mean": q_mean,
            "posterior_sd": q_var.sqrt(), "prior_mean": p_mean.mean(0),
            "prior_sd": p_var.mean(0).sqrt()}

"""Projection to the latent space: each row's posterior mean and standard deviation under q.

For a guide whose distribution at the site has moments (every Normal guide), they are exact;
otherwise (a flow guide, say) they are Monte Carlo estimates from ``num_samples`` draws.  With
S draws of the conditional moments (m_s, v_s) (without moments: m_s = z_s ~ q, v_s = 0), the
law of total variance pools them:

    E_q[z | x] = (1/S) Σ_s m_s,    Var_q[z | x] = (1/S) Σ_s v_s + (1/S) Σ_s (m_s − E_q[z | x])²,

which also covers guides whose q(z | x) depends on global latents drawn alongside.
"""

from collections.abc import Callable

import pandas as pd
import torch

from ..checks import check_int
from ..infer.evaluation import row_batches
from .inference_data import check_rows, guide_trace, local_latent, pair_nesting, per_draw


def _per_row(value, dims):
    """``value`` with everything after its first ``dims`` dimensions flattened into one (a
    scalar latent per row becomes one column)."""
    return value.reshape(*value.shape[:dims], -1)


def site_moments(site, num_particles):
    """(E[value], Var[value]) per row of a site traced under ``num_particles`` particles, the
    event flattened: two tensors ``(rows, event_size)``, pooled over the particles as above."""
    fn = site["fn"]
    try:
        mean, variance = fn.mean.expand_as(site["value"]), fn.variance.expand_as(site["value"])
    except NotImplementedError:  # fresh draws: a replayed model site holds the guide's value
        mean = fn.sample()
        variance = torch.zeros_like(mean)
    mean, variance = (_per_row(per_draw(site, v, num_particles, fn.event_shape), 2)
                      for v in (mean, variance))
    pooled = mean.mean(0)
    return pooled, variance.mean(0) + ((mean - pooled) ** 2).mean(0)


@torch.no_grad()
def encode(guide: Callable, x: torch.Tensor, sample: bool = False, num_samples: int = 64,
           batch_size: int = 1024, site: str = "z") -> pd.DataFrame:
    """A DataFrame with one row per row of ``x``: columns ``z0_mean, ..., z0_sd, ...`` (the
    posterior mean and standard deviation of each latent dimension under the guide) or, with
    ``sample=True``, ``z0, z1, ...``: one draw z ~ q(z | x).

    Rows go to the guide ``batch_size`` at a time, with their ``indices`` and ``num_data`` as in
    training.

    Args:
        guide: a contract-following guide.
        x: the rows, shape ``(n, *event_shape)``.
        sample: one draw per row instead of the mean and sd.
        num_samples: draws that estimate the moments a guide's distribution does not have (a
            flow guide); the law of total variance pools them.
        batch_size: rows traced at a time.
        site: the local latent site.

    Returns:
        A ``pandas.DataFrame`` of ``n`` rows: ``z0_mean, ..., z0_sd, ...``, or ``z0, z1, ...``
            with ``sample=True``.
    """
    check_rows(x)
    batch_size = check_int("batch_size", batch_size, 1)
    num_samples = 1 if sample else check_int("num_samples", num_samples, 1)
    parts = []
    batches = list(row_batches(x.shape[0], batch_size, x.device))
    nesting = pair_nesting(None, guide, x[batches[0]], batches[0], x.shape[0])
    for indices in batches:
        trace = guide_trace(guide, x[indices], num_samples, indices, x.shape[0], nesting)
        drawn = local_latent(trace, site)
        if sample:
            parts.append(_per_row(per_draw(drawn, drawn["value"], 1,
                                           drawn["fn"].event_shape)[0], 1))
        else:
            mean, variance = site_moments(drawn, num_samples)
            parts.append(torch.cat([mean, variance.sqrt()], -1))
    values = torch.cat(parts).cpu().numpy()
    names = [f"{site}{j}" for j in range(values.shape[1] // (1 if sample else 2))]
    columns = names if sample else [f"{name}_mean" for name in names] + [
        f"{name}_sd" for name in names]
    return pd.DataFrame(values, columns=columns)

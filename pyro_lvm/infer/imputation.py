"""Missing values filled in from a trained VAE, by self-normalized importance sampling.

With draws z_k ~ q(z | x), k = 1..K, and weights w_k ∝ p(x_obs | z_k) p(z_k) / q(z_k | x)
normalized to w̃_k, the conditional mean of the missing entries is

    E[x_miss | x_obs] = E_{p(z | x_obs)} E[x_miss | z] ≈ Σ_k w̃_k E[x_miss | z_k]

(for a categorical column: the level of largest Σ_k w̃_k p(level | z_k)).  Multiple
imputations for a downstream analysis draw k with probabilities w̃ (sampling importance
resampling) and then x_miss ~ p(x_miss | z_k).  Observed entries are returned untouched.
"""

import torch

from ..checks import check_int
from ..errors import bad_value
from .evaluation import row_batches
from .traces import draw_and_replay, trace_log_weights


def _check(vae, x):
    if not getattr(vae, "missing", False):
        raise bad_value("vae", type(vae).__name__, "a VAE built with missing=True")
    if x.dim() != 2 or x.shape[1] != vae.data_dim:
        raise bad_value("x", tuple(x.shape), f"rows of {vae.data_dim} columns")


def _posterior_draws(vae, x, indices, num_data, num_samples):
    """``(z, w̃)``: K draws z ~ q(z | x) ``(K, batch, latent)`` and their normalized weights
    ``(K, batch)``."""
    model_trace, guide_trace = draw_and_replay(vae.model, vae.guide, x, num_samples, indices,
                                               num_data)
    log_w = trace_log_weights(model_trace, guide_trace, x, num_samples, num_data)
    return guide_trace.nodes["z"]["value"], torch.softmax(log_w, 0)


@torch.no_grad()
def impute(vae: torch.nn.Module, x: torch.Tensor, num_samples: int = 1000, batch_size: int = 256
           ) -> torch.Tensor:
    """``x`` with every NaN replaced by its importance-weighted conditional mean
    E[x_miss | x_obs] (see the module docstring), from ``num_samples`` draws per row.

    Args:
        vae: a ``VAE`` built with ``missing=True`` (or anything with its ``model``, ``guide``,
            ``decoder``, ``likelihood`` and ``missing``).
        x: rows ``(n, data_dim)``, NaN where missing, encoded as the model reads them.
        num_samples: K, the draws z ~ q(z | x) per row.
        batch_size: rows at a time.

    Returns:
        A tensor like ``x``, observed entries untouched.
    """
    _check(vae, x)
    num_samples = check_int("num_samples", num_samples)
    parts = []
    for indices in row_batches(x.shape[0], check_int("batch_size", batch_size), x.device):
        rows = x[indices]
        z, weights = _posterior_draws(vae, rows, indices, x.shape[0], num_samples)
        mean = vae.likelihood.weighted_mean(vae.decoder(z), weights)
        parts.append(torch.where(torch.isnan(rows), mean.to(rows.dtype), rows))
    return torch.cat(parts)


@torch.no_grad()
def impute_draws(vae: torch.nn.Module, x: torch.Tensor, draws: int, num_samples: int = 1000,
                 batch_size: int = 256) -> torch.Tensor:
    """``draws`` multiple imputations of ``x``, shape ``(draws, n, data_dim)``: in each, a row's
    missing entries are one draw x_miss ~ p(x_miss | z), z resampled from the row's K
    importance draws with probabilities w̃ (see the module docstring).  Arguments as for
    ``impute``."""
    _check(vae, x)
    draws, num_samples = check_int("draws", draws), check_int("num_samples", num_samples)
    parts = []
    for indices in row_batches(x.shape[0], check_int("batch_size", batch_size), x.device):
        rows = x[indices]
        z, weights = _posterior_draws(vae, rows, indices, x.shape[0], num_samples)
        picked = torch.multinomial(weights.T, draws, replacement=True).T  # (draws, batch)
        z = z[picked, torch.arange(rows.shape[0], device=rows.device)]
        drawn = vae.decode(z).sample().to(rows.dtype)
        parts.append(torch.where(torch.isnan(rows), drawn, rows))
    return torch.cat(parts, dim=1)

"""Estimators of log p(x) and the ELBO, per datapoint, for any contract-following pair.

With log w_k = log p(x, z_k) − log q(z_k | x), z_k ~ q(z | x):

- ELBO(x)         ≈ (1/K) Σ_k log w_k                          (a lower bound on log p(x))
- log p̂(x)        = logsumexp_k log w_k − log K                 (importance sampling; its
                    expectation is also a bound, tightening to log p(x) as K grows)
- naive log p̂(x)  = logsumexp_k log p(x | z_k) − log K, z_k ~ p(z)  (the lecture's naive
                    Monte Carlo estimate, hopeless once z has more than a few dimensions)
- gap(x)          = log p̂(x) − ELBO(x) ≈ KL(q(z | x) ‖ p(z | x)).

Rows are processed ``batch_size`` at a time and particles ``particle_chunk`` at a time, with a
running ``logsumexp``, so memory stays bounded for any K.
"""

import math
from collections.abc import Callable

import torch

from ..checks import check_int
from ..plates import max_plate_nesting
from .traces import log_weights


def row_batches(num_rows, batch_size, device):
    """The indices of consecutive batches of at most ``batch_size`` rows."""
    for start in range(0, num_rows, batch_size):
        yield torch.arange(start, min(start + batch_size, num_rows), device=device)


def particle_chunks(num_samples, batch, max_cells):
    """Sizes of particle chunks so that chunk × batch stays under ``max_cells``."""
    chunk = max(1, min(num_samples, max_cells // max(batch, 1)))
    sizes = [chunk] * (num_samples // chunk)
    if num_samples % chunk:
        sizes.append(num_samples % chunk)
    return sizes


def _reduce_weights(model, guide, x, indices, num_data, num_samples, max_cells, nesting):
    """(Σ_k log w_k, logsumexp_k log w_k) per row of ``x``, computed in particle chunks."""
    total = x.new_zeros(x.shape[0])
    lse = x.new_full((x.shape[0],), -math.inf)
    for k in particle_chunks(num_samples, x.shape[0], max_cells):
        log_w = log_weights(model, guide, x, k, indices, num_data, nesting)
        total = total + log_w.sum(0)
        lse = torch.logaddexp(lse, torch.logsumexp(log_w, 0))
    return total, lse


def evaluate_per_datapoint(model: Callable, guide: Callable | None, x: torch.Tensor,
                           num_samples: int = 1000, batch_size: int = 256,
                           max_cells: int = 2 ** 16) -> dict[str, torch.Tensor]:
    """Per-row ``elbo``, ``log_px`` (importance sampled, guide as proposal) and ``gap``.

    Rows go to the model and guide in batches, with their ``indices`` and ``num_data = n`` as
    in training.  Every estimate uses the same ``num_samples`` draws z_k ~ q(z | x), so
    ``gap >= 0`` holds exactly (Jensen).  Global latents (sites outside the data plate) are
    drawn afresh for each batch and each row carries 1/n of their terms, so ``elbo.sum()``
    estimates the full-data ELBO, whatever ``batch_size``.

    Args:
        model: a contract-following model ``model(x, indices, num_data)``.
        guide: its guide (``None``: every latent drawn from the prior, the naive estimate).
        x: the rows, shape ``(n, *event_shape)``.
        num_samples: K, the draws per row.
        batch_size: rows traced at a time.
        max_cells: at most this many (particle, row) pairs are traced at once.

    Returns:
        A dict of tensors of shape ``(n,)``, in nats: ``elbo`` = (1/K) Σ_k log w_k,
            ``log_px`` = logsumexp_k log w_k − log K and ``gap`` = ``log_px − elbo``.

    References:
        Burda, Grosse & Salakhutdinov (2016), Importance weighted autoencoders (the
        importance-sampled log p(x)).
    """
    check_int("num_samples", num_samples)
    check_int("batch_size", batch_size)
    elbos, log_px = [], []
    n = x.shape[0]
    head = torch.arange(min(batch_size, n), device=x.device)
    nesting = max_plate_nesting(model, guide, x[head], head, n)
    for start in range(0, n, batch_size):
        indices = torch.arange(start, min(start + batch_size, n), device=x.device)
        total, lse = _reduce_weights(model, guide, x[indices], indices, n, num_samples,
                                     max_cells, nesting)
        elbos.append(total / num_samples)
        log_px.append(lse - math.log(num_samples))
    elbo, log_px = torch.cat(elbos), torch.cat(log_px)
    return {"elbo": elbo, "log_px": log_px, "gap": log_px - elbo}


def elbo_per_datapoint(model: Callable, guide: Callable | None, x: torch.Tensor,
                       num_samples: int = 1, batch_size: int = 256) -> torch.Tensor:
    """The Monte Carlo ELBO (1/K) Σ_k [log p(x, z_k) − log q(z_k | x)] per row of ``x``.

    Args:
        model: a contract-following model.
        guide: its guide.
        x: the rows, shape ``(n, *event_shape)``.
        num_samples: K.
        batch_size: rows traced at a time.

    Returns:
        the ELBO per row, shape ``(n,)``, in nats (``evaluate_per_datapoint``'s ``elbo``).
    """
    return evaluate_per_datapoint(model, guide, x, num_samples, batch_size)["elbo"]


def importance_log_likelihood(model: Callable, guide: Callable | None, x: torch.Tensor,
                              num_samples: int = 1000, batch_size: int = 256) -> torch.Tensor:
    """log p̂(x) = logsumexp_k [log p(x, z_k) − log q(z_k | x)] − log K per row of ``x``.

    The arguments are ``elbo_per_datapoint``'s.

    Returns:
        log p̂(x) per row, shape ``(n,)``, in nats (``evaluate_per_datapoint``'s ``log_px``).
    """
    return evaluate_per_datapoint(model, guide, x, num_samples, batch_size)["log_px"]


def naive_log_likelihood(model: Callable, x: torch.Tensor, num_samples: int = 1000,
                         batch_size: int = 256) -> torch.Tensor:
    """log p̂(x) = logsumexp_k log p(x | z_k) − log K with z_k ~ p(z), per row of ``x``.

    Args:
        model: a contract-following model; its latents are drawn from the prior.
        x: the rows, shape ``(n, *event_shape)``.
        num_samples: K.
        batch_size: rows traced at a time.

    Returns:
        log p̂(x) per row, shape ``(n,)``, in nats.
    """
    return evaluate_per_datapoint(model, None, x, num_samples, batch_size)["log_px"]


def bits_per_dim(log_px, data_dim):
    """−log p(x) / (D log 2): nats per example expressed as bits per dimension."""
    return -log_px / (data_dim * math.log(2.0))


def summarize(per_datapoint, data_dim):
    """Means over rows (nats per example), plus bits per dimension of log p(x)."""
    summary = {name: float(values.mean()) for name, values in per_datapoint.items()}
    summary["bits_per_dim"] = float(bits_per_dim(per_datapoint["log_px"], data_dim).mean())
    return summary

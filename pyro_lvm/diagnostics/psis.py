"""Pareto-smoothed importance sampling (PSIS) as a diagnostic of q(z | x) (Yao et al., 2018).

With S draws z_s ~ q(z | x) and log w_s = log p(x, z_s) − log q(z_s | x), PSIS fits a
generalized Pareto distribution to the largest weights.  Its shape k̂ says how heavy the tail of
p(z | x) / q(z | x) is, i.e. how much of the posterior q misses:

- k̂ ≤ 0.5:        q is a good proposal; importance-sampled estimates converge fast;
- 0.5 < k̂ ≤ 0.7:  still usable, slower;
- k̂ > 0.7:        q misses mass that p(z | x) has; estimates built on q are unreliable.

From S draws, k̂ itself is reliable only below 1 − 1/log10 S (Vehtari et al., 2024), so the
0.7 threshold needs S ≥ 10^(1/0.3) ≈ 2155 draws: ``draws_needed``.  The importance-sampling
effective sample size is ESS = 1 / Σ_s w̃_s² with the smoothed, normalised weights w̃.
"""

import math
import warnings

import numpy as np
import torch

from ..errors import bad_value
from . import arviz_adapter

GOOD, UNRELIABLE = 0.5, 0.7


def draws_needed(khat=UNRELIABLE):
    """The least S with 1 − 1/log10 S ≥ ``khat``: draws for k̂ to be trusted up to ``khat``."""
    return math.ceil(10 ** (1 / (1 - khat)))


def _as_numpy(array):
    return array.detach().cpu().double().numpy() if isinstance(array, torch.Tensor) else \
        np.asarray(array, dtype=np.float64)


def psis_diagnostics(log_weights: torch.Tensor | np.ndarray) -> dict:
    """k̂, IS-ESS and the smoothed weights per observation.

    Rows whose weights agree to √ε of their dtype (q is the exact posterior) get k̂ = −∞ and
    ESS = S.  Warns, naming the number of draws needed, when there are fewer than
    ``draws_needed()``.

    Args:
        log_weights: log p(x, z_s) − log q(z_s | x), shape ``(draws, observations)`` (as
            ``pyro_lvm.infer.log_weights`` returns them).

    Returns:
        A dict: ``khat`` and ``ess`` of shape ``(observations,)``, ``log_weights`` (smoothed,
            normalised, ``(draws, observations)``) and ``num_draws``.

    References:
        Yao, Vehtari, Simpson & Gelman (2018), Yes, but did it work?: evaluating variational
        inference.  Vehtari, Simpson, Gelman, Yao & Gabry (2024), Pareto smoothed importance
        sampling.
    """
    eps = (torch.finfo(log_weights.dtype) if isinstance(log_weights, torch.Tensor)
           else np.finfo(np.asarray(log_weights).dtype)).eps
    log_w = _as_numpy(log_weights)
    if log_w.ndim != 2 or log_w.shape[0] < 2:
        raise bad_value("log_weights", log_w.shape, "a shape (draws >= 2, observations)")
    num_draws = log_w.shape[0]
    if num_draws < draws_needed():
        warnings.warn(f"num_samples: {num_draws} draws give a k̂ that is reliable only below "
                      f"1 - 1/log10({num_draws}) = {1 - 1 / math.log10(num_draws):.2f}; the "
                      f"{UNRELIABLE} threshold needs at least {draws_needed()} draws per "
                      "observation", stacklevel=2)
    # Weights equal to working precision: q is exact there and the Pareto fit is undefined.
    constant = np.ptp(log_w, axis=0) <= math.sqrt(eps) * np.maximum(1, np.abs(log_w).max(0))
    khat = np.full(log_w.shape[1], -np.inf)
    smoothed = np.full(log_w.shape[::-1], -math.log(num_draws))
    if not constant.all():
        smoothed[~constant], khat[~constant] = arviz_adapter.psis(log_w[:, ~constant].T)
    ess = 1.0 / np.exp(2 * smoothed).sum(-1)
    return {"khat": khat, "ess": ess, "log_weights": smoothed.T, "num_draws": num_draws}


def khat_bins(khat):
    """Counts and shares of observations with k̂ ≤ 0.5 (``good``), in (0.5, 0.7] (``ok``) and
    > 0.7 (``bad``)."""
    khat = np.asarray(khat)
    counts = {"good": int((khat <= GOOD).sum()),
              "ok": int(((khat > GOOD) & (khat <= UNRELIABLE)).sum()),
              "bad": int((khat > UNRELIABLE).sum())}
    return {**{f"khat_{name}": count for name, count in counts.items()},
            **{f"share_khat_{name}": count / len(khat) for name, count in counts.items()}}


def reweighted_means(draws, smoothed_log_weights, khat):
    """PSIS estimates E_p(z|x)[z] ≈ Σ_s w̃_s z_s per observation, NaN where k̂ > 0.7.

    ``draws`` has shape ``(draws, observations, *event)``; the result ``(observations, *event)``.
    """
    draws = _as_numpy(draws)
    weights = np.exp(smoothed_log_weights).reshape(*smoothed_log_weights.shape,
                                                   *(1,) * (draws.ndim - 2))
    means = (weights * draws).sum(0)
    means[np.asarray(khat) > UNRELIABLE] = np.nan
    return means

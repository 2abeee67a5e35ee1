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
from typing import Any

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


def _is_container(data):
    """An ``InferenceData`` (arviz 0.23), an ``xarray.DataTree`` (arviz 1.x) or an
    ``xarray.Dataset``: something that holds named variables (duck-typed: no arviz import)."""
    return hasattr(data, "data_vars") or callable(getattr(data, "groups", None))


def _log_weight_values(log_weights):
    """``(array, eps)``: the log weights as given, or taken from ``to_inference_data``'s output
    (``sample_stats`` → ``log_weight``, dims ``(chain, draw, obs)``), and the machine epsilon of
    their dtype."""
    if isinstance(log_weights, torch.Tensor):
        dtype = log_weights.dtype if log_weights.is_floating_point() else torch.float64
        return log_weights, torch.finfo(dtype).eps
    for key in ("sample_stats", "log_weight"):
        if _is_container(log_weights) and key in log_weights:
            log_weights = log_weights[key]
    if _is_container(log_weights):
        raise bad_value("log_weights", f"a {type(log_weights).__name__} without "
                        "sample_stats.log_weight", "the output of to_inference_data or an "
                        "array of shape (draws, observations) or (chains, draws, observations)")
    dims = getattr(log_weights, "dims", ())
    if "chain" in dims and "draw" in dims:  # an xarray.DataArray: chain and draw first
        log_weights = log_weights.transpose("chain", "draw", ...)
    array = np.asarray(log_weights)
    return array, np.finfo(array.dtype if array.dtype.kind == "f" else np.float64).eps


def psis_diagnostics(log_weights: torch.Tensor | np.ndarray | Any) -> dict[str, Any]:
    """k̂, IS-ESS and the smoothed weights per observation.

    The draws of every chain are pooled (they are all independent draws of q).  Rows whose
    weights agree to √ε of their dtype (q is the exact posterior) get k̂ = −∞ and ESS = S.

    >>> idata = to_inference_data(model, guide, x, num_samples=2500)
    >>> result = psis_diagnostics(idata)       # the same as ...
    >>> result = psis_diagnostics(idata.sample_stats.log_weight.values[0])

    Args:
        log_weights: log w_s = log p(x, z_s) − log q(z_s | x) for S draws z_s ~ q(z | x) of
            every observation: a tensor or array of shape ``(draws, observations)`` (as
            ``pyro_lvm.infer.log_weights`` returns them) or ``(chains, draws, observations)``;
            or the output of ``to_inference_data`` (an ``InferenceData`` or ``DataTree``),
            whose ``sample_stats`` variable ``log_weight`` is used, that group, or that
            variable (an ``xarray.DataArray`` with dims ``chain`` and ``draw``).

    Returns:
        A dict with

            - ``khat``: the Pareto shape k̂ per observation, ``(observations,)`` (≤ 0.5 good,
              ≤ 0.7 usable, > 0.7 unreliable; ``khat_bins``);
            - ``ess``: the importance-sampling effective sample size 1 / Σ_s w̃_s² per
              observation, ``(observations,)``, between 1 and S;
            - ``log_weights``: the smoothed log weights log w̃_s, normalised so that
              Σ_s w̃_s = 1, ``(draws, observations)`` with the chains' draws pooled;
            - ``num_draws``: S (chains × draws).

    Raises:
        ValueError: ``log_weights`` has another shape, fewer than 2 draws, or is an
            ``InferenceData`` without ``sample_stats.log_weight``.

    Warns:
        UserWarning: with fewer than ``draws_needed()`` draws (2155), naming how many are
            needed for k̂ to be trusted up to 0.7.

    References:
        Yao, Vehtari, Simpson & Gelman (2018), Yes, but did it work?: evaluating variational
        inference.  Vehtari, Simpson, Gelman, Yao & Gabry (2024), Pareto smoothed importance
        sampling.
    """
    values, eps = _log_weight_values(log_weights)
    log_w = _as_numpy(values)
    if log_w.ndim == 3:  # (chains, draws, observations): pool the chains
        log_w = log_w.reshape(-1, log_w.shape[-1])
    if log_w.ndim != 2 or log_w.shape[0] < 2:
        raise bad_value("log_weights", tuple(np.shape(values)), "a shape (draws >= 2, "
                        "observations) or (chains, draws, observations)")
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

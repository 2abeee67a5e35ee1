"""Did the optimisation converge?  The ELBO history, its trend, a stopping signal, and seeds.

With the ELBO e_t of epoch t and a window of w epochs:

- trend  ē_t = (1/w) Σ_{s=t−w+1..t} e_s   (a trailing moving average; fewer terms at the start);
- relative change  r_t = |ē_t − ē_{t−w}| / |ē_t|, defined from t = w + 1 on;
- the run has *converged* when the last r_t is below ``tolerance``; ``stop_epoch`` is the first
  epoch where it was.

Independent runs (seeds) are compared as MCMC chains through R̂ of their last w ELBO values:
R̂ ≈ 1 says they settled on the same level.  Only quantities that do not depend on how the
latent space is parametrised are comparable this way (the ELBO, log p(x)); latent coordinates
are not, since p(z) = N(0, I) is unchanged by rotations of z.
"""

import math

import numpy as np

from ..checks import check_int
from ..errors import bad_value
from . import arviz_adapter


def _elbo_values(history, key):
    if not history:
        raise bad_value("history", history, "one record per epoch, at least one")
    if any(key not in record for record in history):
        raise bad_value("key", key, f"a key of every history record, e.g. {sorted(history[0])}")
    return np.array([record[key] for record in history], dtype=np.float64)


def elbo_convergence(history, key="train_elbo", window=5, tolerance=1e-3):
    """Trend and stopping signal of ``history`` (a list of per-epoch dicts, as ``history.json``).

    Returns a dict: ``epochs``, ``elbo``, ``trend``, ``relative_change`` (NaN for the first
    ``window`` epochs), ``converged``, ``stop_epoch`` (``None`` if never) and
    ``final_relative_change``.
    """
    window = check_int("window", window, 1)
    elbo = _elbo_values(history, key)
    cumulative = np.concatenate([[0.0], np.cumsum(elbo)])
    starts = np.maximum(np.arange(len(elbo)) - window + 1, 0)
    trend = (cumulative[1:] - cumulative[starts]) / (np.arange(len(elbo)) + 1 - starts)
    change = np.full(len(elbo), np.nan)
    change[window:] = np.abs(trend[window:] - trend[:-window]) / np.abs(trend[window:])
    epochs = [record.get("epoch", t + 1) for t, record in enumerate(history)]
    below = np.flatnonzero(change < tolerance)
    return {"epochs": epochs, "elbo": elbo, "trend": trend, "relative_change": change,
            "converged": bool(change[-1] < tolerance), "tolerance": tolerance,
            "stop_epoch": epochs[below[0]] if len(below) else None,
            "final_relative_change": float(change[-1])}


def convergence_text(converged, change, tolerance=1e-3):
    """The verdict on convergence in words, from ``elbo_convergence``'s ``converged`` and
    ``final_relative_change``: what the report's table and ``elbo.png``'s title both say."""
    if converged is None:
        return "unknown (no history.json)"
    if change is None or not math.isfinite(change):
        return "no (too few epochs for the relative change)"
    return (f"yes (relative change {change:.1e} < {tolerance:g})" if converged else
            f"no (relative change {change:.1e} ≥ {tolerance:g})")


def elbo_rhat(histories, key="train_elbo", window=10):
    """R̂ of the last ``window`` ELBO values of several runs (one chain per run), and each run's
    mean over that window."""
    window = check_int("window", window, 4)
    if len(histories) < 2:
        raise bad_value("histories", len(histories), "the histories of at least 2 runs")
    tails = [_elbo_values(history, key)[-window:] for history in histories]
    if min(map(len, tails)) < window:
        raise bad_value("window", window, f"at most the shortest run's {min(map(len, tails))} "
                        "epochs")
    return {"rhat": arviz_adapter.rhat(np.stack(tails)),
            "final_elbo": [float(tail.mean()) for tail in tails]}

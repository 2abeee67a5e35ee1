"""Every call into arviz, and nothing else: the one module to change for arviz 1.x.

Written against arviz 0.23.  What 1.x changes, and where it would land here:

- ``from_dict`` takes one nested dict ``{group: {variable: array}}`` and returns a DataTree:
  :func:`inference_data` already receives exactly that nested dict;
- ``psislw`` moves to arviz-stats and takes ``−log w``: :func:`psis` receives ``log w`` and is
  the only place where that sign would be flipped.  ``tests/diagnostics/test_diag_psis.py``
  pins the known answer (proposal N(0, 1), target N(0, 1.5²): k̂ ≈ 0.56), which a wrong sign
  breaks.

arviz is imported on first use, so importing :mod:`pyro_lvm.diagnostics` stays cheap.
"""

import contextlib
import functools
import warnings

import numpy as np
from matplotlib import MatplotlibDeprecationWarning


@contextlib.contextmanager
def _hushed():
    """Silence arviz 0.23's notices about its own future (1.x refactor, ELPDData, matplotlib
    calls it will change): they are about arviz, not about the user's data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", MatplotlibDeprecationWarning)
        yield


@functools.cache
def _arviz():
    with _hushed():
        import arviz
    return arviz


def inference_data(groups, coords, dims):
    """An ``InferenceData`` from ``{group: {variable: array}}``.

    Arrays of every group but ``observed_data`` lead with ``(chain, draw)``; ``dims[group]``
    names the remaining dimensions of each of that group's variables (a variable may have other
    dimensions in another group) and ``coords`` gives their coordinates.
    """
    az = _arviz()
    parts = [az.from_dict(**{group: variables}, coords=coords, dims=dims.get(group))
             for group, variables in groups.items()]
    for part in parts[1:]:
        parts[0].extend(part)
    return parts[0]


def psis(log_weights):
    """Pareto-smoothed importance sampling of ``log_weights`` of shape ``(observations, draws)``,
    log w = log p(x, z) − log q(z | x).

    Returns the smoothed log weights, normalised so that Σ_s exp(lw_s) = 1 per observation, and
    the Pareto shape k̂ per observation.
    """
    smoothed, khat = _arviz().psislw(np.asarray(log_weights, dtype=np.float64))
    return np.asarray(smoothed), np.asarray(khat)


def summary(idata, var_names, coords, hdi_prob):
    """``az.summary`` statistics (mean, sd, HDI bounds) of the posterior draws as a DataFrame."""
    return _arviz().summary(idata, var_names=var_names, coords=coords, kind="stats",
                            hdi_prob=hdi_prob)


def rhat(values):
    """The rank-normalised split R̂ of ``values`` of shape ``(chains, draws)``."""
    return float(_arviz().rhat(np.asarray(values, dtype=np.float64)))


def plot_khat(khat, ax):
    """k̂ per observation on ``ax``, with the 0.5 / 0.7 / 1 lines and the share in each bin."""
    with _hushed():
        _arviz().plot_khat(np.asarray(khat), ax=ax, show_hlines=True, show_bins=True)


def plot_ppc(idata, axes, variable, features, num_draws, seed):
    """``az.plot_ppc``: densities of ``variable`` observed and predicted, one panel per entry of
    ``features`` (coordinates of its last dimension, ``axes`` holding one axis each)."""
    feature_dim = idata.observed_data[variable].dims[-1]
    with _hushed():
        _arviz().plot_ppc(idata, var_names=[variable], coords={feature_dim: list(features)},
                          flatten=[idata.observed_data[variable].dims[0]],
                          ax=np.asarray(axes), num_pp_samples=num_draws, random_seed=seed)

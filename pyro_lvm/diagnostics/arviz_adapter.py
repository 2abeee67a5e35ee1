"""Every call into arviz, and nothing else: one module for arviz 0.23 and for the 1.x packages.

arviz 1.x (Python >= 3.12) split into ``arviz-base`` (data structures) and ``arviz-stats``
(statistics); those two also install on Python 3.11 and carry the same API.  What changed, and
how each function here meets both:

- ``from_dict`` takes one nested dict ``{group: {variable: array}}``, with one ``dims`` mapping
  for every group, and returns an ``xarray.DataTree``: ``inference_data`` builds each group
  on its own (a variable may have other dimensions in another group) and joins them;
- ``psislw`` moves to ``arviz_stats.base.array_stats`` and takes ``−log w``: ``psis``
  receives ``log w`` and flips the sign there only (``tests/diagnostics/test_diag_psis.py``
  pins the known answer, proposal N(0, 1), target N(0, 1.5²): k̂ ≈ 0.56, which a wrong sign
  breaks);
- ``summary`` names its interval ``hdi94_lb`` / ``hdi94_ub``: ``summary`` returns 0.23's
  ``hdi_3%`` / ``hdi_97%`` either way;
- ``InferenceData.groups()`` becomes ``DataTree.children``: ``group_names``.

The plots are drawn with matplotlib in ``.pictures`` (arviz 1.x moved its own to
``arviz-plots``, with another API).  arviz is imported on first use, so importing
``pyro_lvm.diagnostics`` stays cheap.  CI runs the diagnostics tests under both.
"""

import contextlib
import functools
import importlib.util
import math
import warnings

import numpy as np


@contextlib.contextmanager
def _hushed():
    """Silence arviz 0.23's notices about its own future (the 1.x refactor): they are about
    arviz, not about the user's data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


@functools.cache
def api():
    """0 for arviz 0.x, 1 for the 1.x packages (``arviz-base`` and ``arviz-stats``, on their
    own or under arviz >= 1)."""
    if importlib.util.find_spec("arviz") is not None:
        with _hushed():
            import arviz
        if int(arviz.__version__.split(".")[0]) < 1:
            return 0
    return 1


@functools.cache
def _arviz():
    with _hushed():
        import arviz
    return arviz


def _base():
    import arviz_base
    return arviz_base


def _stats():
    import arviz_stats
    return arviz_stats


def inference_data(groups, coords, dims):
    """An ``InferenceData`` (0.23) or ``DataTree`` (1.x) from ``{group: {variable: array}}``.

    Arrays of every group but ``observed_data`` lead with ``(chain, draw)``; ``dims[group]``
    names the remaining dimensions of each of that group's variables (a variable may have other
    dimensions in another group) and ``coords`` gives their coordinates.
    """
    if api() == 0:
        az = _arviz()
        parts = [az.from_dict(**{group: variables}, coords=coords, dims=dims.get(group))
                 for group, variables in groups.items()]
        for part in parts[1:]:
            parts[0].extend(part)
        return parts[0]
    import xarray
    nodes = {group: _base().from_dict({group: variables}, coords=coords,
                                      dims=dims.get(group))[group].to_dataset()
             for group, variables in groups.items()}
    return xarray.DataTree.from_dict(nodes)


def group_names(idata):
    """The names of the groups of ``idata`` (``posterior``, ``sample_stats``, ...)."""
    return list(idata.groups()) if api() == 0 else list(idata.children)


def psis(log_weights):
    """Pareto-smoothed importance sampling of ``log_weights`` of shape ``(observations, draws)``,
    log w = log p(x, z) − log q(z | x).

    Returns the smoothed log weights, normalised so that Σ_s exp(lw_s) = 1 per observation, and
    the Pareto shape k̂ per observation (``inf`` with 20 draws or fewer, too few for the fit).
    """
    log_w = np.asarray(log_weights, dtype=np.float64)
    draws = log_w.shape[-1]
    if api() == 0:
        smoothed, khat = _arviz().psislw(log_w)
    elif math.ceil(min(0.2 * draws, 3 * math.sqrt(draws))) < 5:
        # Too few draws for a Pareto fit of the tail: 0.23 answers k̂ = inf and the weights
        # unsmoothed, arviz-stats raises; answer as 0.23 does.
        smoothed, khat = log_w, np.full(log_w.shape[:-1], np.inf)
    else:
        from arviz_stats.base import array_stats
        smoothed, khat = array_stats.psislw(-log_w, axis=-1)
    smoothed = np.asarray(smoothed)
    smoothed = smoothed - np.logaddexp.reduce(smoothed, axis=-1, keepdims=True)
    return smoothed, np.asarray(khat)


def summary(idata, var_names, coords, hdi_prob):
    """``summary`` statistics (mean, sd, HDI bounds ``hdi_<a>%`` and ``hdi_<b>%``) of the
    posterior draws as a DataFrame, one row per variable and coordinate."""
    if api() == 0:
        return _arviz().summary(idata, var_names=var_names, coords=coords, kind="stats",
                                hdi_prob=hdi_prob)
    table = _stats().summary(idata, var_names=var_names, coords=coords, kind="stats",
                             ci_prob=hdi_prob, ci_kind="hdi", round_to="none")
    tail = 100 * (1 - hdi_prob) / 2
    label = f"hdi{round(100 * hdi_prob)}"
    return table.rename(columns={f"{label}_lb": f"hdi_{tail:g}%",
                                 f"{label}_ub": f"hdi_{100 - tail:g}%"})


def rhat(values):
    """The rank-normalised split R̂ of ``values`` of shape ``(chains, draws)``."""
    values = np.asarray(values, dtype=np.float64)
    if api() == 0:
        return float(_arviz().rhat(values))
    return float(_stats().rhat(values, chain_axis=0, draw_axis=1))

"""Guide draws of a model/guide pair as an arviz ``InferenceData`` (``az.from_pyro`` needs MCMC).

For S draws z_s ~ q(z | x) (and the global latents, if any) of every row x_i, traced in one
vectorized pass under the ``"particles"`` plate of ``pyro_lvm.infer.traces``:

- ``posterior``:            z_is, dims ``(chain=1, draw, obs, latent)``; global latents
                            ``(chain, draw, <site>_dim_0, ...)``;
- ``posterior_predictive``: x̃_is ~ p(x | z_is), dims ``(chain, draw, obs, feature)``;
- ``log_likelihood``:       log p(x_i | z_is), dims ``(chain, draw, obs)``;
- ``sample_stats``:         ``log_weight`` = log p(x_i, z_is) − log q(z_is | x_i), ``(chain,
                            draw, obs)``, the importance weights that PSIS smooths;
- ``observed_data``:        x_i, dims ``(obs, feature)``.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from pyro.poutine.util import site_is_subsample

from ..checks import check_int
from ..errors import bad_type, bad_value
from ..infer.evaluation import particle_chunks
from ..infer.traces import data_frame, particle_trace, trace_log_weights
from ..plates import declared_nesting, max_plate_nesting
from . import arviz_adapter

OBS_DIM = "obs"
#: Names of the single event dimension of the contract's sites.
EVENT_DIMS = {"z": "latent", "x": "feature"}


def check_rows(x, argument="x"):
    """Refuse anything but a floating tensor of shape ``(rows >= 1, *event_shape)``."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise bad_type(argument, x, "a floating-point torch.Tensor of shape (rows, ...)")
    if x.dim() < 1 or x.shape[0] < 1:
        raise bad_value(argument, tuple(x.shape), "a shape (rows, ...) with at least one row")
    return x


def _traced(role, x, run):
    try:
        return run()
    except (RuntimeError, ValueError, IndexError, TypeError) as error:
        raise bad_value("x", f"a {x.dtype} tensor of shape {tuple(x.shape)}",
                        f"data the {role} can be evaluated on; it raised "
                        f"{type(error).__name__}: {error}") from error


def pair_nesting(model, guide, x, indices=None, num_data=None):
    """The pair's ``max_plate_nesting``: declared by the model, or found from a trace of each
    on ``x`` (``guide`` alone when ``model`` is ``None``), so that an error names the one that
    failed.  Found once per call of a diagnostic, not once per row batch or chunk."""
    nesting = None if model is None else declared_nesting(model)
    if nesting is None:
        pairs = (("guide", guide),) if model is None else (("guide", guide), ("model", model))
        nesting = max(_traced(role, x, lambda: max_plate_nesting(fn, None, x, indices, num_data))
                      for role, fn in pairs)
    return nesting


def guide_trace(guide, x, num_particles, indices=None, num_data=None, nesting=None):
    """The guide's trace at ``num_particles`` draws per row; a clear error when it cannot run
    on ``x``.  ``nesting``: the pair's ``max_plate_nesting`` (``None``: found)."""
    if nesting is None:
        nesting = pair_nesting(None, guide, x, indices, num_data)
    return _traced("guide", x, lambda: particle_trace(guide, x, num_particles, indices,
                                                      num_data, nesting=nesting))


def draw_traces(model, guide, x, num_particles, indices=None, num_data=None, nesting=None):
    """``(model_trace, guide_trace)``: ``num_particles`` draws z ~ q(z | x) for every row of
    ``x``, and the model replayed at them; ``indices`` and ``num_data`` as in training;
    ``nesting`` as for ``guide_trace``."""
    if nesting is None:
        nesting = pair_nesting(model, guide, x, indices, num_data)
    args = (x, num_particles, indices, num_data)
    drawn = _traced("guide", x, lambda: particle_trace(guide, *args, nesting=nesting))
    return _traced("model", x, lambda: particle_trace(model, *args, replay=drawn,
                                                      nesting=nesting)), drawn


def is_local(site):
    """Whether a site lies in the ``"data"`` plate (one value per row)."""
    return data_frame(site) is not None


def latent_sites(trace):
    """The unobserved sample sites of a trace (the latents), subsample sites and a guide's
    auxiliary sites (an autoguide's joint latent vector) excluded."""
    return [site for site in trace.nodes.values() if site["type"] == "sample"
            and not site["is_observed"] and not site_is_subsample(site)
            and not site["infer"].get("is_auxiliary")]


def observed_sites(trace):
    """The observed sample sites in the ``"data"`` plate."""
    return [site for site in trace.nodes.values()
            if site["type"] == "sample" and site["is_observed"] and is_local(site)]


def local_latent(trace, site):
    """The sample site ``site`` of a guide's trace, which must be a latent in the data plate."""
    found = trace.nodes.get(site)
    if found is None or found["type"] != "sample" or found["is_observed"] or not is_local(found):
        names = sorted(s["name"] for s in latent_sites(trace) if is_local(s))
        raise bad_value("site", site, f"a latent site that the guide samples in the data plate, "
                        f"one of {names} (a guide with none, as when the model enumerates its "
                        "latents, has no q(z | x) to diagnose)")
    return found


def per_draw(site, value, num_particles, event_shape):
    """``value`` of a site traced under the particle plate as ``(draws, rows, *other,
    *event_shape)`` (local site) or ``(draws, *other, *event_shape)`` (global site), where
    ``other`` are the sizes of any further plates; singleton dimensions are dropped."""
    event_dims = len(event_shape)
    particles = next(f.dim for f in site["cond_indep_stack"] if f.name == "particles")
    value = value.reshape((1,) * max(0, -particles - (value.dim() - event_dims)) + value.shape)
    batch_dims = value.dim() - event_dims
    frame = data_frame(site)
    leading = [batch_dims + particles] + ([batch_dims + frame.dim] if frame else [])
    rest = [i for i in range(batch_dims) if i not in leading]
    value = value.permute(*leading, *rest, *range(batch_dims, value.dim()))
    value = value.expand(num_particles, *value.shape[1:])
    kept = [size for size in value.shape[len(leading):batch_dims] if size != 1]
    return value.reshape(*value.shape[:len(leading)], *kept, *event_shape)


def _dims(name, trailing, local):
    """Dimension names of a variable: ``obs`` for a local one, then its ``trailing`` own ones."""
    if trailing == 1 and name in EVENT_DIMS:
        names = [EVENT_DIMS[name]]
    else:
        names = [f"{name}_dim_{j}" for j in range(trailing)]
    return [OBS_DIM] + names if local else names


def _chunk_arrays(model_trace, drawn, x, k, num_predictive):
    """``{(group, variable): (array with draws first, is_local)}`` for one chunk of ``k`` draws."""
    arrays = {("sample_stats", "log_weight"): (trace_log_weights(model_trace, drawn, x, k), True)}
    for site in latent_sites(drawn):
        value = per_draw(site, site["value"], k, site["fn"].event_shape)
        arrays["posterior", site["name"]] = (value, is_local(site))
    for site in observed_sites(model_trace):
        fn = site["fn"]
        arrays["log_likelihood", site["name"]] = (per_draw(site, fn.log_prob(site["value"]), k,
                                                           ()), True)
        if num_predictive:
            predicted = per_draw(site, fn.sample(), k, fn.event_shape)[:num_predictive]
            arrays["posterior_predictive", site["name"]] = (predicted, True)
    return arrays


@torch.no_grad()
def to_inference_data(model: Callable, guide: Callable, x: torch.Tensor, num_samples: int = 1000,
                      num_predictive: int | None = 100, max_cells: int = 2 ** 16) -> Any:
    """An arviz ``InferenceData`` of ``num_samples`` guide draws for every row of ``x``.

    ``x`` is the whole data set (every row sees the same draws of any global latent).  Groups and
    dims are listed in the module docstring; ``obs`` coordinates are the row numbers, the other
    dimensions are numbered from 0.

    Args:
        model: a contract-following model.
        guide: its guide.
        x: every row, shape ``(n, *event_shape)``.
        num_samples: S, draws of the guide per row.
        num_predictive: draws kept in ``posterior_predictive`` (``None``: all S), as it holds
            S × n × features numbers.
        max_cells: draws are traced in chunks of at most this many (draw, row) pairs.

    Returns:
        An ``arviz.InferenceData`` (arviz 0.23) or ``xarray.DataTree`` (arviz 1.x's
            packages) with the groups ``posterior``, ``posterior_predictive``, ``log_likelihood``,
            ``sample_stats`` (``log_weight``, shape ``(1, S, n)``) and ``observed_data``.
    """
    check_rows(x)
    num_samples = check_int("num_samples", num_samples, 1)
    num_predictive = num_samples if num_predictive is None else check_int(
        "num_predictive", num_predictive, 0)
    parts, done = {}, 0
    nesting = pair_nesting(model, guide, x)
    for k in particle_chunks(num_samples, x.shape[0], max_cells):
        model_trace, drawn = draw_traces(model, guide, x, k, nesting=nesting)
        for key, (value, local) in _chunk_arrays(model_trace, drawn, x, k,
                                                 max(num_predictive - done, 0)).items():
            parts.setdefault(key, ([], local))[0].append(value)
        done += k
    groups, dims = {}, {}
    for (group, name), (values, local) in parts.items():
        array = torch.cat(values).cpu().numpy()
        groups.setdefault(group, {})[name] = array[np.newaxis]  # chain = 1
        dims.setdefault(group, {})[name] = _dims(name, array.ndim - 1 - local, local)
    for site in observed_sites(model_trace):
        groups.setdefault("observed_data", {})[site["name"]] = site["value"].cpu().numpy()
        dims.setdefault("observed_data", {})[site["name"]] = _dims(
            site["name"], site["value"].dim() - 1, True)
    return arviz_adapter.inference_data(groups, {OBS_DIM: np.arange(x.shape[0])}, dims)

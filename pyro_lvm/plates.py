"""The plate every model and guide puts its local latents in, and how deep a model's plates go
(see docs/contract.md).

``model(x, indices=None, num_data=None)`` and ``guide(x, indices=None, num_data=None)`` receive
a minibatch ``x`` of shape ``(batch, *event_shape)``, the positions ``indices`` of those rows in
the full data set and the full size ``num_data``.  Both open ``data_plate``, so that Pyro
scales the minibatch log-densities by ``num_data / batch`` and the minibatch ELBO is an
unbiased estimate of the full-data ELBO.

A model may nest other plates inside or around the data plate (groups, features).  Vectorized
particles and importance sampling add a plate of their own to the left of all of them, at dim
``-(max_plate_nesting + 1)``: ``max_plate_nesting`` says where that is.
"""

from collections.abc import Callable
from typing import Any

import pyro
import torch
from pyro import poutine


def data_plate(x: torch.Tensor, indices: torch.Tensor | None = None,
               num_data: int | None = None, dim: int | None = None) -> pyro.plate:
    """``pyro.plate("data", size=num_data, subsample=indices, dim=dim)`` for a minibatch ``x``.

    With ``indices=None`` the rows are taken to be ``0 .. batch-1``; with ``num_data=None`` the
    minibatch is the whole data set (no scaling).  It has the signature of an autoguide's
    ``create_plates``.

    Args:
        x: the minibatch, shape ``(batch, *event_shape)``.
        indices: positions of its rows in the data set.
        num_data: the data set's size N; log-densities inside are scaled by N / batch.
        dim: where the plate goes when others nest inside it (e.g. ``-2`` with a feature plate
            at ``-1``); ``None``: Pyro allocates it.

    Returns:
        A ``pyro.plate`` named ``"data"``.
    """
    batch = x.shape[0]
    if indices is None:
        indices = torch.arange(batch, device=x.device)
    size = batch if num_data is None else int(num_data)
    return pyro.plate("data", size=size, subsample=indices, device=x.device, dim=dim)


def declared_nesting(fn):
    """The ``max_plate_nesting`` that ``fn`` (a model, a bound method of a model, or a module
    holding ``model``) declares, or ``None``."""
    for holder in (fn, getattr(fn, "__self__", None)):
        declared = getattr(holder, "max_plate_nesting", None)
        if declared is not None:
            return int(declared)
    return None


@torch.no_grad()
def max_plate_nesting(model: Callable, guide: Callable | None, *args: Any) -> int:
    """How many plates the model and guide nest at most.

    Args:
        model: the model; an attribute ``max_plate_nesting`` of it, or of the module it is a
            method of, is the answer without a trace.
        guide: its guide (``None``: none).
        *args: what the model and guide are called with, ``(x, indices, num_data)``.

    Returns:
        The declared nesting, or minus the most negative dim of any vectorized plate in one
            trace of each.
    """
    declared = declared_nesting(model)
    if declared is not None:
        return declared
    with pyro.validation_enabled(False), poutine.block():
        traces = [poutine.trace(fn).get_trace(*args) for fn in (guide, model) if fn is not None]
    dims = [frame.dim for trace in traces for site in trace.nodes.values()
            if site["type"] == "sample" for frame in site["cond_indep_stack"] if frame.vectorized]
    return -min(dims) if dims else 0

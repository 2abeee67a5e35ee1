"""The plate every model and guide puts its local latents in (see docs/contract.md).

``model(x, indices=None, num_data=None)`` and ``guide(x, indices=None, num_data=None)`` receive
a minibatch ``x`` of shape ``(batch, *event_shape)``, the positions ``indices`` of those rows in
the full data set and the full size ``num_data``.  Both open :func:`data_plate`, so that Pyro
scales the minibatch log-densities by ``num_data / batch`` and the minibatch ELBO is an
unbiased estimate of the full-data ELBO.
"""

import pyro
import torch

#: Plates a contract-following model may nest: ``data`` plus one for a user's extra structure.
#: Vectorized particles and importance sampling add their own plate to the left of these.
MAX_PLATE_NESTING = 1


def data_plate(x, indices=None, num_data=None):
    """``pyro.plate("data", size=num_data, subsample=indices)`` for a minibatch ``x``.

    With ``indices=None`` the rows are taken to be ``0 .. batch-1``; with ``num_data=None`` the
    minibatch is the whole data set (no scaling).
    """
    batch = x.shape[0]
    if indices is None:
        indices = torch.arange(batch, device=x.device)
    size = batch if num_data is None else int(num_data)
    return pyro.plate("data", size=size, subsample=indices, device=x.device)

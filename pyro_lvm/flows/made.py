"""Conditioner networks: a masked linear layer, a masked MLP and MADE.

MADE (Germain et al., 2015) gives every unit a degree: input ``x_i`` has degree ``i``, hidden
units cycle through ``1 .. D-1`` and the P outputs of coordinate ``i`` (the parameters of its
elementwise map, e.g. shift ``m_i`` and log-scale ``s_i``) have degree ``i``. A hidden unit sees units of degree at most its own; an
output sees hidden units of degree strictly below its own. Hence ``(m_i, s_i)`` depends on
``x_{<i}`` only, and one pass gives all D conditionals. (``x_D`` feeds nothing; its column is
masked rather than dropped, which keeps the matmul sizes round and measurably faster.) A
context is an extra input of degree 0, and hidden degrees then start at 0: degree-0 units see
only the context, so it reaches every output, the first one included. Masks are fixed buffers
multiplied into the weights: one matmul per layer, cost O(B (D H + (L-1) H² + 2 H D)) for B
rows and L hidden layers of width H.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import bad_value
from ..checks import check_hidden, check_int

#: Default hidden widths of every conditioner network.
HIDDEN = (256, 256)


class MaskedLinear(nn.Linear):
    """``y = (W ⊙ M) x + b`` with a fixed 0/1 mask ``M`` (``None``: dense)."""

    def __init__(self, in_features, out_features, mask=None):
        super().__init__(in_features, out_features)
        if mask is not None:
            mask = mask.to(self.weight.dtype)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x):
        weight = self.weight if self.mask is None else self.weight * self.mask
        return F.linear(x, weight, self.bias)


class MaskedMLP(nn.Module):
    """``h_1 = a(M_1 ⊙ W_1 [x, c] + b_1)``, ``h_k = a(M_k ⊙ W_k h_{k-1} + b_k)`` (``+ h_{k-1}``
    when ``residual``), ``out = M_L ⊙ W_L h + b_L``.

    The context ``c`` (if ``context_features``) is appended to the input. The output layer
    starts at zero, so a new flow layer is the identity.
    """

    def __init__(self, in_features, out_features, hidden=HIDDEN, context_features=0, masks=None,
                 residual=False, activation=nn.ReLU):
        super().__init__()
        hidden = check_hidden(hidden, min_layers=1)
        if residual and len(set(hidden)) != 1:
            raise bad_value("hidden", hidden, "equal widths when residual=True")
        self.context_features = check_int("context_features", context_features, minimum=0)
        sizes = (in_features + context_features,) + hidden + (out_features,)
        masks = [None] * (len(sizes) - 1) if masks is None else masks
        self.layers = nn.ModuleList(
            MaskedLinear(n_in, n_out, mask) for n_in, n_out, mask in zip(sizes, sizes[1:], masks)
        )
        self.activation = activation()
        self.residual = residual
        nn.init.zeros_(self.layers[-1].weight)
        nn.init.zeros_(self.layers[-1].bias)

    def forward(self, x, context=None):
        if self.context_features:
            batch = torch.broadcast_shapes(x.shape[:-1], context.shape[:-1])
            x = torch.cat([x.expand(*batch, -1), context.expand(*batch, -1)], dim=-1)
        h = self.activation(self.layers[0](x))
        for layer in self.layers[1:-1]:
            out = self.activation(layer(h))
            h = h + out if self.residual else out
        return self.layers[-1](h)


def made_masks(dim, hidden, context_dim=0, num_params=2):
    """The MADE masks (``out x in``, one per layer) for inputs ``[x_1 .. x_D, c]`` and
    ``num_params`` blocks of D outputs."""
    inputs = torch.cat([torch.arange(1, dim + 1), torch.zeros(context_dim, dtype=torch.long)])
    low = 0 if context_dim else 1
    degrees = [inputs] + [low + torch.arange(width) % max(dim - low, 1) for width in hidden]
    masks = [later[:, None] >= earlier[None, :] for earlier, later in zip(degrees, degrees[1:])]
    outputs = torch.arange(1, dim + 1).repeat(num_params)
    return masks + [outputs[:, None] > degrees[-1][None, :]]


class MADE(nn.Module):
    """``θ = MADE(x, c)`` of shape ``(..., num_params, D)`` with ``θ[..., :, i]`` a function of
    ``x_{<i}`` and ``c`` only."""

    def __init__(self, dim, hidden=HIDDEN, context_dim=0, residual=False, activation=nn.ReLU,
                 num_params=2):
        super().__init__()
        self.dim = check_int("dim", dim)
        if dim == 1 and not context_dim:
            raise bad_value(
                "dim", dim, "at least 2 for an autoregressive layer without a context (with one "
                "coordinate there is nothing to condition on: use 'lu' or 'qr', or give a context)"
            )
        hidden = check_hidden(hidden, min_layers=1)
        self.num_params = check_int("num_params", num_params)
        self.net = MaskedMLP(dim, num_params * dim, hidden, context_dim,
                             made_masks(dim, hidden, context_dim, num_params), residual, activation)

    def forward(self, x, context=None):
        return self.net(x, context).unflatten(-1, (self.num_params, self.dim))

"""Coupling layers (RealNVP; spline coupling), unconditional and conditional.

The coordinates split into a kept part ``x_1`` (``mask`` True) and a changed part ``x_2``,
which an elementwise map ``h`` with parameters ``θ = net(x_1[, c])`` changes:

- forward ``y_1 = x_1``, ``y_2 = h(x_2; θ(x_1))`` (affine: ``x_2 * exp(s(x_1)) + m(x_1)``);
- inverse ``x_1 = y_1``, ``x_2 = h⁻¹(y_2; θ(y_1))``;
- ``log|det dy/dx| = sum_j log h'(x_2j; θ_j(x_1))`` (affine: ``sum_j s_j(x_1)``): in the order
  (kept, changed) the Jacobian is ``[[I, 0], [*, diag h']]``, lower triangular.

Both directions take one pass of the conditioner MLP: cost O(B (D_1 H + H² + P H D_2)) for P
parameters per coordinate. A coupling layer is an autoregressive layer whose conditionals
ignore all but the kept coordinates, so the maps and the identity start are the same.
It needs ``dim`` >= 2 (a kept and a changed coordinate); alternate which half is kept with a
permutation between layers (``build_flow`` inserts one).
"""

import torch
from torch import nn

from ..errors import bad_value
from .affine import LOG_SCALE_BOUND, layer_map
from .base import Bijection, ConditionalBijection
from .elementwise import ElementwiseMap
from .made import HIDDEN, MaskedMLP


def coupling_mask(dim, mask=None):
    """``mask`` as a bool tensor with at least one kept and one changed coordinate.

    ``None`` keeps the first ``dim // 2`` coordinates (the lecture's ``x_{1:d}``).
    """
    if dim < 2:
        raise bad_value("dim", dim, "at least 2 for a coupling layer (it needs a kept and a changed coordinate)")
    if mask is None:
        return torch.arange(dim, device="cpu") < dim // 2
    mask = torch.as_tensor(mask)
    if mask.shape != (dim,) or mask.dtype != torch.bool or mask.all() or not mask.any():
        raise bad_value(
            "mask", mask.tolist(), f"{dim} booleans with at least one True (kept) and one False (changed)"
        )
    return mask.cpu()


class _Coupling:
    """The computations shared by the unconditional and conditional layers.

    The kept coordinates are gathered to the front (skipped when they already are, as with
    halves), the vector is split, and the result is scattered back.
    """

    def _build(self, mask, elementwise, log_scale_bound, conditioner):
        """Masks and buffers; ``conditioner(mask, out_dim)`` is the network from the kept
        coordinates (and a context) to ``out_dim`` parameters of the changed ones."""
        mask = coupling_mask(self.dim, mask)
        self.elementwise = layer_map(elementwise, log_scale_bound)
        self.kept_dim = int(mask.sum())
        front = torch.cat([mask.nonzero().flatten(), (~mask).nonzero().flatten()])
        in_order = torch.equal(front, torch.arange(self.dim, device="cpu"))
        self.register_buffer("mask", mask, persistent=False)
        self.register_buffer("gather", None if in_order else front, persistent=False)
        self.register_buffer("scatter", None if in_order else torch.argsort(front), persistent=False)
        self.net = conditioner(mask, self.elementwise.num_params * (self.dim - self.kept_dim))

    def _build_mlp(self, mask, hidden, context_dim, residual, log_scale_bound, activation, elementwise):
        self._build(mask, elementwise, log_scale_bound, lambda kept, out_dim: MaskedMLP(
            int(kept.sum()), out_dim, hidden, context_dim, residual=residual, activation=activation))

    def _params(self, kept, context):
        return self.net(kept, context).unflatten(-1, (self.elementwise.num_params, self.dim - self.kept_dim))

    def _split(self, v):
        v = v if self.gather is None else v[..., self.gather]
        return v.split([self.kept_dim, self.dim - self.kept_dim], dim=-1)

    def _couple(self, v, context, step):
        kept, changed = self._split(v)
        changed, log_det = step(changed, self._params(kept, context))
        out = torch.cat([kept.expand(*changed.shape[:-1], -1), changed], dim=-1)
        return (out if self.scatter is None else out[..., self.scatter]), log_det

    def _forward(self, x, context=None):
        return self._couple(x, context, self.elementwise.forward)

    def _backward(self, y, context=None):
        return self._couple(y, context, self.elementwise.inverse)

    def _log_det(self, x, y, context=None):
        kept, changed = self._split(x)
        return self.elementwise.log_det(changed, self._params(kept, context))

    def extra_repr(self):
        return f"{super().extra_repr()}, elementwise={self.elementwise}"


class AffineCoupling(_Coupling, Bijection):
    """RealNVP coupling: one pass both ways; affine by default, a spline coupling with
    ``elementwise=RationalQuadraticSpline()``.

    ``mask``: ``dim`` booleans, True = kept; ``None`` keeps the first ``dim // 2``.

    ``dim``, ``hidden`` (the conditioner network's widths), ``elementwise``, ``residual``,
    ``log_scale_bound`` and ``activation`` are as for ``MAF``.

    Args:
        mask: ``dim`` booleans, True = kept (``None``: the first ``dim // 2``).

    References:
        Dinh, Sohl-Dickstein & Bengio (2017), Density estimation using Real NVP.
    """

    def __init__(self, dim: int, hidden: tuple = HIDDEN, *, mask: torch.Tensor | None = None,
                 elementwise: ElementwiseMap | None = None, residual: bool = False,
                 log_scale_bound: float = LOG_SCALE_BOUND,
                 activation: type = nn.ReLU):
        super().__init__(dim)
        self._build_mlp(mask, hidden, 0, residual, log_scale_bound, activation, elementwise)


class ConditionalAffineCoupling(_Coupling, ConditionalBijection):
    """Affine coupling whose conditioner also reads a context: ``condition(c)`` gives the transform."""

    def __init__(self, dim, context_dim, hidden=HIDDEN, *, mask=None, elementwise=None, residual=False,
                 log_scale_bound=LOG_SCALE_BOUND, activation=nn.ReLU):
        super().__init__(dim, context_dim)
        self._build_mlp(mask, hidden, context_dim, residual, log_scale_bound, activation, elementwise)

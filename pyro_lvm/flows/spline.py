"""Monotonic rational-quadratic splines with linear tails (Durkan et al., 2019).

On ``[-B, B]`` the map is a spline of K bins; outside it is the identity (the linear tails).
Its ``3K - 1`` parameters per coordinate are K raw widths, K raw heights and K - 1 raw
derivatives at the inner knots:

- widths ``w_k = 2B (δ + (1 - Kδ) softmax(raw_w)_k)`` and heights ``h_k`` alike, so the
  knots ``(x_k, y_k)`` run from ``(-B, -B)`` to ``(B, B)``, each bin at least ``2Bδ`` wide;
- derivatives ``d_k = unit_softplus(raw_d) > 0`` at the inner knots and ``d_0 = d_K = 1`` at
  the ends, where the tails (slope 1) join.

In bin k, with ``ξ = (u - x_k) / w_k ∈ [0, 1]`` and ``s_k = h_k / w_k``,

    h(u) = y_k + h_k (s_k ξ² + d_k ξ(1-ξ)) / (s_k + (d_{k+1} + d_k - 2 s_k) ξ(1-ξ)),

    h'(u) = s_k² (d_{k+1} ξ² + 2 s_k ξ(1-ξ) + d_k (1-ξ)²) / (s_k + (d_{k+1} + d_k - 2 s_k) ξ(1-ξ))²,

increasing for positive derivatives. The inverse solves the quadratic ``a ξ² + b ξ + c = 0``
for ``ξ`` in the bin found from the heights, by the cancellation-free root
``ξ = 2c / (-b - sqrt(b² - 4ac))``. At zero parameters every bin is ``2B/K`` square and every
derivative 1, so the map is the identity.
"""

import torch

from ..checks import check_int
from .elementwise import ElementwiseMap, check_bound
from .linear import unit_softplus

#: Smallest bin width and height, as a fraction of the interval.
MIN_BIN = 1e-3


def _knots(raw, bound):
    """Bin sizes ``(..., K, D)`` and knots ``(..., K + 1, D)`` from ``-bound`` to ``bound``."""
    bins = raw.shape[-2]
    sizes = MIN_BIN + (1.0 - MIN_BIN * bins) * torch.softmax(raw, dim=-2)
    inner = torch.cumsum(sizes[..., :-1, :], dim=-2) * (2.0 * bound) - bound
    ends = torch.full_like(sizes[..., :1, :], bound)
    knots = torch.cat([-ends, inner, ends], dim=-2)
    return knots[..., 1:, :] - knots[..., :-1, :], knots


class RationalQuadraticSpline(ElementwiseMap):
    """The rational-quadratic spline of K ``bins`` on ``[-bound, bound]``, identity outside.

    Args:
        bins: K, the number of bins (``3K - 1`` parameters per coordinate).
        bound: B, the half-width of the interval the spline covers.

    References:
        Durkan, Bekasov, Murray & Papamakarios (2019), Neural spline flows.
    """

    def __init__(self, bins: int = 8, bound: float = 5.0):
        self.bins = check_int("bins", bins)
        self.bound = check_bound("bound", bound)
        self.num_params = 3 * self.bins - 1

    def _bin_parameters(self, value, params, inverse):
        """``(inside, value, x_k, w_k, y_k, h_k, d_k, d_{k+1}, s_k, d_{k+1} + d_k - 2 s_k)`` for
        the bin holding each value (found on the heights for the inverse)."""
        bins = self.bins
        widths, xs = _knots(params[..., :bins, :], self.bound)
        heights, ys = _knots(params[..., bins:2 * bins, :], self.bound)
        ones = torch.ones_like(widths[..., :1, :])
        derivatives = torch.cat([ones, unit_softplus(params[..., 2 * bins:, :]), ones], dim=-2)
        value = value.expand(torch.broadcast_shapes(value.shape, params.shape[:-2] + value.shape[-1:]))
        knots = ys if inverse else xs
        index = (value.unsqueeze(-2) >= knots[..., 1:-1, :]).sum(-2, keepdim=True)
        table = torch.stack([xs[..., :-1, :], widths, ys[..., :-1, :], heights,
                             derivatives[..., :-1, :], derivatives[..., 1:, :]], dim=-3)
        table = table.expand(*value.shape[:-1], 6, bins, value.shape[-1])
        picked = table.gather(-2, index.unsqueeze(-3).expand(*value.shape[:-1], 6, 1, value.shape[-1]))
        x_k, width, y_k, height, d_k, d_next = picked.squeeze(-2).unbind(-2)
        slope = height / width
        inside = (value >= -self.bound) & (value <= self.bound)
        return inside, value, x_k, width, y_k, height, d_k, d_next, slope, d_next + d_k - 2.0 * slope

    @staticmethod
    def _log_slope(xi, d_k, d_next, slope, curvature):
        """``(ξ(1-ξ), the denominator, log h'(u))`` at ``ξ`` in a bin of slope ``s_k``."""
        t = xi * (1.0 - xi)
        denominator = slope + curvature * t
        numerator = d_next * xi.square() + 2.0 * slope * t + d_k * (1.0 - xi).square()
        return t, denominator, 2.0 * slope.log() + numerator.log() - 2.0 * denominator.log()

    def forward(self, u, params):
        inside, u, x_k, width, y_k, height, d_k, d_next, slope, curvature = self._bin_parameters(u, params, False)
        xi = ((u - x_k) / width).clamp(0.0, 1.0)
        t, denominator, log_slope = self._log_slope(xi, d_k, d_next, slope, curvature)
        w = y_k + height * (slope * xi.square() + d_k * t) / denominator
        return torch.where(inside, w, u), torch.where(inside, log_slope, 0.0).sum(-1)

    def inverse(self, w, params):
        inside, w, x_k, width, y_k, height, d_k, d_next, slope, curvature = self._bin_parameters(w, params, True)
        rise = torch.minimum((w - y_k).clamp(min=0.0), height)
        a = height * (slope - d_k) + rise * curvature
        b = height * d_k - rise * curvature
        c = -slope * rise
        discriminant = (b.square() - 4.0 * a * c).clamp(min=0.0)
        xi = (2.0 * c / (-b - discriminant.sqrt())).clamp(0.0, 1.0)
        log_slope = self._log_slope(xi, d_k, d_next, slope, curvature)[2]
        return torch.where(inside, x_k + xi * width, w), torch.where(inside, log_slope, 0.0).sum(-1)

    def extra_repr(self):
        return f"bins={self.bins}, bound={self.bound}"

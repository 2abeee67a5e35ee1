"""The elementwise maps that autoregressive and coupling layers apply: the part a new map adds.

An autoregressive or coupling layer applies, coordinate by coordinate, a monotone map
``w_i = h(u_i; θ_i)`` whose parameters ``θ_i`` its conditioner network computes (from
``u_{<i}`` for MADE, from the kept coordinates for a coupling layer). The layer owns the
network and the direction; the map owns the arithmetic. A map has ``num_params`` parameters
per coordinate, which the network emits as one tensor of shape ``(..., num_params, D)``, all
zeros at initialisation. Every map is the identity at zero parameters, so every new layer is.

A new map subclasses :class:`ElementwiseMap` and implements ``forward`` and ``inverse``;
``log_det`` may be overridden when it is cheaper than a full ``forward``. Two maps are built
in: :class:`~pyro_lvm.flows.affine.Affine` and
:class:`~pyro_lvm.flows.spline.RationalQuadraticSpline`.
"""

from ..errors import bad_type, bad_value


class ElementwiseMap:
    """A monotone map of each coordinate, ``w_i = h(u_i; θ_i)``, with ``θ`` of shape
    ``(..., num_params, D)`` and ``u``, ``w`` of shape ``(..., D)``."""

    #: P, the parameters each coordinate's map takes.
    num_params = 0

    def forward(self, u, params):
        """``(h(u; θ), Σ_i log h'(u_i; θ_i))``."""
        raise NotImplementedError

    def inverse(self, w, params):
        """``(u, Σ_i log h'(u_i; θ_i))`` with ``h(u; θ) = w``: the log-det is the forward map's."""
        raise NotImplementedError

    def log_det(self, u, params):
        """``Σ_i log h'(u_i; θ_i)`` alone."""
        return self.forward(u, params)[1]

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self):
        return ""


def check_elementwise(elementwise):
    """``elementwise`` if it is an :class:`ElementwiseMap` instance."""
    if not isinstance(elementwise, ElementwiseMap):
        raise bad_type("elementwise", elementwise, "an ElementwiseMap such as Affine() or RationalQuadraticSpline()")
    return elementwise


def check_bound(argument, value):
    """``value`` as a positive finite float (a bound of 0 would leave a map nothing to move)."""
    valid = not isinstance(value, bool) and isinstance(value, (int, float))
    if not (valid and 0 < value < float("inf")):
        raise bad_value(argument, value, "a positive finite number")
    return float(value)

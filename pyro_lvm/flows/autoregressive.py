"""Autoregressive flows: MAF and IAF, unconditional and conditional, affine or spline.

Both are built on one *direct* elementwise map ``A(v)_i = h(v_i; θ_i)`` whose parameters
``θ_i = MADE(v)_i`` are functions of ``v_{<i}``: ``A(v)`` costs one MADE pass,
``log|det dA/dv| = sum_i log h'(v_i; θ_i)``, and the Jacobian is lower triangular. The inverse
solves ``v_i = h⁻¹(w_i; θ_i(v_{<i}))`` coordinate by coordinate: D MADE passes (coordinate
``i`` is exact after pass ``i``). The map ``h`` is affine by default (``.affine``:
``h(v) = v exp(s) + m``) or a rational-quadratic spline (``.spline``: a neural spline flow).
The two flows differ in which way ``A`` points (``x``: base side, ``y``: data side; the
lecture's ``f`` maps data to noise):

- **MAF**: ``A`` is the density direction, ``x = A(y)``; for the affine map that is the
  lecture's ``z_j = (x_j - μ_j(x_{<j})) / σ_j(x_{<j})`` with ``σ = exp(-s)``,
  ``μ = -m exp(-s)``. Density: one pass; sampling: D passes;
  ``log|det dy/dx| = -log|det dA/dy|``.
- **IAF**: ``A`` is the sampling direction, ``y = A(x)``. Sampling: one pass; density: D
  passes; ``log|det dy/dx| = log|det dA/dx|``.

So MAF is the fast choice for a density model (maximum likelihood) and IAF for a guide
(a sample and its log-density in one pass, the log-det coming with the sample). MADE emits the
parameters of the one-pass map directly, as zuko and nflows do, so the pass that is taken
most is the cheap one, differentiated with the fewest operations. MADE's output layer starts
at zero and every map is the identity there, so a new layer is the identity.
"""

from torch import nn

from .affine import LOG_SCALE_BOUND, layer_map
from .base import Bijection, ConditionalBijection
from .elementwise import ElementwiseMap
from .made import HIDDEN, MADE


class _Autoregressive:
    """The computations; ``samples_in_one_pass`` is True for IAF, False for MAF."""

    samples_in_one_pass = False
    autoregressive = True  # Pyro's marker of a triangular Jacobian

    def _build(self, hidden, context_dim, residual, log_scale_bound, activation, elementwise):
        self.elementwise = layer_map(elementwise, log_scale_bound)
        self.made = MADE(self.dim, hidden, context_dim, residual, activation, self.elementwise.num_params)

    def _direct(self, v, context):
        """``(A(v), log|det dA/dv|)`` in one MADE pass."""
        return self.elementwise.forward(v, self.made(v, context))

    def _solve(self, w, context):
        """``(v, log|det dA/dv|)`` with ``A(v) = w``, in D MADE passes."""
        v = w
        for _ in range(self.dim):
            v, log_det = self.elementwise.inverse(w, self.made(v, context))
        return v, log_det

    def _forward(self, x, context=None):
        if self.samples_in_one_pass:
            return self._direct(x, context)
        y, log_det = self._solve(x, context)
        return y, -log_det

    def _backward(self, y, context=None):
        if self.samples_in_one_pass:
            return self._solve(y, context)
        x, log_det = self._direct(y, context)
        return x, -log_det

    def _log_det(self, x, y, context=None):
        v = x if self.samples_in_one_pass else y
        log_det = self.elementwise.log_det(v, self.made(v, context))
        return log_det if self.samples_in_one_pass else -log_det

    def extra_repr(self):
        return f"{super().extra_repr()}, elementwise={self.elementwise}"


class _UnconditionalAutoregressive(_Autoregressive, Bijection):
    def __init__(self, dim: int, hidden: tuple = HIDDEN, *, elementwise: ElementwiseMap | None = None,
                 residual: bool = False, log_scale_bound: float = LOG_SCALE_BOUND,
                 activation: type = nn.ReLU):
        super().__init__(dim)
        self._build(hidden, 0, residual, log_scale_bound, activation, elementwise)


class _ConditionalAutoregressive(_Autoregressive, ConditionalBijection):
    def __init__(self, dim, context_dim, hidden=HIDDEN, *, elementwise=None, residual=False,
                 log_scale_bound=LOG_SCALE_BOUND, activation=nn.ReLU):
        super().__init__(dim, context_dim)
        self._build(hidden, context_dim, residual, log_scale_bound, activation, elementwise)


class MAF(_UnconditionalAutoregressive):
    """Masked autoregressive flow: one-pass density, D-pass sampling (``dim`` >= 2).

    ``MAF(dim, hidden=(256, 256), *, elementwise=None, residual=False, log_scale_bound=5.0,
    activation=nn.ReLU)``

    Args:
        dim: the size of the vectors.
        hidden: the MADE conditioner's hidden widths.
        elementwise: the map ``h`` (an ``ElementwiseMap``); ``None`` is
            ``Affine(log_scale_bound)``, ``RationalQuadraticSpline()`` makes a neural spline
            flow.
        residual: residual connections between equal-width hidden layers.
        log_scale_bound: the affine map's log-scales are soft-clipped to ± this
            (``bound * tanh(raw / bound)``, never a hard clamp).
        activation: the hidden layers' activation (a module class).

    References:
        Papamakarios, Pavlakou & Murray (2017), Masked autoregressive flow for density
        estimation. Durkan, Bekasov, Murray & Papamakarios (2019), Neural spline flows.
    """

    samples_in_one_pass = False


class IAF(_UnconditionalAutoregressive):
    """Inverse autoregressive flow: one-pass sampling, D-pass density (``dim`` >= 2).

    Its arguments are ``MAF``'s.

    References:
        Kingma et al. (2016), Improved variational inference with inverse autoregressive
        flow.
    """

    samples_in_one_pass = True


class ConditionalMAF(_ConditionalAutoregressive):
    """MAF whose MADE also reads a context ``c``: ``condition(c)`` gives the transform.

    ``ConditionalMAF(dim, context_dim, hidden=(256, 256), *, elementwise=None, residual=False,
    log_scale_bound=5.0, activation=nn.ReLU)``; ``dim`` may be 1 (the context drives the
    single coordinate).
    """

    samples_in_one_pass = False


class ConditionalIAF(_ConditionalAutoregressive):
    """IAF whose MADE also reads a context ``c`` (e.g. an encoder output in a flow guide)."""

    samples_in_one_pass = True

"""Invertible linear layers ``y = W x`` whose log-determinant costs O(D): LU and QR.

Both keep their factors in one D x D parameter ``packed`` laid out as LAPACK does
(strictly-lower part, diagonal, strictly-upper part), and both start at ``packed = 0``,
``W = I``. A triangular factor's diagonal is ``softplus(packed_ii + c) + 1e-4 > 0`` (``c``
makes it 1 at 0), so ``W`` is invertible for every parameter value and
``log|det W| = sum_i log diag_i``. Nothing derived from the
parameters is kept between calls: ``W`` is formed afresh (O(D³), cheaper than the O(B D²)
batch product for B >= D), so it can never be stale after an optimizer step.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import Bijection
from .permute import check_permutation

#: Floor added to every softplus diagonal entry, keeping ``log diag`` finite.
MIN_DIAG = 1e-4
_SHIFT = math.log(math.expm1(1.0 - MIN_DIAG))  # so that unit_softplus(0) = 1 in any dtype


def unit_softplus(raw):
    """``softplus(raw + c) + MIN_DIAG`` with ``c`` chosen so that ``unit_softplus(0) = 1``: a
    diagonal that starts at the identity (unlike ``pyro_lvm.nn.positive``, 1e-5 +
    softplus)."""
    return F.softplus(raw + _SHIFT) + MIN_DIAG


def _upper(packed, diag):
    return torch.triu(packed, 1) + torch.diag_embed(diag)


def _right_solve(rows, matrix, upper, unitriangular=False):
    """``x`` with ``x @ matrix = rows`` for a triangular ``matrix``, rows of any batch shape."""
    flat = rows.reshape(-1, rows.shape[-1])
    solved = torch.linalg.solve_triangular(matrix, flat, upper=upper, left=False, unitriangular=unitriangular)
    return solved.reshape(rows.shape)


class _PackedLinear(Bijection):
    """What LU and QR share: the packed parameter, the diagonal, the log-det, the product."""

    def __init__(self, dim: int):
        super().__init__(dim)
        self.packed = nn.Parameter(torch.zeros(self.dim, self.dim))

    def _diag_and_log_det(self):
        diag = unit_softplus(self.packed.diagonal())
        return diag, diag.log().sum()

    def _log_det(self, x, y):
        return self._diag_and_log_det()[1].expand(x.shape[:-1])

    def weight(self):
        """The matrix ``W``, formed afresh from the parameters."""
        return self._weight_and_log_det()[0]

    def _forward(self, x):
        weight, log_det = self._weight_and_log_det()
        return F.linear(x, weight), log_det.expand(x.shape[:-1])


class LULinear(_PackedLinear):
    """``y = W x`` with ``W = P L U``.

    ``P`` is a fixed permutation (a buffer; ``None``, the identity, unless ``permutation`` is
    given), ``L`` unit lower triangular, ``U`` upper triangular with a positive diagonal.
    Forward: form ``W`` (O(D³)), one product (O(B D²)). Inverse: ``x = U⁻¹ L⁻¹ Pᵀ y``, two
    triangular solves (O(B D²)). ``log|det W| = sum_i log U_ii`` (O(D)).

    Args:
        dim: the size of the vectors.
        permutation: P as ``dim`` indices (``None``: the identity).
    """

    def __init__(self, dim: int, permutation: torch.Tensor | None = None):
        super().__init__(dim)
        perm = None if permutation is None else check_permutation("permutation", permutation, self.dim)
        self.register_buffer("permutation", perm)

    def _weight_and_log_det(self):
        diag, log_det = self._diag_and_log_det()
        lower = torch.tril(self.packed, -1) + torch.eye(self.dim, dtype=diag.dtype, device=diag.device)
        weight = lower @ _upper(self.packed, diag)
        return (weight if self.permutation is None else weight[self.permutation]), log_det

    def _backward(self, y):
        diag, log_det = self._diag_and_log_det()
        rows = y if self.permutation is None else y[..., torch.argsort(self.permutation)]
        rows = _right_solve(rows, self.packed.mT, upper=True, unitriangular=True)  # L⁻¹ (unit diagonal)
        return _right_solve(rows, _upper(self.packed, diag).mT, upper=False), log_det.expand(y.shape[:-1])


class QRLinear(_PackedLinear):
    """``y = W x`` with ``W = Q R``.

    ``Q = -H_1 ⋯ H_D`` with Householder reflections ``H_k = I - τ_k v_k v_kᵀ``,
    ``v_k = e_k + (strictly-lower column k of packed)``, ``τ_k = 2 / |v_k|²``; ``R`` upper
    triangular with a positive diagonal. (The sign makes ``Q = I`` at the start and
    ``det Q = +1``.) ``Q`` is formed without a loop over reflections by the compact WY ("UT")
    form ``H_1 ⋯ H_D = I - V T⁻¹ Vᵀ`` with ``T = triu(VᵀV, 1) + diag(VᵀV) / 2``: three O(D³)
    products and one triangular solve. Forward: ``W = Q R``, one product O(B D²). Inverse
    ``x = R⁻¹ Qᵀ y``: a product and a triangular solve, O(B D²). ``log|det W| = sum_i log R_ii``
    (O(D)).

    Args:
        dim: the size of the vectors.
    """

    def _orthogonal(self):
        eye = torch.eye(self.dim, dtype=self.packed.dtype, device=self.packed.device)
        vectors = torch.tril(self.packed, -1) + eye
        gram = vectors.mT @ vectors
        t = torch.triu(gram, 1) + torch.diag_embed(gram.diagonal() / 2)
        return vectors @ torch.linalg.solve_triangular(t, vectors.mT, upper=True) - eye

    def _weight_and_log_det(self):
        diag, log_det = self._diag_and_log_det()
        return self._orthogonal() @ _upper(self.packed, diag), log_det

    def _backward(self, y):
        diag, log_det = self._diag_and_log_det()
        x = _right_solve(y @ self._orthogonal(), _upper(self.packed, diag).mT, upper=False)
        return x, log_det.expand(y.shape[:-1])

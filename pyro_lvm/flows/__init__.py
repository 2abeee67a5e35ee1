"""Normalizing flows as Pyro transforms: linear (LU, QR), MADE, MAF/IAF, coupling, each with an
affine or a rational-quadratic spline map, permutations, a flow density model and a builder from
a short spec (see docs/flows.md)."""

from .affine import LOG_SCALE_BOUND, Affine, soft_clip
from .autoregressive import IAF, MAF, ConditionalIAF, ConditionalMAF
from .base import Bijection, ConditionalBijection, ConditionedTransform
from .coupling import AffineCoupling, ConditionalAffineCoupling
from .density import FlowDensity
from .elementwise import ElementwiseMap
from .linear import LULinear, QRLinear
from .made import HIDDEN, MADE, MaskedLinear, MaskedMLP
from .permute import Permute
from .spec import LAYER_NAMES, build_flow, parse_spec
from .spline import RationalQuadraticSpline

__all__ = [
    "HIDDEN",
    "LAYER_NAMES",
    "LOG_SCALE_BOUND",
    "IAF",
    "MADE",
    "MAF",
    "Affine",
    "AffineCoupling",
    "Bijection",
    "ConditionalAffineCoupling",
    "ConditionalBijection",
    "ConditionalIAF",
    "ConditionalMAF",
    "ConditionedTransform",
    "ElementwiseMap",
    "FlowDensity",
    "LULinear",
    "MaskedLinear",
    "MaskedMLP",
    "Permute",
    "QRLinear",
    "RationalQuadraticSpline",
    "build_flow",
    "parse_spec",
    "soft_clip",
]

"""Normalizing flows as Pyro transforms: linear (LU, QR), MADE, MAF/IAF, affine coupling,
permutations, a flow density model and a builder from a short spec (see docs/flows.md)."""

from .affine import LOG_SCALE_BOUND, soft_clip
from .autoregressive import IAF, MAF, ConditionalIAF, ConditionalMAF
from .base import Bijection, ConditionalBijection, ConditionedTransform
from .coupling import AffineCoupling, ConditionalAffineCoupling
from .density import FlowDensity
from .linear import LULinear, QRLinear
from .made import HIDDEN, MADE, MaskedLinear, MaskedMLP
from .permute import Permute
from .spec import LAYER_NAMES, build_flow, parse_spec

__all__ = [
    "HIDDEN",
    "LAYER_NAMES",
    "LOG_SCALE_BOUND",
    "IAF",
    "MADE",
    "MAF",
    "AffineCoupling",
    "Bijection",
    "ConditionalAffineCoupling",
    "ConditionalBijection",
    "ConditionalIAF",
    "ConditionalMAF",
    "ConditionedTransform",
    "FlowDensity",
    "LULinear",
    "MaskedLinear",
    "MaskedMLP",
    "Permute",
    "QRLinear",
    "build_flow",
    "parse_spec",
    "soft_clip",
]

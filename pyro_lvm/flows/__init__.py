"""Normalizing flows as Pyro transforms: linear (LU, QR), MADE, MAF/IAF, coupling, each with an
affine or a rational-quadratic spline map, permutations, image layers (masked couplings,
squeeze, 1 x 1 LU convolutions), a flow density model and a builder from a short spec (see
docs/flows.md and docs/images.md)."""

from .affine import LOG_SCALE_BOUND, Affine, soft_clip
from .autoregressive import IAF, MAF, ConditionalIAF, ConditionalMAF
from .base import Bijection, ConditionalBijection, ConditionedTransform
from .coupling import AffineCoupling, ConditionalAffineCoupling
from .density import FlowDensity
from .elementwise import ElementwiseMap
from .image import (ChannelLU, ImageCoupling, Logit, Squeeze, channel_mask, checkerboard_mask,
                    image_flow)
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
    "ChannelLU",
    "ConditionalAffineCoupling",
    "ConditionalBijection",
    "ConditionalIAF",
    "ConditionalMAF",
    "ConditionedTransform",
    "ElementwiseMap",
    "FlowDensity",
    "ImageCoupling",
    "Logit",
    "LULinear",
    "MaskedLinear",
    "MaskedMLP",
    "Permute",
    "QRLinear",
    "RationalQuadraticSpline",
    "Squeeze",
    "build_flow",
    "channel_mask",
    "checkerboard_mask",
    "image_flow",
    "parse_spec",
    "soft_clip",
]

"""Guides q(z | x): amortized encoders, the local guide, and the contract a user's own guide
follows (docs/contract.md)."""

from .fullrank import FullRankNormalGuide
from .local import LocalNormalGuide
from .meanfield import MeanFieldNormalGuide
from .registry import GUIDES, make_guide

__all__ = ["GUIDES", "FullRankNormalGuide", "LocalNormalGuide", "MeanFieldNormalGuide",
           "make_guide"]

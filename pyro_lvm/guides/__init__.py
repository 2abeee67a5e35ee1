"""Guides q(z | x): amortized encoders and the contract a user's own guide follows."""

from .meanfield import MeanFieldNormalGuide

__all__ = ["MeanFieldNormalGuide"]

"""Guides q(z | x): amortized encoders, the local guide, and the contract a user's own guide
follows (docs/contract.md)."""

from .flow import FlowGuide
from .fullrank import FullRankNormalGuide
from .inputs import EncoderInputs, InputsGuide
from .local import LocalNormalGuide
from .meanfield import MeanFieldNormalGuide
from .registry import GUIDE_NAMES, GUIDES, make_guide

__all__ = ["GUIDES", "GUIDE_NAMES", "EncoderInputs", "FlowGuide", "FullRankNormalGuide",
           "InputsGuide", "LocalNormalGuide", "MeanFieldNormalGuide", "make_guide"]

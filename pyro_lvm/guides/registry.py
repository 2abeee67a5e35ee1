"""Built-in amortized guides by name, as the CLI and checkpoints refer to them."""

from ..errors import bad_value
from .fullrank import FullRankNormalGuide
from .meanfield import MeanFieldNormalGuide

GUIDES = {"meanfield": MeanFieldNormalGuide, "fullrank": FullRankNormalGuide}


def make_guide(name, data_dim, latent_dim, hidden=(256,)):
    """The amortized guide called ``name`` ('meanfield' or 'fullrank')."""
    if name not in GUIDES:
        raise bad_value("guide", name, f"one of {sorted(GUIDES)}")
    return GUIDES[name](data_dim, latent_dim, hidden)

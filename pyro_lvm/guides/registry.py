"""Built-in amortized guides by name, as the CLI and checkpoints refer to them."""

from ..errors import bad_value
from ..flows.spec import parse_spec
from ..vocabulary import GUIDE_NAMES
from .flow import FlowGuide
from .fullrank import FullRankNormalGuide
from .meanfield import MeanFieldNormalGuide

GUIDES = {"meanfield": MeanFieldNormalGuide, "fullrank": FullRankNormalGuide}


def check_guide_name(name):
    """``name`` when it names a built-in guide (a flow guide's layers parsed); else an error."""
    if isinstance(name, str) and name.startswith("flow:"):
        parse_spec(name[len("flow:"):])
    elif name not in GUIDES:
        raise bad_value("guide", name, GUIDE_NAMES)
    return name


def make_guide(name, data_dim, latent_dim, hidden=(256,), conv=None):
    """The amortized guide called ``name``: 'meanfield', 'fullrank' or 'flow:SPEC' (a
    ``FlowGuide`` whose layers are the flow spec, e.g. 'flow:iaf*2'); with ``conv`` (a
    ``ConvArch``) its encoder is convolutional."""
    if check_guide_name(name).startswith("flow:"):
        return FlowGuide(data_dim, latent_dim, spec=name[len("flow:"):], hidden=hidden, conv=conv)
    return GUIDES[name](data_dim, latent_dim, hidden, conv)

"""Small network blocks shared by encoders, decoders and flow conditioners."""

import torch
from torch import nn
from torch.nn import functional as F

from .checks import check_hidden
from .errors import bad_value

_ACTIVATIONS = {"relu": nn.ReLU, "softplus": nn.Softplus, "tanh": nn.Tanh, "elu": nn.ELU}


class MLP(nn.Sequential):
    """``in_dim -> hidden[0] -> ... -> out_dim``: affine layers with an activation between them."""

    def __init__(self, in_dim, hidden, out_dim, activation="softplus"):
        if activation not in _ACTIVATIONS:
            raise bad_value("activation", activation, f"one of {sorted(_ACTIVATIONS)}")
        sizes = (in_dim, *check_hidden(hidden), out_dim)
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            if i:
                layers.append(_ACTIVATIONS[activation]())
            layers.append(nn.Linear(a, b))
        super().__init__(*layers)


def positive(raw, minimum=1e-5):
    """A strictly positive scale from an unconstrained value: ``softplus(raw) + minimum``."""
    return F.softplus(raw) + minimum


def inverse_positive(scale, minimum=1e-5):
    """The unconstrained value ``raw`` with ``positive(raw) == scale``."""
    y = torch.as_tensor(scale, dtype=torch.get_default_dtype()) - minimum
    return y + torch.log(-torch.expm1(-y))

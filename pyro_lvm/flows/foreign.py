"""Other libraries' transforms as flow layers: checked once, made ready at each call.

``FlowDensity`` and ``FlowGuide`` take, besides this package's layers, any bijective
``torch.distributions.Transform`` on real vectors (Pyro's ``TransformModule`` layers such as
``spline_coupling``, fixed ones such as ``pyro.distributions.transforms.Permute``, elementwise
ones on reals such as ``spline``, whose log-det is then summed over the vector), Pyro's
``ConditionalTransformModule`` layers (in a guide, fed the encoder's context), and zuko's lazy
transforms (``zuko.flows.MaskedAutoregressiveTransform`` and the like, called with the
context or ``None``). Each is tried once on a zero vector when the model is built: a transform
that is not bijective, not on real vectors, of another size or that fails is refused there,
naming its position, rather than during training.
"""

import torch
from pyro.distributions.conditional import ConditionalTransform
from torch import nn
from torch.distributions import Transform, constraints
from torch.distributions.transforms import IndependentTransform

from ..errors import bad_type, bad_value
from .base import first_floating

try:
    from zuko.lazy import LazyTransform
except ImportError:  # zuko is optional
    LazyTransform = ()


class FixedTransform(nn.Module):
    """Holds a transform that is not a module (it has no trainable parameters) in a module list."""

    def __init__(self, transform):
        super().__init__()
        self.transform = transform

    def extra_repr(self):
        return repr(self.transform)


def _on_reals(constraint):
    """Whether ``constraint`` is the real line or real vectors (``independent(real, n)``)."""
    while isinstance(constraint, constraints.independent):
        constraint = constraint.base_constraint
    return isinstance(constraint, type(constraints.real))


def ready(layer, context=None):
    """The ``torch`` transform ``layer`` stands for, on vectors, given ``context`` (if it takes one)."""
    if isinstance(layer, FixedTransform):
        layer = layer.transform
    elif isinstance(layer, ConditionalTransform):
        layer = layer.condition(context)
    elif isinstance(layer, LazyTransform):
        layer = layer(context)
    if layer.domain.event_dim == 0:  # keep its cache setting: a layer may not offer another
        return IndependentTransform(layer, 1, cache_size=getattr(layer, "_cache_size", 0))
    return layer


def check_layers(transforms, dim, context_dim=0, argument="transforms"):
    """``transforms`` as a list of modules, each tried once on zeros of size ``dim``.

    A conditional layer is allowed only with ``context_dim > 0`` and is tried with a zero context.
    """
    if isinstance(transforms, (Transform, nn.Module)) and not isinstance(transforms, nn.ModuleList):
        raise bad_type(argument, transforms, "a list of transforms (wrap a single one in a list)")
    layers = []
    for k, layer in enumerate(transforms):
        where = f"{argument}[{k}]"
        conditional = isinstance(layer, (ConditionalTransform, LazyTransform))
        if not isinstance(layer, (Transform, ConditionalTransform, LazyTransform)):
            raise bad_type(where, layer, "a torch Transform, a Pyro (Conditional)TransformModule or a zuko "
                                         "lazy transform")
        if isinstance(layer, ConditionalTransform) and not context_dim:
            raise bad_type(where, layer, "an unconditional transform (a FlowDensity has no context)")
        held = layer if isinstance(layer, nn.Module) else FixedTransform(layer)
        _try(held, where, dim, context_dim if conditional else 0)
        layers.append(held)
    return layers


def _try(layer, where, dim, context_dim):
    like = first_floating(layer)
    options = {"dtype": like.dtype, "device": like.device} if like is not None else {}
    context = torch.zeros(context_dim, **options) if context_dim else None
    try:
        transform = ready(layer, context)
    except Exception as error:
        raise bad_value(where, layer, f"a transform that can be built ({type(error).__name__}: {error})") from None
    if not getattr(transform, "bijective", False):
        raise bad_value(where, layer, "a bijective transform (a flow layer must be invertible)")
    if not (_on_reals(transform.domain) and _on_reals(transform.codomain)) or transform.domain.event_dim != 1:
        raise bad_value(where, layer, f"a transform of real vectors (its domain is {transform.domain}, "
                                      f"codomain {transform.codomain})")
    try:
        with torch.no_grad():
            y = transform(torch.zeros(dim, **options))
    except Exception as error:
        raise bad_value(where, layer, f"a transform of vectors of size dim={dim} "
                                      f"({type(error).__name__}: {error})") from None
    if y.shape[-1:] != (dim,):
        raise bad_value(where, layer, f"a transform of vectors of size dim={dim} (it returned {tuple(y.shape)})")

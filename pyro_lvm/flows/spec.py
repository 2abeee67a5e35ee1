"""Build a stack of flow layers from a short spec such as ``"lu,coupling,lu,coupling"``.

Grammar: comma-separated layer names, each optionally followed by ``*N`` to repeat it
(1 <= N <= 1000, and at most 1000 layers in all): ``"maf*5"``, ``"qr,iaf*2"``. Names:
``lu``, ``qr`` (linear), ``maf``, ``iaf`` (affine autoregressive), ``coupling`` (affine
coupling, halves), ``nsf``, ``nsf-iaf``, ``nsf-coupling`` (the same three with a
rational-quadratic spline of 8 bins on [-5, 5]: neural spline flows), ``reverse``, ``shuffle``
(fixed permutations). Layers are listed in Pyro's order, from the base to the data. Between two
consecutive autoregressive/coupling layers a ``reverse`` permutation is inserted, so that
each coordinate is conditioned on, or kept, in turn; a linear layer already mixes all
coordinates, so none is inserted next to one.
"""

import torch

from ..errors import bad_type, bad_value
from .autoregressive import IAF, MAF, ConditionalIAF, ConditionalMAF
from ..checks import check_int
from .coupling import AffineCoupling, ConditionalAffineCoupling
from .linear import LULinear, QRLinear
from .made import HIDDEN
from .permute import Permute
from .spline import RationalQuadraticSpline

#: Layers whose conditioner reads part of the input
#: (name -> (unconditional, conditional, elementwise map or None for affine)).
_NETWORK_LAYERS = {
    "maf": (MAF, ConditionalMAF, None),
    "iaf": (IAF, ConditionalIAF, None),
    "coupling": (AffineCoupling, ConditionalAffineCoupling, None),
    "nsf": (MAF, ConditionalMAF, RationalQuadraticSpline),
    "nsf-iaf": (IAF, ConditionalIAF, RationalQuadraticSpline),
    "nsf-coupling": (AffineCoupling, ConditionalAffineCoupling, RationalQuadraticSpline),
}
#: Layers without a network (name -> builder from ``(dim, seed)``).
_PLAIN_BUILDERS = {
    "lu": lambda dim, seed: LULinear(dim),
    "qr": lambda dim, seed: QRLinear(dim),
    "reverse": lambda dim, seed: Permute.reverse(dim),
    "shuffle": lambda dim, seed: Permute.random(dim, seed=seed),
}
#: The most layers a spec may expand to (a typo such as ``lu*99999999999`` is an error).
MAX_LAYERS = 1000
#: Every name the spec language knows.
LAYER_NAMES = tuple(sorted((*_NETWORK_LAYERS, *_PLAIN_BUILDERS)))
_EXPECTED = f"comma-separated layer names among {', '.join(LAYER_NAMES)}, each optionally followed by *N with N >= 1"


def parse_spec(spec):
    """The layer names of ``spec`` with repetitions expanded: ``"qr,iaf*2"`` -> ``["qr", "iaf", "iaf"]``."""
    if not isinstance(spec, str):
        raise bad_type("spec", spec, f"a string of {_EXPECTED}")
    names = []
    for token in spec.split(","):
        name, star, count = (part.strip() for part in token.strip().lower().partition("*"))
        if name not in LAYER_NAMES:
            raise bad_value("spec", spec, f"{_EXPECTED}; {token.strip()!r} is not one")
        if star and count.isdigit() and (len(count) > 4 or int(count) > MAX_LAYERS):
            raise bad_value("spec", spec, f"at most {MAX_LAYERS} layers in all")
        if star and not (count.isdigit() and int(count) >= 1):
            raise bad_value("spec", spec, f"{_EXPECTED}; the count in {token.strip()!r} is not")
        names += [name] * (int(count) if star else 1)
        if len(names) > MAX_LAYERS:
            raise bad_value("spec", spec, f"at most {MAX_LAYERS} layers in all")
    return names


def _layer(name, dim, hidden, context_dim, seed):
    if name in _PLAIN_BUILDERS:
        return _PLAIN_BUILDERS[name](dim, seed)
    unconditional, conditional, elementwise = _NETWORK_LAYERS[name]
    options = {"elementwise": elementwise()} if elementwise else {}
    if context_dim:
        return conditional(dim, context_dim, hidden, **options)
    return unconditional(dim, hidden, **options)


def build_flow(spec: str, dim: int, hidden: tuple = HIDDEN, context_dim: int = 0,
               seed: int = 0) -> list:
    """The layers of ``spec`` for vectors of size ``dim``, in Pyro's order (base to data).

    With ``context_dim > 0`` the maf/iaf/coupling/nsf layers are conditional (call
    ``condition(context)`` or use ``ConditionalTransformedDistribution``); the others are not.
    ``seed`` fixes the initial parameters and the ``shuffle`` permutations without touching
    the global random state.

    Args:
        spec: layers separated by commas, ``name*k`` for k of them, e.g. ``"lu,maf*4"``
            (see ``docs/flows.md``).
        dim: the size of the vectors.
        hidden: hidden widths of each conditioner network.
        context_dim: size of the context of conditional layers (0: unconditional).
        seed: seeds the initial parameters and permutations.

    Returns:
        A list of ``TransformModule`` (or ``ConditionalTransformModule``) layers.
    """
    names = parse_spec(spec)
    check_int("dim", dim)
    check_int("context_dim", context_dim, minimum=0)
    check_int("seed", seed, minimum=0)
    layers, previous = [], None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for index, name in enumerate(names):
            if name in _NETWORK_LAYERS and previous in _NETWORK_LAYERS:
                layers.append(Permute.reverse(dim))
            layers.append(_layer(name, dim, hidden, context_dim, seed + index))
            previous = name
    return layers

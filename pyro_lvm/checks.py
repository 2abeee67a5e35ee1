"""The argument checks every public entry point shares (messages from ``.errors``).

A wrong kind (a float where a count is expected, ``True`` for an integer) is a ``TypeError``;
a value out of range is a ``ValueError``; both name the argument.
"""

from numbers import Integral

from .errors import bad_type, bad_value


def check_int(argument, value, minimum=1):
    """``value`` as an ``int`` when it is an integer ``>= minimum`` (``bool`` is not one)."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise bad_type(argument, value, f"an integer >= {minimum}")
    if value < minimum:
        raise bad_value(argument, value, f"an integer >= {minimum}")
    return int(value)


def check_hidden(hidden, argument="hidden", min_layers=0):
    """``hidden`` as a tuple of at least ``min_layers`` positive layer widths (an empty tuple:
    no hidden layer)."""
    expected = ("a sequence of positive integers, e.g. (256, 256)" if min_layers == 0 else
                "a non-empty tuple of positive integers, e.g. (256, 256)" if min_layers == 1
                else f"a sequence of at least {min_layers} positive integers")
    widths = tuple(hidden) if isinstance(hidden, (tuple, list)) else None
    if widths is None or len(widths) < min_layers or any(
            isinstance(h, bool) or not isinstance(h, Integral) or h < 1 for h in widths):
        raise bad_value(argument, hidden, expected)
    return tuple(int(h) for h in widths)

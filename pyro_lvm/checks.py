"""The argument checks every public entry point shares (messages from ``.errors``).

A wrong kind (a float where a count is expected, ``True`` for an integer) is a ``TypeError``;
a value out of range is a ``ValueError``; both name the argument.
"""

import math
import os
from numbers import Integral, Real

import torch

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


#: The largest width a command accepts for a layer, a latent space or a mixture.
MAX_WIDTH = 100_000
#: The largest number of importance samples (or draws) per row a command accepts.
MAX_SAMPLES = 1_000_000


def check_size(argument, value, maximum, minimum=1):
    """``check_int``, and at most ``maximum``: a bound that catches a typo (``1000000000``)
    before it becomes an allocation failure."""
    value = check_int(argument, value, minimum)
    if value > maximum:
        raise bad_value(argument, value, f"an integer from {minimum} to {maximum:,}")
    return value


def check_positive(argument, value, allow_none=False):
    """``value`` as a ``float`` when it is a finite number ``> 0`` (or ``None`` if allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise bad_type(argument, value, "a positive number" + (" or None" if allow_none else ""))
    if not (math.isfinite(value) and value > 0):
        raise bad_value(argument, value, "a finite number > 0" + (" or None" if allow_none else ""))
    return float(value)


def available_memory(device):
    """Bytes of memory ``device`` can still give: free CUDA memory, or the host's available
    memory (``MemAvailable`` on Linux, the physical memory elsewhere)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _gib(nbytes):
    return f"{nbytes / 2**30:,.1f} GiB"


def check_memory(argument, seen, nbytes, device):
    """Refuse sizes (``argument`` = ``seen``) whose tensors would need ``nbytes``, more than
    ``device`` has available: one clear error instead of an allocation failure or the
    operating system's out-of-memory killer."""
    free = available_memory(device)
    if nbytes > free:
        raise bad_value(argument, seen, f"sizes that fit in memory: these need about "
                        f"{_gib(nbytes)}, {device} has {_gib(free)} available")

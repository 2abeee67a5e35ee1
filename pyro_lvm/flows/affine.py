"""The elementwise affine map shared by autoregressive and coupling layers.

The *direct* map ``A(u) = u * exp(s) + m`` and its inverse ``A⁻¹(w) = (w - m) * exp(-s)``,
both O(D) per row, with ``log|det dA/du| = sum_i s_i``. The log-scale is soft-clipped,
``s = b tanh(raw / b)``: it stays in ``(-b, b)`` with a gradient everywhere, where a hard clamp
would have none outside its range.
"""

import torch

from ..errors import bad_value

#: Default bound ``b`` on the log-scale: each layer scales a coordinate by at most e^±5.
LOG_SCALE_BOUND = 5.0


def check_bound(log_scale_bound):
    """``log_scale_bound`` as a positive float (a bound of 0 would freeze every scale at 1)."""
    valid = not isinstance(log_scale_bound, bool) and isinstance(log_scale_bound, (int, float))
    if not (valid and 0 < log_scale_bound < float("inf")):
        raise bad_value("log_scale_bound", log_scale_bound, "a positive finite number")
    return float(log_scale_bound)


def soft_clip(raw, bound, sign=1.0):
    """``sign * bound * tanh(raw / bound)``: identity near 0, smooth, bounded by ``bound``.

    Evaluated as ``2 bound sigmoid(2 sign raw / bound) - bound`` (the same function; tanh is odd,
    so the sign costs nothing): sigmoid is about three times faster than tanh on the CPUs
    measured.
    """
    return torch.sigmoid(raw * (2.0 * sign / bound)) * (2.0 * bound) - bound


def affine_forward(u, shift, raw, bound):
    """``(A(u), log|det dA/du|) = (u * exp(s) + m, sum s)`` with ``s = soft_clip(raw, bound)``."""
    log_scale = soft_clip(raw, bound)
    return torch.addcmul(shift, u, log_scale.exp()), log_scale.sum(-1)


def affine_inverse(w, shift, raw, bound):
    """``(A⁻¹(w), log|det dA/du|) = ((w - m) * exp(-s), sum s)``: note the log-det is ``A``'s."""
    neg_log_scale = soft_clip(raw, bound, sign=-1.0)
    return (w - shift) * neg_log_scale.exp(), -neg_log_scale.sum(-1)

"""Fixed permutations of the coordinates, placed between autoregressive or coupling layers.

Forward ``y = x[π]``, inverse ``x = y[π⁻¹]``, ``log|det| = 0``; cost O(D) per row. The
permutation is a buffer, so it travels with ``state_dict`` and ``.to(device)``.
"""

import torch

from ..errors import bad_value
from ..checks import check_int
from .base import Bijection


def check_permutation(argument, permutation, dim=None):
    """``permutation`` as a LongTensor holding each of ``0 .. D-1`` exactly once."""
    try:
        perm = permutation if isinstance(permutation, torch.Tensor) else torch.as_tensor(
            permutation, device="cpu")  # index data: never on the meta device
    except (TypeError, ValueError, RuntimeError):
        raise bad_value(argument, permutation, "a sequence of integers") from None
    size = perm.numel() if dim is None else dim
    integral = perm.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
    valid = (
        integral
        and perm.dim() == 1
        and perm.numel() == size > 0
        and torch.equal(perm.long().sort().values.cpu(), torch.arange(size, device="cpu"))
    )
    if not valid:
        expected = f"a permutation of 0 .. {size - 1}" if size else "a non-empty permutation of 0 .. D-1"
        raise bad_value(argument, permutation, f"{expected}, each index exactly once")
    return perm.long()


class Permute(Bijection):
    """``y = x[..., π]`` for a fixed permutation ``π`` of ``0 .. D-1``."""

    def __init__(self, permutation):
        perm = check_permutation("permutation", permutation)
        super().__init__(perm.numel())
        self.register_buffer("permutation", perm)

    @classmethod
    def reverse(cls, dim):
        """``π = (D-1, ..., 0)``: the last coordinate becomes the first."""
        return cls(torch.arange(check_int("dim", dim) - 1, -1, -1, device="cpu"))

    @classmethod
    def random(cls, dim, seed=0):
        """A uniformly random ``π`` drawn from its own generator seeded with ``seed``."""
        generator = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
        return cls(torch.randperm(check_int("dim", dim), generator=generator, device="cpu"))

    def _forward(self, x):
        return x[..., self.permutation], self._log_det(x, None)

    def _backward(self, y):
        return y[..., torch.argsort(self.permutation)], self._log_det(y, None)

    def _log_det(self, x, y):
        return x.new_zeros(x.shape[:-1])

"""Flow layers on images stored as flattened rows: RealNVP's masked couplings and squeeze, and
Glow's invertible 1 × 1 convolution as the lecture's LU linear layer over channels.

Every layer is a ``Bijection`` on vectors of ``C·H·W`` numbers, read row-major as a
``C × H × W`` image (``image_shape``), so image layers mix with every other layer, with
``FlowDensity``, ``call_and_ladj`` and the cache:

- ``ImageCoupling``: a coupling layer (``coupling._Coupling``) whose kept pixels are a
  checkerboard (``checkerboard_mask``: pixel (i, j) kept when i + j has the given parity) or
  the first or second half of the channels (``channel_mask``), and whose conditioner is a small
  convolutional network on the image with its changed pixels zeroed;
  ``log|det| = Σ_changed log h'``.
- ``Squeeze``: a fixed permutation trading space for channels, each 2 × 2 block of a channel
  becoming 4 channels: ``(C, H, W) -> (4C, H/2, W/2)``, ``log|det| = 0``.  As a Pyro layer
  (base to data) it *unsqueezes*: its input is laid out as ``squeezed_shape``.
- ``ChannelLU``: ``y_ij = W x_ij`` at every pixel (i, j) with the same ``LULinear`` ``W``
  (C × C), a 1 × 1 convolution; ``log|det| = H W log|det W|``.
- ``Logit``: ``u = (σ(y) − α) / (1 − 2α)`` from the reals to an interval just wider than
  [0, 1] (RealNVP's pre-processing, run backwards), so a flow on the reals gives a density
  of dequantized pixels u ∈ [0, 1].

``image_flow`` stacks them as RealNVP's multi-scale architecture without factoring out.

References:
    Dinh, Sohl-Dickstein & Bengio (2017), Density estimation using Real NVP.
    Kingma & Dhariwal (2018), Glow: generative flow with invertible 1x1 convolutions.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..checks import check_hidden, check_int
from ..errors import bad_value
from .affine import LOG_SCALE_BOUND
from .base import Bijection
from .coupling import _Coupling
from .elementwise import ElementwiseMap
from .linear import LULinear
from .permute import Permute


def check_image_shape(image_shape):
    """``image_shape`` as a ``(C, H, W)`` tuple of positive integers."""
    shape = check_hidden(image_shape, "image_shape", min_layers=3)
    if len(shape) != 3:
        raise bad_value("image_shape", image_shape, "(C, H, W): three positive integers")
    return shape


def checkerboard_mask(image_shape, parity=0):
    """``C·H·W`` booleans, True (kept) at the pixels (i, j) of every channel with
    ``(i + j) % 2 == parity``."""
    c, h, w = check_image_shape(image_shape)
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return ((i + j) % 2 == parity).expand(c, h, w).flatten()


def channel_mask(image_shape, parity=0):
    """``C·H·W`` booleans, True (kept) on the first ``C // 2`` channels (``parity=1``: on the
    others); C >= 2."""
    c, h, w = check_image_shape(image_shape)
    if c < 2:
        raise bad_value("image_shape", image_shape, "at least 2 channels for a channel mask")
    first = torch.arange(c) < c // 2
    return (first if parity == 0 else ~first)[:, None, None].expand(c, h, w).flatten()


class ConvConditioner(nn.Module):
    """The kept pixels ``(..., n_kept)`` -> ``(..., out_dim)`` parameters of the changed ones:
    the image with changed pixels at 0, three 3 × 3 convolutions (ReLU between, the last one
    zero at the start so that the layer starts at the identity), read at the changed pixels.

    Args:
        image_shape: ``(C, H, W)``.
        mask: ``C·H·W`` booleans, True = kept.
        out_dim: P times the changed pixels (``P`` parameters each, parameter-major).
        hidden_channels: channels of the hidden feature maps.
    """

    def __init__(self, image_shape, mask, out_dim, hidden_channels=32):
        super().__init__()
        self.image_shape = check_image_shape(image_shape)
        c = self.image_shape[0]
        changed = (~mask).nonzero().flatten()
        self.num_params = out_dim // changed.numel()
        self.register_buffer("kept", mask.nonzero().flatten(), persistent=False)
        self.register_buffer("changed", changed, persistent=False)
        width = check_int("hidden_channels", hidden_channels)
        self.net = nn.Sequential(nn.Conv2d(c, width, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(width, self.num_params * c, 3, padding=1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, kept, context=None):
        lead, pixels = kept.shape[:-1], math.prod(self.image_shape)
        image = kept.new_zeros(*lead, pixels).index_copy(-1, self.kept, kept)
        out = self.net(image.reshape(-1, *self.image_shape)).reshape(-1, self.num_params, pixels)
        return out[..., self.changed].reshape(*lead, -1)


class ImageCoupling(_Coupling, Bijection):
    """A coupling layer on an image: the pixels ``mask`` keeps condition, through a
    ``ConvConditioner``, an elementwise map of the others (affine by default).

    Args:
        image_shape: ``(C, H, W)``.
        mask: ``C·H·W`` booleans, True = kept: ``checkerboard_mask`` or ``channel_mask``.
        hidden_channels: the conditioner's hidden channels.
        elementwise: the map of the changed pixels (``None``: ``Affine(log_scale_bound)``).
        log_scale_bound: the affine map's bound on each log-scale.
    """

    def __init__(self, image_shape: tuple, mask: torch.Tensor, hidden_channels: int = 32,
                 elementwise: ElementwiseMap | None = None,
                 log_scale_bound: float = LOG_SCALE_BOUND):
        self.image_shape = check_image_shape(image_shape)
        super().__init__(math.prod(self.image_shape))
        self._build(mask, elementwise, log_scale_bound, lambda kept, out_dim: ConvConditioner(
            self.image_shape, kept, out_dim, hidden_channels))

    def extra_repr(self):
        return f"image_shape={self.image_shape}, {super().extra_repr()}"


def squeezed_shape(image_shape):
    """``(4C, H/2, W/2)`` for ``(C, H, W)`` with H and W even."""
    c, h, w = check_image_shape(image_shape)
    if h % 2 or w % 2:
        raise bad_value("image_shape", image_shape, "an even height and width to squeeze")
    return 4 * c, h // 2, w // 2


class Squeeze(Permute):
    """The permutation that lays a ``(C, H, W)`` image out as ``(4C, H/2, W/2)``:
    ``squeezed[4c + 2a + b, i, j] = image[c, 2i + a, 2j + b]``.  In Pyro's direction it maps
    the squeezed layout (base side) back to the image's (data side).

    Args:
        image_shape: ``(C, H, W)`` of the image (data side), H and W even.
    """

    def __init__(self, image_shape: tuple):
        c, h, w = check_image_shape(image_shape)
        squeezed_shape(image_shape)
        position = torch.arange(c * h * w).reshape(c, h // 2, 2, w // 2, 2)
        squeezed = position.permute(0, 2, 4, 1, 3).flatten()  # image index of each squeezed entry
        super().__init__(torch.argsort(squeezed))
        self.image_shape = (c, h, w)

    def extra_repr(self):
        return f"image_shape={self.image_shape}"


class ChannelLU(Bijection):
    """Glow's invertible 1 × 1 convolution: the same ``LULinear`` ``W`` (C × C) applied to the
    channels of every pixel, ``log|det| = H W Σ_c log U_cc``.

    Args:
        image_shape: ``(C, H, W)``.
    """

    def __init__(self, image_shape: tuple):
        self.image_shape = check_image_shape(image_shape)
        super().__init__(math.prod(self.image_shape))
        self.linear = LULinear(self.image_shape[0])

    def _pixels(self, v):
        """``(..., C·H·W) -> (..., H·W, C)``: one channel vector per pixel."""
        c = self.image_shape[0]
        return v.reshape(*v.shape[:-1], c, -1).transpose(-1, -2)

    def _image(self, rows, log_det):
        return rows.transpose(-1, -2).reshape(*rows.shape[:-2], self.dim), log_det.sum(-1)

    def _forward(self, x):
        return self._image(*self.linear._run_forward(self._pixels(x)))

    def _backward(self, y):
        return self._image(*self.linear._run_backward(self._pixels(y)))

    def _log_det(self, x, y):
        pixels = self.image_shape[1] * self.image_shape[2]
        return (pixels * self.linear._diag_and_log_det()[1]).expand(x.shape[:-1])

    def extra_repr(self):
        return f"image_shape={self.image_shape}"


class Logit(Bijection):
    """``u = (σ(y) − α) / (1 − 2α)`` per coordinate, from the reals onto
    ``(−α / (1 − 2α), (1 − α) / (1 − 2α)) ⊃ [0, 1]``; inverse ``y = logit(α + (1 − 2α) u)``;
    ``log|du/dy| = Σ_d [log σ(y_d) + log σ(−y_d)] − D log(1 − 2α)``.

    Args:
        dim: the size of the vectors.
        alpha: α in [0, 1/2), keeping the logit away from 0 and 1 (RealNVP uses 0.05).
    """

    def __init__(self, dim: int, alpha: float = 0.05):
        super().__init__(dim)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha < 0.5:
            raise bad_value("alpha", alpha, "a number in [0, 0.5)")
        self.alpha = float(alpha)

    def _log_det(self, y, u=None):
        return -(F.softplus(-y) + F.softplus(y)).sum(-1) - self.dim * math.log1p(-2 * self.alpha)

    def _forward(self, y):
        return (torch.sigmoid(y) - self.alpha) / (1 - 2 * self.alpha), self._log_det(y)

    def _backward(self, u):
        s = self.alpha + (1 - 2 * self.alpha) * u
        y = torch.log(s) - torch.log1p(-s)
        return y, self._log_det(y)

    def extra_repr(self):
        return f"dim={self.dim}, alpha={self.alpha}"


def _couplings(shape, masks, steps, hidden_channels, log_scale_bound, linear):
    """``steps`` couplings on ``shape`` with alternating ``masks(shape, parity)``, each after a
    ``ChannelLU`` when ``linear`` (data-to-noise order)."""
    layers = []
    for step in range(steps):
        if linear:
            layers.append(ChannelLU(shape))
        layers.append(ImageCoupling(shape, masks(shape, step % 2), hidden_channels,
                                    log_scale_bound=log_scale_bound))
    return layers


def image_flow(image_shape: tuple, scales: int = 2, steps: int = 2, hidden_channels: int = 32,
               log_scale_bound: float = 2.0, alpha: float = 0.05, seed: int = 0) -> list:
    """RealNVP's multi-scale flow (without factoring out) over ``image_shape``, in Pyro's
    order (base to data), ending in ``Logit(alpha)`` onto dequantized pixels.

    From the data side: at each of ``scales`` scales, ``steps`` checkerboard couplings, a
    ``Squeeze``, and ``steps`` times a ``ChannelLU`` (Glow's 1 × 1 convolution) and a channel
    coupling; then ``steps`` checkerboard couplings on the last scale. Masks alternate parity.

    Args:
        image_shape: ``(C, H, W)``; H and W divisible by ``2 ** scales``.
        scales: the squeezes.
        steps: couplings per stage.
        hidden_channels: each conditioner's hidden channels.
        log_scale_bound: the couplings' bound on each log-scale (small keeps early training
            stable on images).
        alpha: the ``Logit``'s α.
        seed: seeds the layers' initial parameters.

    Returns:
        A list of ``Bijection`` layers on vectors of ``C·H·W``.
    """
    shape = check_image_shape(image_shape)
    check_int("scales", scales, minimum=0)
    check_int("steps", steps)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(check_int("seed", seed, minimum=0))
        data_to_noise = [Logit(math.prod(shape), alpha)]
        for _ in range(scales):
            data_to_noise += _couplings(shape, checkerboard_mask, steps, hidden_channels,
                                        log_scale_bound, linear=False)
            data_to_noise.append(Squeeze(shape))
            shape = squeezed_shape(shape)
            data_to_noise += _couplings(shape, channel_mask, steps, hidden_channels,
                                        log_scale_bound, linear=True)
        data_to_noise += _couplings(shape, checkerboard_mask, steps, hidden_channels,
                                    log_scale_bound, linear=False)
    return data_to_noise[::-1]

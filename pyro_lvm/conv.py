"""Convolutional encoders and decoders for images stored as flattened rows (``arch="conv"``).

A row of ``C·H·W`` numbers (row-major, as ``DataSplit`` stores images) is read as ``P``
stacked ``C × H × W`` images, ``P = in_dim / (C·H·W)``: the pixels themselves, or, for an
encoder with missing entries, the pixels followed by their observation mask. Every leading
dimension (the batch, and a particle dimension before it under the evaluators' plate) is
folded into one for the convolutions and restored after, so the networks broadcast exactly
as the MLPs they replace.

The encoder halves the height and width with each 4 × 4 convolution of stride 2 (padding 1),
then an MLP reads the flattened feature map; the decoder runs the same path backwards with
transposed convolutions, each doubling the size (``output_padding`` restores odd sizes, so
any ``H, W >= 2^depth`` comes back exactly). The likelihood's event stays the flattened row:
the decoder's ``P_out · C`` output channels, flattened, are its ``num_outputs`` in the
parameter-major layout every likelihood reads (all means, then all scales, ...).
"""

import dataclasses

from torch import nn

from .checks import check_hidden
from .errors import bad_value
from .nn import MLP


def _halved_sizes(height, width, depth):
    """The feature map's (height, width) after 0, 1, ..., ``depth`` stride-2 convolutions."""
    sizes = [(height, width)]
    for _ in range(depth):
        h, w = sizes[-1]
        sizes.append((h // 2, w // 2))
    return sizes


@dataclasses.dataclass(frozen=True)
class ConvArch:
    """The convolutional networks of an image model: ``channels[i]`` feature maps after the
    i-th stride-2 convolution of the encoder (the decoder mirrors them).

    Args:
        image_shape: ``(C, H, W)`` of one image; ``H`` and ``W`` at least ``2 ** len(channels)``.
        channels: the convolutions' output channels, e.g. ``(32, 64)``.
    """

    image_shape: tuple
    channels: tuple = (32, 64)

    def __post_init__(self):
        shape = check_hidden(self.image_shape, "image_shape", min_layers=3)
        channels = check_hidden(self.channels, "channels", min_layers=1)
        if len(shape) != 3:
            raise bad_value("image_shape", self.image_shape, "(C, H, W): three positive integers")
        smallest = 2 ** len(channels)
        if min(shape[1:]) < smallest:
            raise bad_value("image_shape", self.image_shape,
                            f"H and W of at least {smallest} for {len(channels)} stride-2 "
                            "convolutions (or fewer channels)")
        object.__setattr__(self, "image_shape", shape)
        object.__setattr__(self, "channels", channels)

    @property
    def pixels(self):
        """C·H·W, the numbers of one image."""
        c, h, w = self.image_shape
        return c * h * w

    def stacked(self, size, argument):
        """P, the images of shape ``image_shape`` that a row of ``size`` numbers holds."""
        if size % self.pixels:
            raise bad_value(argument, size, f"a multiple of C·H·W = {self.pixels} for images "
                            f"of shape {self.image_shape}")
        return size // self.pixels

    def feature_shape(self):
        """(channels[-1], h, w): the encoder's last feature map."""
        h, w = _halved_sizes(*self.image_shape[1:], len(self.channels))[-1]
        return self.channels[-1], h, w

    def encoder(self, in_dim, hidden, out_dim):
        """A network ``(..., in_dim) -> (..., out_dim)`` over ``in_dim / (C·H·W)`` stacked images."""
        return ConvEncoder(self, in_dim, hidden, out_dim)

    def decoder(self, in_dim, hidden, out_dim):
        """A network ``(..., in_dim) -> (..., out_dim)`` ending in ``out_dim / (C·H·W)`` images."""
        return ConvDecoder(self, in_dim, hidden, out_dim)


class _Images(nn.Module):
    """Folds a row's leading dimensions into one around ``body``: ``(..., in) -> (..., out)``."""

    def __init__(self, in_shape, body, out_shape):
        super().__init__()
        self.in_shape, self.body, self.out_shape = tuple(in_shape), body, tuple(out_shape)

    def forward(self, x):
        lead = x.shape[:-1]
        out = self.body(x.reshape(-1, *self.in_shape))
        return out.reshape(*lead, *self.out_shape)


class ConvEncoder(_Images):
    """``(..., P·C·H·W) -> (..., out_dim)``: stride-2 convolutions (ReLU after each), then an
    MLP of widths ``hidden`` on the flattened last feature map.

    Args:
        arch: the ``ConvArch``.
        in_dim: the numbers per row, a multiple of C·H·W.
        hidden: the MLP's hidden widths.
        out_dim: the outputs per row.
    """

    def __init__(self, arch: ConvArch, in_dim: int, hidden: tuple, out_dim: int):
        c, h, w = arch.image_shape
        widths = (arch.stacked(in_dim, "in_dim") * c, *arch.channels)
        layers = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(a, b, 4, stride=2, padding=1), nn.ReLU()]
        features = arch.feature_shape()
        layers += [nn.Flatten(), MLP(features[0] * features[1] * features[2],
                                     check_hidden(hidden), out_dim, activation="relu")]
        super().__init__((widths[0], h, w), nn.Sequential(*layers), (out_dim,))


class ConvDecoder(_Images):
    """``(..., in_dim) -> (..., P_out·C·H·W)``: an MLP to the last feature map, then
    transposed convolutions (ReLU between them) back to ``P_out·C`` channels of ``H × W``.

    Args:
        arch: the ``ConvArch``.
        in_dim: the inputs per row (the latent size).
        hidden: the MLP's hidden widths.
        out_dim: the outputs per row, a multiple of C·H·W.
    """

    def __init__(self, arch: ConvArch, in_dim: int, hidden: tuple, out_dim: int):
        c, h, w = arch.image_shape
        features = arch.feature_shape()
        sizes = _halved_sizes(h, w, len(arch.channels))[::-1]
        widths = (*arch.channels[::-1], arch.stacked(out_dim, "out_dim") * c)
        layers = [MLP(in_dim, check_hidden(hidden), features[0] * features[1] * features[2],
                      activation="relu"), nn.ReLU(), nn.Unflatten(1, features)]
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            (h_in, w_in), (h_out, w_out) = sizes[i], sizes[i + 1]
            if i:
                layers.append(nn.ReLU())
            layers.append(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1,
                                             output_padding=(h_out - 2 * h_in, w_out - 2 * w_in)))
        layers.append(nn.Flatten())
        super().__init__((in_dim,), nn.Sequential(*layers), (out_dim,))


def network(in_dim, hidden, out_dim, conv=None, decoder=False):
    """An MLP ``in_dim -> hidden -> out_dim``, or with a ``ConvArch`` its encoder (or, with
    ``decoder``, its decoder)."""
    if conv is None:
        return MLP(in_dim, hidden, out_dim)
    return (conv.decoder if decoder else conv.encoder)(in_dim, hidden, out_dim)

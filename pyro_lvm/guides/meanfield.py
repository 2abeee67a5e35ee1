"""The amortized mean-field Normal guide: the VAE's encoder."""

import pyro
import pyro.distributions as dist
from torch import nn

from ..checks import check_hidden
from ..conv import ConvArch, network
from ..nn import positive
from ..params import register
from ..plates import data_plate


class MeanFieldNormalGuide(nn.Module):
    """q_φ(z | x) = N(z | μ_φ(x), diag σ_φ(x)²), one network for every x (amortized inference).

    ``z`` is drawn with ``rsample`` (the reparametrization trick z = μ + σ ⊙ ε, ε ~ N(0, I)),
    so ``Trace_ELBO`` differentiates through the draw.

    Args:
        data_dim: the size of a row of x.
        latent_dim: the size of z.
        hidden: the encoder's hidden widths.
        conv: a ``ConvArch``: a convolutional encoder over x as an image (``None``: an MLP).
    """

    def __init__(self, data_dim: int, latent_dim: int, hidden: tuple = (256,),
                 conv: ConvArch | None = None):
        super().__init__()
        self.data_dim = data_dim
        self.latent_dim = latent_dim
        self.net = network(data_dim, check_hidden(hidden), 2 * latent_dim, conv)

    def encode(self, x):
        """The posterior parameters (μ_φ(x), σ_φ(x)), each of shape ``(batch, latent_dim)``."""
        loc, raw_scale = self.net(x).chunk(2, dim=-1)
        return loc, positive(raw_scale)

    def distribution(self, x):
        """q_φ(z | x) as a distribution with event shape ``(latent_dim,)``."""
        loc, scale = self.encode(x)
        return dist.Normal(loc, scale, validate_args=False).to_event(1)

    def forward(self, x, indices=None, num_data=None):
        register(self)
        with data_plate(x, indices, num_data):
            return {"z": pyro.sample("z", self.distribution(x))}

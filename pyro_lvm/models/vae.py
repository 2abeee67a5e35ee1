"""The variational autoencoder as a Pyro model/guide pair."""

from collections.abc import Callable

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from ..errors import bad_type
from ..guides import make_guide
from ..likelihoods import make_likelihood
from ..checks import check_hidden, check_int
from ..nn import MLP
from ..params import register
from ..plates import data_plate


class VAE(nn.Module):
    """p(x, z) = p(z) p_θ(x | z) with p(z) = N(0, I) and a neural decoder; q_φ(z | x) the guide.

    ``model(x)`` is the prior and the decoder likelihood inside the ``"data"`` plate (sites
    ``"z"`` and ``"x"``); ``guide`` is any module that follows the model/guide contract, or the
    name of a built-in amortized guide with the decoder's hidden sizes: ``"meanfield"`` (the
    default, ``MeanFieldNormalGuide``), ``"fullrank"`` or
    ``"flow:SPEC"`` (``FlowGuide``).

    Args:
        data_dim: D, the size of a row of x.
        latent_dim: the size of z.
        hidden: the decoder's (and the built-in guide's) hidden widths.
        likelihood: ``"bernoulli"`` or ``"gaussian"``.
        scale: a fixed Gaussian scale (``None``: learned per feature).
        guide: a guide module or the name of a built-in one.
    """

    max_plate_nesting = 1  # the data plate

    def __init__(self, data_dim: int, latent_dim: int = 16, hidden: tuple = (256,),
                 likelihood: str = "bernoulli", scale: float | None = None,
                 guide: str | Callable = "meanfield"):
        super().__init__()
        self.data_dim = check_int("data_dim", data_dim)
        self.latent_dim = check_int("latent_dim", latent_dim)
        self.hidden = check_hidden(hidden)
        self.likelihood_name = likelihood
        self.likelihood = make_likelihood(likelihood, data_dim, scale)
        self.decoder = MLP(latent_dim, self.hidden, self.likelihood.num_outputs)
        guide_name = guide if isinstance(guide, str) else None
        if guide_name is not None:
            guide = make_guide(guide_name, data_dim, latent_dim, self.hidden)
        elif not callable(guide):
            raise bad_type("guide", guide, "a callable guide(x, indices=None, num_data=None)")
        self.guide = guide
        self.register_buffer("prior_loc", torch.zeros(latent_dim))
        self.register_buffer("prior_scale", torch.ones(latent_dim))
        self.config = {"data_dim": data_dim, "latent_dim": latent_dim, "hidden": list(self.hidden),
                       "likelihood": likelihood, "scale": scale, "guide": guide_name}

    def prior(self):
        """p(z) = N(0, I) with event shape ``(latent_dim,)``."""
        return dist.Normal(self.prior_loc, self.prior_scale, validate_args=False).to_event(1)

    def decode(self, z):
        """p_θ(x | z) as a distribution with event shape ``(data_dim,)``."""
        return self.likelihood(self.decoder(z))

    def model(self, x, indices=None, num_data=None):
        register(self, skip=("guide",))
        with data_plate(x, indices, num_data):
            z = pyro.sample("z", self.prior())
            return pyro.sample("x", self.decode(z), obs=x)

    @torch.no_grad()
    def generate(self, num_samples):
        """Means E[x | z] of the decoder at ``num_samples`` prior draws z ~ p(z)."""
        z = self.prior().sample((check_int("num_samples", num_samples),))
        return self.likelihood.mean(self.decoder(z))

    @torch.no_grad()
    def reconstruct(self, x):
        """E[x | z] at one draw z ~ q(z | x) per row of ``x``."""
        z = pyro.poutine.trace(self.guide).get_trace(x).nodes["z"]["value"]
        return self.likelihood.mean(self.decoder(z))

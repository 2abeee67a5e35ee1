"""The variational autoencoder as a Pyro model/guide pair."""

from collections.abc import Callable

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from ..errors import bad_type, bad_value
from ..guides import EncoderInputs, InputsGuide, make_guide
from ..likelihoods import make_likelihood
from ..checks import check_hidden, check_int
from ..conv import ConvArch, network
from ..params import register
from .priors import FlowPrior, VampPrior, parse_prior
from ..plates import data_plate


class VAE(nn.Module):
    """p(x, z) = p(z) p_θ(x | z) with p(z) = N(0, I) (or a VampPrior) and a neural decoder;
    q_φ(z | x) the guide.

    ``model(x)`` is the prior and the decoder likelihood inside the ``"data"`` plate (sites
    ``"z"`` and ``"x"``); ``guide`` is any module that follows the model/guide contract, or the
    name of a built-in amortized guide with the decoder's hidden sizes: ``"meanfield"`` (the
    default, ``MeanFieldNormalGuide``), ``"fullrank"`` or
    ``"flow:SPEC"`` (``FlowGuide``).  A built-in guide sees ``inputs(x)``
    (``EncoderInputs``: the likelihood's features, and with ``missing`` the observation mask);
    a guide of your own receives x as it is and may call ``vae.inputs`` itself.

    With ``missing=True`` a NaN in x is a missing entry: the likelihood is masked to the
    observed entries, so the ELBO and the evaluators' log p(x) are those of x_obs.

    Args:
        data_dim: D, the size of a row of x.
        latent_dim: the size of z.
        hidden: the decoder's (and the built-in guide's) hidden widths.
        likelihood: a name in ``LIKELIHOODS`` (``"bernoulli"``, ``"gaussian"``,
            ``"negbinom"``, ...) or a table's schema (a list of ``Column``, or of their dicts).
        scale: a fixed Gaussian scale (``None``: learned per feature).
        guide: a guide module or the name of a built-in one.
        missing: NaN entries of x are missing values.
        prior: ``"standard"`` (N(0, I)); ``"vamp:K"``: the VampPrior, the mixture of the
            guide's q(z | u_k) at K learned pseudo-inputs (``priors.VampPrior``; a guide with
            ``distribution(x)``: the built-in Normal ones); or ``"flow:SPEC"``: N(0, I) pushed
            through the flow SPEC (``priors.FlowPrior``, e.g. ``"flow:maf*2"``).
        arch: ``"mlp"`` (fully connected networks) or ``"conv"``: a convolutional encoder for
            the built-in guide and a transposed-convolutional decoder (``conv.ConvArch``), which
            read a row as an image of ``image_shape``; the likelihood's event stays the
            flattened row, so every estimator, mask and picture works unchanged.
        image_shape: ``(C, H, W)`` with ``C·H·W = data_dim``, for ``arch="conv"``.
        channels: the convolutions' channels, for ``arch="conv"``.
    """

    max_plate_nesting = 1  # the data plate

    def __init__(self, data_dim: int, latent_dim: int = 16, hidden: tuple = (256,),
                 likelihood: str = "bernoulli", scale: float | None = None,
                 guide: str | Callable = "meanfield", missing: bool = False,
                 prior: str = "standard", arch: str = "mlp", image_shape: tuple | None = None,
                 channels: tuple = (32, 64)):
        super().__init__()
        self.data_dim = check_int("data_dim", data_dim)
        self.latent_dim = check_int("latent_dim", latent_dim)
        self.hidden = check_hidden(hidden)
        self.likelihood = make_likelihood(likelihood, data_dim, scale)
        if not isinstance(missing, bool):
            raise bad_type("missing", missing, "True or False")
        self.missing = missing
        self.inputs = EncoderInputs(self.likelihood, missing)
        conv = _conv_arch(arch, image_shape, channels, data_dim, self.schema)
        self.decoder = network(latent_dim, self.hidden, self.likelihood.num_outputs, conv,
                               decoder=True)
        guide_name = guide if isinstance(guide, str) else None
        if guide_name is not None:
            guide = make_guide(guide_name, self.inputs.num_features, latent_dim, self.hidden,
                               conv)
            if not self.inputs.identity:
                guide = InputsGuide(self.inputs, guide)
        elif not callable(guide):
            raise bad_type("guide", guide, "a callable guide(x, indices=None, num_data=None)")
        self.guide = guide
        self.register_buffer("prior_loc", torch.zeros(latent_dim))
        self.register_buffer("prior_scale", torch.ones(latent_dim))
        kind, argument = parse_prior(prior)
        if kind == "flow":
            self.flow_prior = FlowPrior(argument, latent_dim)
        if kind == "vamp":
            if not hasattr(guide, "distribution") or guide_name not in (None, "meanfield",
                                                                          "fullrank"):
                raise bad_value("prior", prior, "a guide with Normal distribution(x) for a "
                                "VampPrior ('meanfield', 'fullrank' or a guide of your own "
                                "with that method)")
            self.vamp = VampPrior(argument, data_dim)
        self.config = {"data_dim": data_dim, "latent_dim": latent_dim, "hidden": list(self.hidden),
                       "likelihood": likelihood if isinstance(likelihood, str) else
                       [column.to_config() for column in self.likelihood.schema],
                       "scale": scale, "guide": guide_name, "missing": missing, "prior": prior,
                       "arch": arch, "image_shape": None if conv is None else list(conv.image_shape),
                       "channels": list(channels)}

    @property
    def schema(self):
        """A table's columns (a list of ``Column``) when the likelihood is a table's, else
        ``None``."""
        return getattr(self.likelihood, "schema", None)

    def prior(self):
        """p(z) with event shape ``(latent_dim,)``: N(0, I), the VampPrior's mixture or the flow."""
        if hasattr(self, "vamp"):
            return self.vamp.distribution(self.guide)
        if hasattr(self, "flow_prior"):
            return self.flow_prior.distribution()
        return dist.Normal(self.prior_loc, self.prior_scale, validate_args=False).to_event(1)

    def decode(self, z, mask=None):
        """p_θ(x | z) as a distribution with event shape ``(data_dim,)``, left out where
        ``mask`` is False."""
        return self.likelihood(self.decoder(z), mask)

    def model(self, x, indices=None, num_data=None):
        register(self, skip=("guide",))
        mask = ~torch.isnan(x) if self.missing else None  # the observed entries
        with data_plate(x, indices, num_data):
            z = pyro.sample("z", self.prior())
            return pyro.sample("x", self.decode(z, mask), obs=x)

    @torch.no_grad()
    def generate(self, num_samples, means=False):
        """``num_samples`` draws x ~ p(x | z) at prior draws z ~ p(z): samples of the model's
        p(x), like the data; with ``means``, the decoder means E[x | z] instead."""
        z = self.prior().sample((check_int("num_samples", num_samples),))
        out = self.decoder(z)
        return self.likelihood.mean(out) if means else self.likelihood(out).sample()

    @torch.no_grad()
    def reconstruct(self, x):
        """E[x | z] at one draw z ~ q(z | x) per row of ``x``."""
        z = pyro.poutine.trace(self.guide).get_trace(x).nodes["z"]["value"]
        return self.likelihood.mean(self.decoder(z))


def _conv_arch(arch, image_shape, channels, data_dim, schema):
    """The ``ConvArch`` of ``arch="conv"`` (``None`` for ``"mlp"``), checked against the rows."""
    if arch not in ("mlp", "conv"):
        raise bad_value("arch", arch, "'mlp' or 'conv'")
    if arch == "mlp":
        return None
    if image_shape is None:
        raise bad_value("image_shape", None, "(C, H, W) of the images, for arch='conv'")
    if schema is not None:
        raise bad_value("arch", arch, "'mlp' for a table (its columns are not an image's pixels)")
    conv = ConvArch(tuple(image_shape), tuple(channels))
    if conv.pixels != data_dim:
        raise bad_value("image_shape", image_shape, f"C·H·W = data_dim = {data_dim}")
    return conv

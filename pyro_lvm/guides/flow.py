"""The amortized flow guide: an encoder's Normal pushed through conditional flows."""

import pyro
import pyro.distributions as dist
from torch import nn

from ..checks import check_hidden
from ..flows import build_flow
from ..flows.distribution import FlowDistribution
from ..flows.foreign import check_layers, ready
from ..conv import ConvArch, network
from ..nn import positive
from ..params import register
from ..plates import data_plate


class FlowGuide(nn.Module):
    """q_φ(z | x): z₀ ~ N(μ_φ(x), diag σ_φ(x)²), then z = g_K(… g_1(z₀; h) …; h)
    (Kingma et al., 2016, "inverse autoregressive flow").

    The encoder outputs μ, σ and a context vector h = h_φ(x) of size ``context_dim``, which
    every conditional layer of ``spec`` reads (``iaf``, ``maf``, ``coupling``; ``lu``, ``qr`` and
    permutations are shared by all x).  log q(z | x) = log N(z₀) − Σ_k log|det ∂g_k/∂z_{k−1}|.
    IAF layers sample in one pass and their log-det comes with the draw, which is all the
    ELBO needs; ``maf`` layers would sample in D passes. The draw and its log-density come
    from one pass per layer (``flows.distribution.FlowDistribution``).

    ``spec`` may also be a list of layers from other libraries (``flows.foreign``: torch or
    Pyro transforms, Pyro conditional transforms and zuko lazy transforms, which get h as
    their context).

    Args:
        data_dim: the size of a row of x.
        latent_dim: the size of z.
        spec: the flow layers (``build_flow``'s language), conditioned on h; or a list of
            layers on vectors of size ``latent_dim``.
        hidden: the encoder's hidden widths.
        context_dim: the size of h.
        flow_hidden: hidden widths of each conditional layer's network.
        seed: seeds the flow layers' initial parameters.
        conv: a ``ConvArch``: a convolutional encoder over x as an image (``None``: an MLP).

    References:
        Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling (2016), Improved variational
        inference with inverse autoregressive flow.
    """

    def __init__(self, data_dim: int, latent_dim: int, spec: str | list = "iaf*2",
                 hidden: tuple = (256,), context_dim: int = 32, flow_hidden: tuple = (64, 64),
                 seed: int = 0, conv: ConvArch | None = None):
        super().__init__()
        self.data_dim, self.latent_dim, self.context_dim = data_dim, latent_dim, context_dim
        self.net = network(data_dim, check_hidden(hidden), 2 * latent_dim + context_dim, conv)
        layers = (build_flow(spec, latent_dim, hidden=tuple(flow_hidden), context_dim=context_dim, seed=seed)
                  if isinstance(spec, str) else spec)
        self.transforms = nn.ModuleList(check_layers(layers, latent_dim, context_dim, argument="spec"))

    def distribution(self, x):
        """q_φ(z | x) as a ``FlowDistribution`` (a ``TransformedDistribution``) with event shape
        ``(latent_dim,)``."""
        k = self.latent_dim
        out = self.net(x)
        loc, raw_scale, context = out[..., :k], out[..., k:2 * k], out[..., 2 * k:]
        base = dist.Normal(loc, positive(raw_scale), validate_args=False).to_event(1)
        return FlowDistribution(base, [ready(t, context) for t in self.transforms], validate_args=False)

    def forward(self, x, indices=None, num_data=None):
        register(self)
        with data_plate(x, indices, num_data):
            return {"z": pyro.sample("z", self.distribution(x))}

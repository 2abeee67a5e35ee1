"""Priors p(z) of the VAE besides N(0, I): the VampPrior and the flow prior.

The VampPrior (Tomczak & Welling, 2018) is the mixture of the encoder's posteriors at K learned
pseudo-inputs u_1..u_K,

    p_λ(z) = (1/K) Σ_k q_φ(z | u_k),

the approximation of the aggregate posterior (1/N) Σ_i q_φ(z | x_i) that the ELBO's optimal
prior would be.  The pseudo-inputs are trained with everything else; the prior's log-density
is a ``logsumexp`` over the K components.

The flow prior pushes N(0, I) through flow layers (``build_flow``'s language, e.g.
``"flow:maf*2"``): ``log p(z) = log N(f(z); 0, I) + log|det ∂f/∂z|`` with ``f`` the layers'
inverse, exact and normalized. Its layers start at the identity, so a new flow prior is N(0, I).

Every evaluator uses ``VAE.prior()`` as the model's p(z): importance sampling needs log p(z)
only.
"""

import pyro.distributions as dist
import torch
from torch import nn

from ..checks import MAX_WIDTH, check_size
from ..errors import bad_value
from ..flows.density import FlowDensity
from ..flows.spec import build_flow, parse_spec

#: How a prior is named: the standard Normal, a VampPrior of K pseudo-inputs, a flow.
PRIORS = ("standard", "vamp:K", "flow:SPEC")
#: Hidden widths of each flow-prior layer's network.
FLOW_PRIOR_HIDDEN = (64, 64)


def parse_prior(prior):
    """``("standard", None)``, ``("vamp", K)`` or ``("flow", spec)``; anything else is an error."""
    if prior == "standard":
        return "standard", None
    if isinstance(prior, str) and prior.startswith("vamp:"):
        try:
            components = int(prior[len("vamp:"):])
        except ValueError:
            components = 0
        if components >= 1:
            return "vamp", check_size("prior", components, MAX_WIDTH)
    if isinstance(prior, str) and prior.startswith("flow:"):
        spec = prior[len("flow:"):]
        try:
            parse_spec(spec)
        except ValueError as error:
            raise bad_value("prior", prior, f"flow:SPEC with a flow spec ({error})") from None
        return "flow", spec
    raise bad_value("prior", prior, f"one of {list(PRIORS)} (K >= 1 pseudo-inputs; SPEC as for --flow)")


class VampPrior(nn.Module):
    """K pseudo-inputs of D features (``pseudo_inputs``, initialized near 0.5, the middle of
    [0, 1] data) and the mixture of a guide's q(z | u_k) at them.

    Args:
        components: K.
        data_dim: D, the guide's input size.
    """

    def __init__(self, components: int, data_dim: int):
        super().__init__()
        self.pseudo_inputs = nn.Parameter(0.5 + 0.01 * torch.randn(components, data_dim))

    def distribution(self, guide):
        """p(z) = (1/K) Σ_k q(z | u_k) for ``guide`` (its ``distribution(x)``)."""
        components = guide.distribution(self.pseudo_inputs)
        weights = dist.Categorical(logits=self.pseudo_inputs.new_zeros(components.batch_shape))
        return dist.MixtureSameFamily(weights, components, validate_args=False)


class FlowPrior(nn.Module):
    """p(z): N(0, I_latent) pushed through the flow ``spec`` (a ``FlowDensity`` of z).

    Args:
        spec: flow layers in ``build_flow``'s language, e.g. ``"maf*2"``.
        latent_dim: the size of z.
        hidden: hidden widths of each layer's network.
    """

    def __init__(self, spec: str, latent_dim: int, hidden: tuple = FLOW_PRIOR_HIDDEN):
        super().__init__()
        self.flow = FlowDensity(latent_dim, build_flow(spec, latent_dim, hidden=tuple(hidden)))

    def distribution(self):
        """p(z) as a ``FlowDistribution`` (exact ``log_prob``, reparametrized draws)."""
        return self.flow.distribution()

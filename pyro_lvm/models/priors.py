"""Priors p(z) of the VAE besides N(0, I): the VampPrior.

The VampPrior (Tomczak & Welling, 2018) is the mixture of the encoder's posteriors at K learned
pseudo-inputs u_1..u_K,

    p_λ(z) = (1/K) Σ_k q_φ(z | u_k),

the approximation of the aggregate posterior (1/N) Σ_i q_φ(z | x_i) that the ELBO's optimal
prior would be.  The pseudo-inputs are trained with everything else; the prior's log-density
is a ``logsumexp`` over the K components, and every evaluator uses it as the model's p(z).
"""

import pyro.distributions as dist
import torch
from torch import nn

from ..checks import MAX_WIDTH, check_size
from ..errors import bad_value

#: How a prior is named: the standard Normal, or a VampPrior of K pseudo-inputs.
PRIORS = ("standard", "vamp:K")


def vamp_components(prior):
    """K of ``"vamp:K"``, ``None`` for ``"standard"``; anything else is an error."""
    if prior == "standard":
        return None
    if isinstance(prior, str) and prior.startswith("vamp:"):
        try:
            components = int(prior[len("vamp:"):])
        except ValueError:
            components = 0
        if components >= 1:
            return check_size("prior", components, MAX_WIDTH)
    raise bad_value("prior", prior, f"one of {list(PRIORS)} (K >= 1 pseudo-inputs)")


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

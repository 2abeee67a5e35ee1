"""How noisy is the ELBO gradient?  The reparametrization trick against the score function.

For ℒ(φ) = E_{q_φ(z)}[f(z)] with f(z) = log p(x, z) − log q_φ(z | x), two unbiased one-sample
estimators of ∇_φ ℒ exist:

- reparametrized (pathwise), z = g_φ(ε), ε ~ p(ε):  ∇_φ f(g_φ(ε))      (``Trace_ELBO``, rsample)
- score function (REINFORCE), z ~ q_φ:             f(z) ∇_φ log q_φ(z | x)   (``TraceGraph_ELBO``
  on the same guide with its draws cut from the graph; Pyro keeps for each site only the cost
  terms downstream of it, Rao-Blackwellized over the ``"data"`` plate).

``gradient_variance`` draws many of either estimate and reports their mean and variance.
"""

from collections.abc import Callable, Iterable
from typing import NamedTuple

import torch
from pyro.distributions import TorchDistribution
from pyro.infer import Trace_ELBO, TraceGraph_ELBO
from pyro.poutine.messenger import Messenger
from pyro.poutine.util import site_is_subsample

from ..checks import check_int
from ..errors import bad_type, bad_value

ESTIMATORS = ("reparam", "score")


class GradientStats(NamedTuple):
    """``mean`` and per-coordinate ``variance`` of ``num_estimates`` one-sample gradients
    (flattened over the parameters, in their order)."""

    mean: torch.Tensor
    variance: torch.Tensor
    num_estimates: int

    @property
    def total_variance(self):
        """Σ_j Var[ĝ_j]: the trace of the estimator's covariance."""
        return float(self.variance.sum())

    @property
    def standard_error(self):
        """The Monte Carlo standard error of each coordinate of ``mean``."""
        return (self.variance / self.num_estimates).sqrt()


class NoRsample(TorchDistribution):
    """``base`` with ``has_rsample = False``: same draws and log-density, no pathwise gradient.

    Pyro then scores the site with the score function ∇ log q(z) instead of differentiating
    through z.  (``Distribution.has_rsample_(False)`` does the same but fails on ``Independent``.)
    """

    has_rsample = False

    def __init__(self, base):
        self.base = base
        super().__init__(base.batch_shape, base.event_shape, validate_args=False)

    @property
    def support(self):
        return self.base.support

    def sample(self, sample_shape=torch.Size()):
        return self.base.sample(sample_shape)

    def log_prob(self, value):
        return self.base.log_prob(value)


class _ScoreFunctionSites(Messenger):
    """Wrap every latent site's distribution in ``NoRsample``."""

    def _pyro_sample(self, msg):
        if not (msg["is_observed"] or site_is_subsample(msg)):
            msg["fn"] = NoRsample(msg["fn"])


def score_function_guide(guide):
    """``guide`` with every draw made without ``rsample``: the score-function version of it."""
    return _ScoreFunctionSites()(guide)


def _flat_gradient(estimator, model, guide, x, parameters):
    """One estimate of ∇_φ ELBO(x), flattened; the ``.grad`` of ``parameters`` is left unset."""
    if estimator == "reparam":
        loss = Trace_ELBO().differentiable_loss(model, guide, x)
        grads = torch.autograd.grad(loss, parameters, allow_unused=True)
    else:
        for p in parameters:
            p.grad = None
        TraceGraph_ELBO().loss_and_grads(
            model, score_function_guide(guide), x)  # back-propagates the surrogate into .grad
        grads = [p.grad for p in parameters]
        for p in parameters:
            p.grad = None
    # d(ELBO) = −d(loss); a parameter the loss does not reach has gradient 0.
    return -torch.cat([torch.zeros_like(p).flatten() if g is None else g.flatten()
                       for p, g in zip(parameters, grads)])


def gradient_variance(model: Callable, guide: Callable, x: torch.Tensor,
                      estimator: str = "reparam", num_estimates: int = 500,
                      parameters: Iterable[torch.Tensor] | None = None) -> GradientStats:
    """Mean and variance of ``num_estimates`` one-sample estimates of ∇_φ ELBO(x).

    ``estimator="reparam"`` differentiates ``Trace_ELBO`` through the guide's ``rsample``;
    ``"score"`` runs ``TraceGraph_ELBO`` on ``score_function_guide`` of the same guide.
    ``parameters`` (default: ``guide.parameters()``) are the φ to differentiate with respect to;
    ``x`` is passed to ``model`` and ``guide`` as the whole data set.  Seed the global RNG first
    (``pyro_lvm.set_seed``) for reproducible numbers.

    Args:
        model: a contract-following model.
        guide: its guide, a module (or pass ``parameters``).
        x: the data set.
        estimator: ``"reparam"`` or ``"score"``.
        num_estimates: independent one-sample estimates (at least 2).
        parameters: the φ (default: ``guide.parameters()``).

    Returns:
        ``GradientStats(mean, variance, num_estimates)``, each of the first two flattened over
            every parameter.

    References:
        Kingma & Welling (2014), Auto-encoding variational Bayes (the reparametrization trick);
        Williams (1992) for the score-function estimator.
    """
    if estimator not in ESTIMATORS:
        raise bad_value("estimator", estimator, f"one of {list(ESTIMATORS)}")
    num_estimates = check_int("num_estimates", num_estimates, 2)
    if parameters is None:
        if not isinstance(guide, torch.nn.Module):
            raise bad_type("guide", guide, "a torch.nn.Module, or pass `parameters`")
        parameters = guide.parameters()
    parameters = [p for p in parameters if p.requires_grad]
    if not parameters:
        raise bad_value("parameters", parameters, "at least one tensor with requires_grad=True")
    draws = torch.stack([_flat_gradient(estimator, model, guide, x, parameters)
                         for _ in range(num_estimates)])
    return GradientStats(draws.mean(0), draws.var(0), num_estimates)

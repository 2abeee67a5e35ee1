"""The inference gap and its two parts (Cremer, Li & Duvenaud, 2018).

For an amortized guide q_φ(z | x) and the best guide of the same family fitted to each x on its
own, q*(z | x):

    log p(x) − ELBO[q_φ] = (log p(x) − ELBO[q*])  +  (ELBO[q*] − ELBO[q_φ])
                            approximation gap          amortization gap

The approximation gap is what the family cannot express; the amortization gap is what the
encoder loses by sharing one network among all datapoints.  q* is a
``LocalNormalGuide`` started at the encoder's output and optimized with
the model held fixed.
"""

from collections.abc import Callable

import pyro
import pyro.distributions as dist
import torch

from ..errors import bad_type
from ..guides.local import LocalNormalGuide
from ..progress import Progress
from .evaluation import evaluate_per_datapoint
from .objectives import make_elbo


def fit_local_guide(model, guide, x, steps=300, learning_rate=1e-2, num_particles=8,
                    quiet=None):
    """q*: a ``LocalNormalGuide`` of ``guide``'s family (diagonal or full covariance),
    started at ``guide.distribution(x)`` and fitted to ``x`` by Adam on the ELBO, with a step
    size decaying linearly to zero; only its own parameters move."""
    if not hasattr(guide, "distribution"):
        raise bad_type("guide", guide, "an amortized Normal guide with a distribution(x) method")
    with torch.no_grad():
        q = guide.distribution(x)
    normal = isinstance(q, dist.MultivariateNormal) or (
        isinstance(q, dist.Independent) and isinstance(q.base_dist, dist.Normal))
    if not normal:
        raise bad_type("guide", guide, "a guide of a Normal family (meanfield or fullrank): the "
                       "local guide that measures the approximation gap is of its family")
    local = LocalNormalGuide(x.shape[0], q.event_shape[0],
                             full_rank=isinstance(q, dist.MultivariateNormal)).to(x.device)
    local.initialize_from(guide, x)
    optimizer = torch.optim.Adam(local.parameters(), lr=learning_rate)
    # A linearly decaying step size lets the noisy gradient steps settle at the optimum.
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 1.0 - t / steps)
    elbo = make_elbo("trace", num_particles)
    progress = Progress(steps, "local guide", quiet, every=max(1, steps // 10))
    for step in range(steps):
        with pyro.validation_enabled(step == 0):
            loss = elbo.differentiable_loss(model, local, x)
        optimizer.zero_grad(set_to_none=True)
        grads = torch.autograd.grad(loss, list(local.parameters()))
        for parameter, grad in zip(local.parameters(), grads):
            parameter.grad = grad
        optimizer.step()
        schedule.step()
        progress.update("Adam steps")
    progress.close()
    return local


def inference_gaps(model: Callable, guide: torch.nn.Module, x: torch.Tensor,
                   num_samples: int = 1000, steps: int = 300, learning_rate: float = 1e-2,
                   log_px: torch.Tensor | None = None,
                   quiet: bool | None = None) -> dict[str, torch.Tensor]:
    """Per-row ``log_px``, ``elbo_amortized``, ``elbo_local``, ``approximation_gap`` and
    ``amortization_gap`` (nats), their sum being ``log_px − elbo_amortized``.

    ``log_px`` defaults to the importance-sampled estimate with the fitted local guide as
    proposal, the closer of the two guides to the posterior.  A diagonal Gaussian fitted by
    reverse KL is narrower than a correlated posterior and so a poor proposal: pass an exact or
    better ``log_px`` (per row) when there is one.

    Args:
        model: a contract-following model, held fixed.
        guide: an amortized Normal guide with ``distribution(x)`` (meanfield or fullrank).
        x: the rows, shape ``(n, *event_shape)``.
        num_samples: importance draws per row.
        steps: Adam steps of the local guide, with a step size decaying linearly to zero.
        learning_rate: its first step size.
        log_px: an exact or better log p(x) per row, shape ``(n,)``.
        quiet: hide the progress bar.

    Returns:
        A dict of tensors of shape ``(n,)``, in nats.

    References:
        Cremer, Li & Duvenaud (2018), Inference suboptimality in variational autoencoders.
    """
    local = fit_local_guide(model, guide, x, steps, learning_rate, quiet=quiet)
    amortized = evaluate_per_datapoint(model, guide, x, num_samples)
    fitted = evaluate_per_datapoint(model, local, x, num_samples)
    if log_px is None:
        log_px = fitted["log_px"]
    return {"log_px": log_px, "elbo_amortized": amortized["elbo"], "elbo_local": fitted["elbo"],
            "approximation_gap": log_px - fitted["elbo"],
            "amortization_gap": fitted["elbo"] - amortized["elbo"]}

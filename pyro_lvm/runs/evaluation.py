"""The end-of-run evaluation: the numbers a run reports on its test set."""

import torch

from ..infer import bits_per_dim, evaluate_per_datapoint, naive_log_likelihood, summarize
from ..infer.traces import exact_likelihood


def evaluate(lvm, dataset, num_samples):
    """The test set's log p(x) (nats per example) as the model allows it, with bits/dim.

    A model with a closed form (``log_marginal``: PPCA, the mixture, a flow) reports the exact
    log p(x). Where the ELBO itself is log p(x) (no latent in the guide: a flow, or a mixture
    whose components are summed out), that is all there is to report; otherwise the ELBO, the
    importance-sampled log p(x) with ``num_samples`` draws, their gap and the naive estimate
    with z ~ p(z) come beside it.
    """
    lvm.eval()
    test = dataset.test
    metrics = {"num_test": test.shape[0]}
    if hasattr(lvm, "log_marginal"):
        with torch.no_grad():
            exact = lvm.log_marginal(test)
        metrics.update(exact_log_px=float(exact.mean()),
                       bits_per_dim=float(bits_per_dim(exact, dataset.dim).mean()))
        if exact_likelihood(lvm.model, lvm.guide, test[:2], "enum"):
            return _named(metrics)
    per_row = evaluate_per_datapoint(lvm.model, lvm.guide, test, num_samples)
    naive = naive_log_likelihood(lvm.model, test, num_samples)
    metrics = {**summarize(per_row, dataset.dim), **metrics}
    metrics.update(naive_log_px=float(naive.mean()), num_samples=num_samples)
    return _named(metrics)


def _named(metrics):
    return {f"test_{name}" if "elbo" in name or "log_px" in name else name: value
            for name, value in metrics.items()}

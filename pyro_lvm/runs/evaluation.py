"""The end-of-run evaluation: the numbers a run reports on its test set."""

import torch

from ..infer import evaluate_per_datapoint, naive_log_likelihood, summarize

def evaluate(lvm, dataset, num_samples):
    """Test-set ELBO, importance-sampled and naive log p(x), gap and bits/dim (nats/example)."""
    lvm.eval()
    per_row = evaluate_per_datapoint(lvm.model, lvm.guide, dataset.test, num_samples)
    metrics = summarize(per_row, dataset.dim)
    naive = naive_log_likelihood(lvm.model, dataset.test, num_samples)
    metrics.update(naive_log_px=float(naive.mean()), num_samples=num_samples,
                   num_test=dataset.test.shape[0])
    if hasattr(lvm, "log_marginal"):  # a closed form exists (PPCA, mixture, flow)
        with torch.no_grad():
            metrics["exact_log_px"] = float(lvm.log_marginal(dataset.test).mean())
    return {f"test_{name}" if "elbo" in name or "log_px" in name else name: value
            for name, value in metrics.items()}

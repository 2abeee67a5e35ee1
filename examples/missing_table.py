"""A table with holes: a VAE with a likelihood per column, trained on the incomplete rows,
fills them in.

Builds a mixed table from scikit-learn's breast-cancer data (30 real measurements, and the
diagnosis as a text column), removes a fraction of the cells completely at random, trains a
``VAE(missing=True)`` on the incomplete rows, and imputes them with ``impute``. Prints the
inferred schema, the RMSE of the imputed real cells (in standardized units) against the
column means, and the accuracy of the imputed diagnoses against the most frequent level.

    python examples/missing_table.py [--fast] [--fraction 0.3] [--seed 0]
"""

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer

from pyro_lvm import VAE, TrainConfig, Trainer, decode_table, impute, load_table
from pyro_lvm.data import describe_schema
from pyro_lvm.runtime import set_seed


def holed_table(fraction, seed):
    """(complete table, the same table with ``fraction`` of its cells removed)."""
    data = load_breast_cancer()
    frame = pd.DataFrame(data.data, columns=[f"f{j}" for j in range(data.data.shape[1])])
    frame["diagnosis"] = np.asarray(data.target_names)[data.target]
    rng = np.random.default_rng(seed)
    holes = rng.random(frame.shape) < fraction
    holes[np.arange(len(frame)), rng.integers(0, frame.shape[1], len(frame))] = False
    return frame, frame.mask(holes)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny settings: a smoke test, not the documented figures")
    parser.add_argument("--fraction", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    epochs, samples = (20, 50) if args.fast else (300, 1000)
    complete, holed = holed_table(args.fraction, args.seed)
    dataset = load_table(holed, missing=True, test_fraction=0.0)
    print("\n".join(["  ...", *describe_schema(dataset.schema)[-2:]]))
    set_seed(args.seed)
    vae = VAE(dataset.dim, latent_dim=8, hidden=(128, 128), likelihood=list(dataset.schema),
              missing=True)
    start = time.perf_counter()
    Trainer(vae, TrainConfig(epochs=epochs, batch_size=64, learning_rate=3e-3, seed=args.seed),
            device="cpu").fit(dataset.train, quiet=True)
    seconds = time.perf_counter() - start
    imputed = decode_table(impute(vae, dataset.train, num_samples=samples).numpy(),
                           dataset.schema)

    real = complete.columns[:-1]
    missing = holed[real].isna().to_numpy()
    scale = complete[real].std(ddof=0).to_numpy()
    means = holed[real].mean().to_numpy()
    error = ((imputed[real].to_numpy() - complete[real].to_numpy()) / scale)[missing]
    baseline = ((means - complete[real].to_numpy()) / scale)[missing]
    gone = holed["diagnosis"].isna().to_numpy()
    right = (imputed["diagnosis"][gone] == complete["diagnosis"][gone]).mean()
    mode = (complete["diagnosis"][gone] == holed["diagnosis"].mode()[0]).mean()
    print(f"{int(missing.sum() + gone.sum())} of {complete.size} cells missing; "
          f"{epochs} epochs in {seconds:.1f} s")
    print(f"{'RMSE, real cells, VAE':34s} {np.sqrt(np.mean(error ** 2)):.3f} sd")
    print(f"{'RMSE, real cells, column means':34s} {np.sqrt(np.mean(baseline ** 2)):.3f} sd")
    print(f"{'accuracy, diagnosis, VAE':34s} {right:.3f}")
    print(f"{'accuracy, diagnosis, the mode':34s} {mode:.3f}")


if __name__ == "__main__":
    main()

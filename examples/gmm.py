"""A Gaussian mixture fitted by SVI with z enumerated, next to scikit-learn's EM.

Draws the toy density ``clusters`` (three anisotropic Gaussians in 2-D), starts
``GaussianMixture`` from k-means++ and Lloyd steps, maximizes log p(x) with ``TraceEnum_ELBO``
(the sum over z is exact, the guide is empty), and prints the mean log-likelihood of both fits
and the agreement of their clusters.

    python examples/gmm.py [--fast] [--seed 0]
"""

import argparse
import time

import torch
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture as SklearnMixture

from pyro_lvm.data import load_toy
from pyro_lvm.infer import TrainConfig, Trainer
from pyro_lvm.models.gmm import GaussianMixture
from pyro_lvm.runtime import set_seed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny settings: a smoke test, not the documented figures")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n, epochs = (300, 20) if args.fast else (600, 100)
    data = load_toy("clusters", n_train=n, n_test=0, seed=args.seed)
    x, labels = data.train, data.train_labels
    set_seed(args.seed)

    gmm = GaussianMixture(2, 3).init_from_data(x, seed=args.seed)
    with torch.no_grad():
        init_ll = float(gmm.log_marginal(x).mean())
    start = time.perf_counter()
    Trainer(gmm, TrainConfig(epochs=epochs, batch_size=n // 2, learning_rate=0.05, elbo="enum",
                             seed=args.seed), device="cpu").fit(x, quiet=True)
    seconds = time.perf_counter() - start
    em = SklearnMixture(3, covariance_type="full", random_state=args.seed).fit(x.numpy())
    with torch.no_grad():
        ours = float(gmm.log_marginal(x).mean())
        predicted = gmm.predict(x).numpy()
    agreement = adjusted_rand_score(em.predict(x.numpy()), predicted)
    print(f"data: n={n}, 3 clusters in 2-D; SVI: {2 * epochs} steps in {seconds:.1f} s")
    for label, value in [("log p(x), k-means start", init_ll),
                         ("log p(x), SVI (TraceEnum_ELBO)", ours),
                         ("log p(x), scikit-learn EM", em.score(x.numpy())),
                         ("adjusted Rand index SVI vs EM", agreement),
                         ("adjusted Rand index SVI vs true",
                          adjusted_rand_score(labels.numpy(), predicted))]:
        print(f"{label:32s} {value:9.4f}")
    print(f"{'mixing weights (SVI)':32s} {[round(w, 3) for w in gmm.weights.tolist()]}")


if __name__ == "__main__":
    main()

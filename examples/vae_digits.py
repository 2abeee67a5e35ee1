"""A VAE on the embedded digits, in Python: train, evaluate, and look at the samples.

Trains the VAE (Bernoulli likelihood on the binarized 8x8 digits), then prints the test ELBO,
the importance-sampled log p(x), their gap (≈ KL(q(z|x) ‖ p(z|x))) and the naive Monte Carlo
estimate with prior draws, and writes ``samples.png`` and ``reconstructions.png``.

    python examples/vae_digits.py [--fast] [--out DIR]
"""

import argparse
import time
from pathlib import Path

from pyro_lvm import VAE, TrainConfig, Trainer, load_digits, set_seed
from pyro_lvm.infer import evaluate_per_datapoint, naive_log_likelihood
from pyro_lvm.runs import draw_pictures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny settings: a smoke test, not the documented figures")
    parser.add_argument("--out", default="vae_digits", help="folder for the pictures")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    epochs, samples = (5, 100) if args.fast else (100, 1000)

    digits = load_digits(binarize=True, seed=args.seed)
    set_seed(args.seed)
    vae = VAE(digits.dim, latent_dim=8, hidden=(256,))
    start = time.perf_counter()
    history = Trainer(vae, TrainConfig(epochs=epochs, batch_size=64, seed=args.seed),
                      device="cpu").fit(digits.train, digits.test)
    seconds = time.perf_counter() - start

    result = evaluate_per_datapoint(vae.model, vae.guide, digits.test, num_samples=samples)
    naive = naive_log_likelihood(vae.model, digits.test, num_samples=samples)
    print(f"trained {epochs} epochs in {seconds:.1f} s; last test ELBO "
          f"{history[-1]['test_elbo']:.3f}")
    print(f"test ELBO              {result['elbo'].mean():8.3f} nats/example")
    print(f"test log p(x), K={samples:<5d}{result['log_px'].mean():8.3f}")
    print(f"gap log p(x) - ELBO    {result['gap'].mean():8.3f}")
    print(f"naive log p(x)         {naive.mean():8.3f}  (z ~ p(z), the lecture's estimate)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    draw_pictures(vae, digits, history, out)
    print(f"pictures in {out}/")


if __name__ == "__main__":
    main()

"""Write a guide of your own and train the VAE with it: a Student-t posterior.

The guide follows the model/guide contract (docs/contract.md): it takes the model's
arguments, opens the same ``data`` plate and samples the model's latent site ``"z"`` with a
reparametrized distribution.  The trainer, the evaluators and the checkpoints need nothing
else.  Prints the test ELBO and log p(x) of the Student-t guide next to the built-in
mean-field Normal guide trained the same way.

    python examples/custom_guide.py [--fast]
"""

import argparse

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from pyro_lvm import VAE, TrainConfig, Trainer, data_plate, load_digits, set_seed
from pyro_lvm.infer import evaluate_per_datapoint
from pyro_lvm.nn import MLP, positive


class StudentTGuide(nn.Module):
    """q(z | x) = Π_j StudentT(z_j | ν, μ_j(x), s_j(x)), ν learned (ν > 2)."""

    def __init__(self, data_dim, latent_dim, hidden=(256,)):
        super().__init__()
        self.net = MLP(data_dim, hidden, 2 * latent_dim)
        self.raw_df = nn.Parameter(torch.tensor(3.0))

    def forward(self, x, indices=None, num_data=None):
        loc, raw_scale = self.net(x).chunk(2, -1)
        df = 2.0 + positive(self.raw_df)
        with data_plate(x, indices, num_data):
            pyro.sample("z", dist.StudentT(df, loc, positive(raw_scale)).to_event(1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny settings: a smoke test, not the documented figures")
    args = parser.parse_args(argv)
    epochs, samples = (3, 50) if args.fast else (100, 1000)
    digits = load_digits(binarize=True)
    for name in ("student-t", "meanfield"):
        set_seed(0)
        guide = StudentTGuide(digits.dim, 8) if name == "student-t" else "meanfield"
        vae = VAE(digits.dim, latent_dim=8, hidden=(256,), guide=guide)
        Trainer(vae, TrainConfig(epochs=epochs, batch_size=64), device="cpu").fit(digits.train)
        result = evaluate_per_datapoint(vae.model, vae.guide, digits.test, samples)
        print(f"{name:10s} test ELBO {result['elbo'].mean():8.3f}   "
              f"log p(x) {result['log_px'].mean():8.3f}   gap {result['gap'].mean():.3f}")


if __name__ == "__main__":
    main()

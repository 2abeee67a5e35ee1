"""A guide site that cannot be reparametrized is named in one warning per training (issue 18,
item 6); a reparametrized guide trains without it."""

import warnings

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn

from pyro_lvm.infer import TrainConfig, Trainer
from pyro_lvm.infer.contract import ScoreFunctionWarning
from pyro_lvm.plates import data_plate


class Pair(nn.Module):
    """z ~ N(0, I_2), x | z ~ N(z, I); q(z | x) a two-component mixture (no rsample) or a
    Normal, with trainable locations."""

    def __init__(self, mixture):
        super().__init__()
        self.mixture = mixture
        self.shift = nn.Parameter(torch.tensor([0.5, -0.5]))

    def model(self, x, indices=None, num_data=None):
        with data_plate(x, indices, num_data):
            z = pyro.sample("z", dist.Normal(x.new_zeros(2), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z, 1.0).to_event(1), obs=x)

    def guide(self, x, indices=None, num_data=None):
        loc = 0.5 * x
        with data_plate(x, indices, num_data):
            if self.mixture:
                locs = torch.stack([loc + self.shift, loc - self.shift], -2)
                q = dist.MixtureSameFamily(dist.Categorical(logits=x.new_zeros(x.shape[0], 2)),
                                           dist.Normal(locs, 0.7).to_event(1))
            else:
                q = dist.Normal(loc + self.shift, 0.7).to_event(1)
            pyro.sample("z", q)


def _train(mixture, fits=1):
    """Score-function warnings of training the pair for 2 epochs, ``fits`` times."""
    data = torch.randn(16, 2)
    trainer = Trainer(Pair(mixture), TrainConfig(epochs=2, batch_size=8), device="cpu")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for fit in range(fits):
            trainer.config.epochs = 2 * (fit + 1)
            trainer.fit(data, quiet=True)
    return [w for w in seen if issubclass(w.category, ScoreFunctionWarning)]


def test_a_mixture_guide_warns_once_naming_the_site():
    data = torch.randn(16, 2)
    trainer = Trainer(Pair(mixture=True), TrainConfig(epochs=2, batch_size=8), device="cpu")
    with pytest.warns(ScoreFunctionWarning, match=r"guide site 'z' \(MixtureSameFamily\) "
                      r"cannot be reparametrized .*TraceGraph_ELBO") as seen:
        trainer.fit(data, quiet=True)
    assert len([w for w in seen if w.category is ScoreFunctionWarning]) == 1
    seen = _train(mixture=True, fits=2)  # four epochs in two fits: still one warning
    assert len(seen) == 1
    message = str(seen[0].message)
    assert "reparametrizable distribution" in message and "num_particles" in message


def test_a_normal_guide_does_not_warn():
    assert _train(mixture=False) == []

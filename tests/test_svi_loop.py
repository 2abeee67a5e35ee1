"""The package's models under a Pyro user's own loop: ``pyro.infer.SVI`` + ``pyro.optim.Adam``
trains every built-in model and guide as far as the package's trainer does, and
``pyro.infer.Predictive`` runs on them."""

import copy

import pyro
import pytest
import torch
from pyro.infer import SVI, Predictive, Trace_ELBO, TraceEnum_ELBO

from pyro_lvm import (PPCA, VAE, FlowDensity, GaussianMixture, TrainConfig, Trainer,
                      elbo_per_datapoint, load_digits)
from pyro_lvm.data.toy import load_toy
from pyro_lvm.params import pyro_name


def _digits(binarize):
    digits = load_digits(binarize=binarize)
    return digits.train[:512], digits.test[:256]


def _toy(name):
    toy = load_toy(name, n_train=512, n_test=256)
    return toy.train, toy.test


# name: (make the model, data, objective, learning rate)
CASES = {
    "vae-meanfield": (lambda: VAE(64, latent_dim=2, hidden=(32,)), lambda: _digits(True),
                      "trace", 1e-2),
    "vae-fullrank": (lambda: VAE(64, latent_dim=2, hidden=(32,), guide="fullrank"),
                     lambda: _digits(True), "trace", 1e-2),
    "vae-flow": (lambda: VAE(64, latent_dim=2, hidden=(32,), guide="flow:iaf"),
                 lambda: _digits(True), "trace", 1e-2),
    "ppca": (lambda: PPCA(64, 2), lambda: _digits(False), "trace", 5e-2),
    "gmm": (lambda: GaussianMixture(2, 3), lambda: _toy("clusters"), "enum", 5e-2),
    "flow": (lambda: FlowDensity.from_spec(2, "maf*2", hidden=(16, 16)), lambda: _toy("moons"),
             "trace", 1e-2),
}
EPOCHS, BATCH = 6, 64


def _svi(lvm, train, elbo, lr, steps, seed):
    """What a Pyro user writes: a plain loop over SVI.step on random minibatches."""
    objective = TraceEnum_ELBO(max_plate_nesting=1) if elbo == "enum" else Trace_ELBO()
    svi = SVI(lvm.model, lvm.guide, pyro.optim.Adam({"lr": lr}), objective)
    pyro.set_rng_seed(seed)
    n = train.shape[0]
    for _ in range(steps):
        indices = torch.randperm(n)[:BATCH]
        svi.step(train[indices], indices, n)


def _test_fit(lvm, test):
    """The exact test log p(x) where the model has it, else the test ELBO (32 particles)."""
    pyro.set_rng_seed(0)
    with torch.no_grad():
        if hasattr(lvm, "log_marginal"):
            return float(lvm.log_marginal(test).mean())
        return float(elbo_per_datapoint(lvm.model, lvm.guide, test, num_samples=32).mean())


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.slow
def test_pyro_svi_trains_every_built_in_model_as_far_as_the_trainer(case):
    make, data, elbo, lr = CASES[case]
    train, test = data()
    torch.manual_seed(0)
    start = make()
    initial = _test_fit(start, test)
    reached = []
    for seed in (0, 1):
        lvm = copy.deepcopy(start)
        Trainer(lvm, TrainConfig(epochs=EPOCHS, batch_size=BATCH, learning_rate=lr, elbo=elbo,
                                 seed=seed), device="cpu").fit(train)
        reached.append(_test_fit(lvm, test))
    pyro.clear_param_store()
    lvm = copy.deepcopy(start)
    before = {name: value.clone() for name, value in lvm.state_dict().items()}
    _svi(lvm, train, elbo, lr, EPOCHS * (train.shape[0] // BATCH), seed=2)
    unchanged = [name for name, value in lvm.state_dict().items()
                 if value.is_floating_point() and torch.equal(value, before[name])
                 and name in dict(lvm.named_parameters())]
    assert not unchanged, f"pyro.infer.SVI did not train {unchanged}"
    by_svi = _test_fit(lvm, test)
    # Training moved the ELBO, and SVI lands where the trainer does, within the spread between
    # two seeds of the trainer (Monte Carlo and minibatch noise) plus 1% of the progress made.
    progress = min(reached) - initial
    assert progress > 0.5
    assert min(reached) - (3 * abs(reached[0] - reached[1]) + 0.01 * progress) <= by_svi
    assert by_svi <= max(reached) + 3 * abs(reached[0] - reached[1]) + 0.01 * progress


@pytest.mark.parametrize("case", list(CASES))
def test_pyro_predictive_runs_on_the_built_in_models(case):
    make, data, _, _ = CASES[case]
    _, test = data()
    lvm = make()
    samples = Predictive(lvm.model, guide=lvm.guide, num_samples=3)(test[:5])
    assert samples["x"].shape == (3, 5, test.shape[1])
    if "z" in samples:  # a vector per row, or one component index (the mixture)
        assert samples["z"].shape[:2] == (3, 5)
        assert samples["z"].shape[2:] == ((lvm.latent_dim,) if hasattr(lvm, "latent_dim")
                                          else ())


def test_two_vaes_trained_one_after_the_other_under_svi_keep_their_own_parameters():
    train, _ = _digits(True)
    first, second = VAE(64, latent_dim=2, hidden=(16,)), VAE(64, latent_dim=2, hidden=(16,))
    start = {name: value.clone() for name, value in second.state_dict().items()}
    _svi(first, train, "trace", 1e-2, 20, seed=0)
    trained = {name: value.clone() for name, value in first.state_dict().items()}
    _svi(second, train, "trace", 1e-2, 20, seed=1)
    assert pyro_name(first) != pyro_name(second)
    assert all(torch.equal(value, trained[name]) for name, value in first.state_dict().items())
    assert all(not torch.equal(value, start[name]) for name, value in second.state_dict().items()
               if value.is_floating_point() and name in dict(second.named_parameters()))

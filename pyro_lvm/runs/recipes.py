"""Building a model, and loading its data, from a run spec: one recipe per kind of model."""

import dataclasses
from collections.abc import Callable

from ..data import load_dataset
from ..data.dataset import check_batch_size
from ..errors import bad_value
from ..flows import FlowDensity
from ..models import PPCA, VAE, GaussianMixture
from .spec import DATA_CACHE


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How the command line builds and trains one kind of model.

    ``config(spec, data_dim)`` gives the constructor's keyword arguments (stored in the
    checkpoint, so the model can be rebuilt); ``likelihood`` says whether the data are checked
    against ``spec.likelihood``; ``elbo`` forces an objective; ``prepare`` runs once on the
    training data before a fresh run's first epoch.
    """

    build: type
    config: Callable
    likelihood: bool = False
    elbo: str | None = None
    prepare: Callable | None = None
    learning_rate: float = 1e-3
    epochs: int = 200
    batch_size: int = 64


RECIPES = {
    "vae": Recipe(VAE, lambda spec, d: {
        "data_dim": d, "latent_dim": spec.latent_dim, "hidden": list(spec.hidden),
        "likelihood": spec.likelihood, "scale": spec.scale, "guide": spec.guide},
        likelihood=True),
    "flow": Recipe(FlowDensity.from_spec, lambda spec, d: {
        "dim": d, "spec": spec.flow, "hidden": list(spec.hidden), "seed": spec.train.seed},
        learning_rate=3e-3, epochs=40, batch_size=256),
    "ppca": Recipe(PPCA, lambda spec, d: {"data_dim": d, "latent_dim": spec.latent_dim},
                   learning_rate=0.05),
    "gmm": Recipe(GaussianMixture, lambda spec, d: {"data_dim": d,
                                                    "num_components": spec.components},
                  elbo="enum", learning_rate=0.05,
                  prepare=lambda lvm, train, spec: lvm.init_from_data(train, seed=spec.train.seed)),
}


MODELS = sorted(RECIPES)


def recipe_for(kind):
    if kind not in RECIPES:
        raise bad_value("model", kind, f"one of {MODELS}")
    return RECIPES[kind]


def build_model(kind, config):
    """The model/guide pair ``kind`` built from its stored ``config``."""
    return recipe_for(kind).build(**config)


def load_data(spec, device, run_dir=None):
    """The run's data set.  CSV and IDX files are converted once to ``.npy`` in
    ``run_dir/data/`` (atomically) by the first command that reads them, and read from there;
    with ``spec.memmap`` the training rows stay in a memory map of that ``.npy``."""
    likelihood = spec.likelihood if recipe_for(spec.model).likelihood else None
    dataset = load_dataset(spec.data, likelihood=likelihood, seed=spec.train.seed,
                           cache_dir=None if run_dir is None else run_dir / DATA_CACHE,
                           mapped=spec.memmap)
    if dataset.test is None:
        raise bad_value("data", spec.data, "a data set with a test part")
    check_batch_size(spec.train.batch_size, dataset.train.shape[0], f"train set of {spec.data}")
    return dataset.to(device)

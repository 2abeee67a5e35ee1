"""Building a model, and loading its data, from a run spec: one recipe per kind of model."""

import dataclasses
from collections.abc import Callable

import torch

from ..checks import MAX_SAMPLES, MAX_WIDTH, check_hidden, check_positive, check_size
from ..data import has_header, load_dataset, parse_columns
from ..data.dataset import check_batch_size
from ..errors import bad_type, bad_value
from ..flows import FlowDensity
from ..flows.spec import parse_spec
from ..guides.registry import check_guide_name
from ..likelihoods import LIKELIHOODS
from ..models import PPCA, VAE, GaussianMixture
from ..models.priors import parse_prior
from ..infer import TrainConfig
from .spec import DATA_CACHE, RunSpec


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How the command line builds and trains one kind of model.

    ``config(spec, dataset)`` gives the constructor's keyword arguments (stored in the
    checkpoint, so the model can be rebuilt); ``options`` names the spec fields it reads
    (the others are refused when given); ``likelihood`` says whether the data are checked
    against ``spec.likelihood``; ``elbo`` forces an objective; ``prepare`` runs once on the
    training data before a fresh run's first epoch.
    """

    build: type
    config: Callable
    options: tuple
    likelihood: bool = False
    elbo: str | None = None
    prepare: Callable | None = None
    learning_rate: float = 1e-3
    epochs: int = 200
    batch_size: int = 64


def _vae_config(spec, dataset):
    schema = dataset.schema
    return {"data_dim": dataset.dim, "latent_dim": spec.latent_dim, "hidden": list(spec.hidden),
            "likelihood": spec.likelihood if schema is None else
            [column.to_config() for column in schema],
            "scale": spec.scale, "guide": spec.guide, "missing": spec.missing,
            "prior": spec.prior, "arch": spec.arch, "image_shape": _image_shape(spec, dataset),
            "channels": list(spec.channels)}


def _image_shape(spec, dataset):
    """``(C, H, W)`` of the data's grey-scale images for ``arch="conv"`` (else ``None``)."""
    if spec.arch != "conv":
        return None
    if dataset.image_shape is None:
        raise bad_value("arch", spec.arch, f"'mlp' for {spec.data!r}: its rows are not images "
                        "(a convolutional network needs digits, mnist5k or MNIST files)")
    return [1, *dataset.image_shape]


RECIPES = {
    "vae": Recipe(VAE, _vae_config, ("latent_dim", "hidden", "likelihood", "scale", "guide",
                                     "columns", "missing", "prior", "arch", "channels"),
                  likelihood=True),
    "flow": Recipe(FlowDensity.from_spec, lambda spec, data: {
        "dim": data.dim, "spec": spec.flow, "hidden": list(spec.hidden),
        "seed": spec.train.seed},
        ("flow", "hidden"), learning_rate=3e-3, epochs=40, batch_size=256),
    "ppca": Recipe(PPCA, lambda spec, data: {"data_dim": data.dim,
                                             "latent_dim": spec.latent_dim},
                   ("latent_dim",), learning_rate=0.05),
    "gmm": Recipe(GaussianMixture, lambda spec, data: {"data_dim": data.dim,
                                                       "num_components": spec.components},
                  ("components",), elbo="enum", learning_rate=0.05,
                  prepare=lambda lvm, train, spec: lvm.init_from_data(train, seed=spec.train.seed)),
}


MODELS = sorted(RECIPES)
#: The spec fields that some kinds of model read and others do not.
MODEL_OPTIONS = tuple(sorted({name for recipe in RECIPES.values() for name in recipe.options}))


def recipe_for(kind):
    if kind not in RECIPES:
        raise bad_value("model", kind, f"one of {MODELS}")
    return RECIPES[kind]


def default_spec(kind):
    """The spec of a fresh run of ``kind`` with its recipe's training defaults."""
    recipe = recipe_for(kind)
    return RunSpec(model=kind, train=TrainConfig(
        epochs=recipe.epochs, batch_size=recipe.batch_size,
        learning_rate=recipe.learning_rate, elbo=recipe.elbo or "trace"))


def build_model(kind, config):
    """The model/guide pair ``kind`` built from its stored ``config``."""
    return recipe_for(kind).build(**config)


def training_bytes(kind, config):
    """Bytes that training the pair ``kind`` needs for its parameters, their gradients and
    Adam's two moments (4 copies), counted on the ``meta`` device without allocating."""
    with torch.device("meta"):
        lvm = build_model(kind, config)
    return 4 * sum(p.numel() * p.element_size() for p in lvm.parameters())


def check_spec(spec):
    """Refuse a ``RunSpec`` with a value no run can use, before anything is read or written."""
    recipe = recipe_for(spec.model)
    if not isinstance(spec.data, str) or not spec.data.strip():
        raise bad_value("data", spec.data, "a data set name or a file path")
    if spec.likelihood not in (*LIKELIHOODS, "table"):
        raise bad_value("likelihood", spec.likelihood, f"one of {sorted(LIKELIHOODS)} or "
                        "'table' (a kind per column of a table)")
    if spec.columns is not None:
        parse_columns(spec.columns)
    parse_prior(spec.prior)
    if not isinstance(spec.missing, bool):
        raise bad_type("missing", spec.missing, "True or False")
    check_size("latent_dim", spec.latent_dim, MAX_WIDTH)
    for width in check_hidden(spec.hidden):
        check_size("hidden", width, MAX_WIDTH)
    if spec.arch not in ("mlp", "conv"):
        raise bad_value("arch", spec.arch, "'mlp' or 'conv'")
    for width in check_hidden(spec.channels, "channels", min_layers=1):
        check_size("channels", width, MAX_WIDTH)
    check_positive("scale", spec.scale, allow_none=True)
    if "guide" in recipe.options:
        check_guide_name(spec.guide)
    check_size("components", spec.components, MAX_WIDTH)
    if "flow" in recipe.options:
        parse_spec(spec.flow)
    check_size("eval_samples", spec.eval_samples, MAX_SAMPLES)
    if not isinstance(spec.memmap, bool):
        raise bad_type("memmap", spec.memmap, "True or False")
    if spec.memmap and reads_table(spec):
        raise bad_value("memmap", spec.memmap, "False for a table (it is read whole, with its "
                        "schema)")
    return spec


def data_likelihood(spec):
    """The likelihood the run's data are checked against: the VAE's, none for the others
    (PPCA, the mixture and the flows take any real values)."""
    return spec.likelihood if recipe_for(spec.model).likelihood else None


def reads_table(spec):
    """Whether the run reads its data as a table with a schema: a VAE asked for a kind per
    column (``likelihood="table"`` or ``columns``) or given a CSV with a header or a
    ``.parquet`` file."""
    return recipe_for(spec.model).likelihood and (
        spec.likelihood == "table" or spec.columns is not None or has_header(spec.data))


def load_data(spec, device, run_dir=None):
    """The run's data set.  CSV and IDX files are converted once to ``.npy`` in
    ``run_dir/data/`` (atomically) by the first command that reads them, and read from there;
    with ``spec.memmap`` the training rows stay in a memory map of that ``.npy``.  A table
    (``reads_table``) is read with its schema instead."""
    dataset = load_dataset(spec.data, likelihood=data_likelihood(spec), seed=spec.train.seed,
                           cache_dir=None if run_dir is None else run_dir / DATA_CACHE,
                           mapped=spec.memmap, table=reads_table(spec), columns=spec.columns,
                           missing=spec.missing)
    if dataset.test is None:
        raise bad_value("data", spec.data, "a data set with a test part")
    check_batch_size(spec.train.batch_size, dataset.train.shape[0], f"train set of {spec.data}")
    return dataset.to(device)

"""A training run on disk: train, resume, evaluate and sample, as the CLI does them.

A run directory holds ``checkpoint.pt`` (model, optimizer, configs, history, RNG state),
``metrics.json``, ``history.json`` and the pictures ``samples.png``, ``reconstructions.png`` and
``loss.png``.  Under torchrun (``WORLD_SIZE > 1``) ``train_run`` trains data-parallel
(``pyro_lvm.infer.distributed``); rank 0 alone writes the files and runs the final
evaluation.  Every argument and the data are checked before the directory is touched, and every
file is written atomically, so a failed command never damages a run that is already there.
"""

import dataclasses
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from . import plots
from .checkpoint import load_checkpoint, write_atomically, write_json
from .data import load_dataset
from .data.dataset import check_batch_size
from .errors import bad_value
from .infer import distributed
from .infer import (TrainConfig, Trainer, evaluate_per_datapoint, inference_gaps,
                    naive_log_likelihood, summarize)
from .flows import FlowDensity
from .models import PPCA, VAE, GaussianMixture
from .runtime import resolve_device, set_seed

CHECKPOINT = "checkpoint.pt"
#: The folder of a run that holds its CSV and IDX data converted to ``.npy``.
DATA_CACHE = "data"


@dataclasses.dataclass
class RunSpec:
    """What a run trains on and what it builds (the training knobs are in ``train``)."""

    model: str = "vae"
    data: str = "digits"
    likelihood: str = "bernoulli"
    latent_dim: int = 8
    hidden: tuple = (256,)
    scale: float | None = None
    guide: str = "meanfield"
    components: int = 3
    flow: str = "maf*5"
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(epochs=200, batch_size=64))
    eval_samples: int = 1000
    memmap: bool = False


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


def _recipe(kind):
    if kind not in RECIPES:
        raise bad_value("model", kind, f"one of {MODELS}")
    return RECIPES[kind]


def build_model(kind, config):
    """The model/guide pair ``kind`` built from its stored ``config``."""
    return _recipe(kind).build(**config)


def default_run_dir(spec, root="runs"):
    """``runs/<model>-<data>-<time>``, with a suffix if that name is taken."""
    stem = f"{spec.model}-{Path(spec.data).stem.replace(':', '-')}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = Path(root) / stem, 1
    while path.exists():
        n += 1
        path = Path(root) / f"{stem}-{n}"
    return path


def _check_fresh(run_dir):
    if (run_dir / CHECKPOINT).exists():
        raise bad_value("out", str(run_dir),
                        "a directory without a run in it (pass --resume to continue that run)")


def _load_data(spec, device, run_dir=None):
    """The run's data set.  CSV and IDX files are converted once to ``.npy`` in
    ``run_dir/data/`` (atomically) by the first command that reads them, and read from there;
    with ``spec.memmap`` the training rows stay in a memory map of that ``.npy``."""
    likelihood = spec.likelihood if _recipe(spec.model).likelihood else None
    dataset = load_dataset(spec.data, likelihood=likelihood, seed=spec.train.seed,
                           cache_dir=None if run_dir is None else run_dir / DATA_CACHE,
                           mapped=spec.memmap)
    if dataset.test is None:
        raise bad_value("data", spec.data, "a data set with a test part")
    check_batch_size(spec.train.batch_size, dataset.train.shape[0], f"train set of {spec.data}")
    return dataset.to(device)


def train_run(spec, out=None, resume=False, device=None, quiet=None):
    """Train (or, with ``resume``, continue) a run; returns ``(run_dir, metrics)``.

    Started by torchrun, every process calls this: they join one process group, train their
    shards, and rank 0 evaluates and writes the run; the other ranks return ``metrics=None``.
    """
    device, created = distributed.setup(resolve_device(device))
    finished = False
    try:
        result = _train_run(spec, out, resume, device, quiet)
        finished = True
        return result
    finally:
        if created:
            distributed.teardown(finished)


def _train_run(spec, out, resume, device, quiet):
    if resume:
        if out is None:
            raise bad_value("out", None, "the run directory to resume (--out DIR)")
        run_dir = Path(out)
        state = load_checkpoint(run_dir / CHECKPOINT, map_location=device)
        epochs = spec.train.epochs
        spec = spec_from_state(state)
        spec.train = dataclasses.replace(spec.train, epochs=max(epochs, spec.train.epochs))
    else:
        recipe = _recipe(spec.model)
        if recipe.elbo is not None:
            spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train,
                                                                       elbo=recipe.elbo))
        run_dir = Path(out) if out is not None else Path(distributed.agree(
            str(default_run_dir(spec))))
        _check_fresh(run_dir)
        state = None
    recipe = _recipe(spec.model)
    fresh = not run_dir.exists()
    try:
        dataset = _load_data(spec, device, run_dir)
    except Exception:
        if fresh:  # bad data leave nothing behind, not even a half-made data cache
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    set_seed(spec.train.seed)
    config = recipe.config(spec, dataset.dim)
    lvm = build_model(spec.model, config).to(device)
    trainer = Trainer(lvm, spec.train, device=device)
    if state is not None:
        trainer.load_state_dict(state)
    elif recipe.prepare is not None:
        recipe.prepare(lvm, dataset.train, spec)
    extra = {"kind": spec.model, "model_config": config, "spec": _spec_to_dict(spec)}
    start = time.perf_counter()
    history = trainer.fit(dataset.train, dataset.test, checkpoint=run_dir / CHECKPOINT,
                          preload=not dataset.mapped,
                          quiet=quiet if distributed.is_main() else True, extra_state=extra)
    seconds = time.perf_counter() - start
    if not distributed.is_main():
        return run_dir, None
    metrics = evaluate(lvm, dataset, spec.eval_samples)
    metrics.update(train_seconds=seconds, epochs=trainer.epoch)
    write_json(metrics, run_dir / "metrics.json")
    write_json(history, run_dir / "history.json")
    draw_pictures(lvm, dataset, history, run_dir)
    return run_dir, metrics


def evaluate(lvm, dataset, num_samples):
    """Test-set ELBO, importance-sampled and naive log p(x), gap and bits/dim (nats/example)."""
    lvm.eval()
    per_row = evaluate_per_datapoint(lvm.model, lvm.guide, dataset.test, num_samples)
    metrics = summarize(per_row, dataset.dim)
    naive = naive_log_likelihood(lvm.model, dataset.test, num_samples)
    metrics.update(naive_log_px=float(naive.mean()), num_samples=num_samples,
                   num_test=dataset.test.shape[0])
    if hasattr(lvm, "log_marginal"):  # a closed form exists (PPCA, mixture, flow)
        with torch.no_grad():
            metrics["exact_log_px"] = float(lvm.log_marginal(dataset.test).mean())
    return {f"test_{name}" if "elbo" in name or "log_px" in name else name: value
            for name, value in metrics.items()}


def draw_pictures(lvm, dataset, history, run_dir, num_samples=100):
    """``samples.png``, ``loss.png`` and, where the model has them, ``reconstructions.png``
    (models with an encoder), ``density.png`` (exact densities of 2-D data) and
    ``clusters.png`` (mixtures) in ``run_dir``."""
    test = dataset.test.cpu()
    samples = lvm.generate(num_samples if dataset.image_shape else 1000).cpu()
    originals = dataset.test[:40]
    if dataset.image_shape is not None:
        plots.image_grid(samples, dataset.image_shape, run_dir / "samples.png",
                         "decoder means at prior draws z ~ p(z)")
    else:
        plots.scatter_pairs(test, samples, run_dir / "samples.png")
    if hasattr(lvm, "reconstruct"):
        recon = lvm.reconstruct(originals).cpu()
        if dataset.image_shape is not None:
            plots.paired_grid(originals.cpu(), recon, dataset.image_shape,
                              run_dir / "reconstructions.png",
                              "test images (odd rows) and their reconstructions")
        else:
            plots.scatter_pairs(originals.cpu(), recon, run_dir / "reconstructions.png",
                                labels=("test data", "reconstructions"))
    if hasattr(lvm, "log_marginal") and dataset.dim == 2:  # the grid is made on the host
        device = dataset.test.device
        plots.density_heatmap(lambda points: lvm.log_marginal(points.to(device)), test,
                              run_dir / "density.png")
    if hasattr(lvm, "predict"):
        plots.scatter_pairs(test, test, run_dir / "clusters.png",
                            labels=("test data", "most probable component"),
                            colors=(None, lvm.predict(dataset.test).cpu()))
    plots.loss_curve(history, run_dir / "loss.png")


def _spec_to_dict(spec):
    record = dataclasses.asdict(spec)
    record["hidden"] = list(spec.hidden)
    return record


def spec_from_state(state):
    """The ``RunSpec`` stored in a checkpoint."""
    record = dict(state["spec"])
    record["hidden"] = tuple(record["hidden"])
    record["train"] = TrainConfig(**record["train"])
    return RunSpec(**record)


def load_run(run_dir, device=None):
    """``(lvm, dataset, spec)`` of the run in ``run_dir``, the model in evaluation mode."""
    device = resolve_device(device)
    run_dir = Path(run_dir)
    if not (run_dir / CHECKPOINT).is_file():
        raise bad_value("run_dir", str(run_dir),
                        f"a run directory holding {CHECKPOINT} (written by pyro-lvm train)")
    state = load_checkpoint(run_dir / CHECKPOINT, map_location=device)
    spec = spec_from_state(state)
    dataset = _load_data(spec, device, run_dir)
    lvm = build_model(state["kind"], state["model_config"]).to(device)
    lvm.load_state_dict(state["model"])
    lvm.eval()
    return lvm, dataset, spec


def evaluate_run(run_dir, num_samples=1000, device=None, seed=0, gaps=False, gap_steps=300,
                 quiet=None):
    """Evaluate the run's model on its test set; writes ``evaluation.json``.

    With ``gaps``, also split the gap log p(x) − ELBO into its approximation and amortization
    parts (``inference_gaps``).
    """
    lvm, dataset, _ = load_run(run_dir, device)
    set_seed(seed)
    metrics = evaluate(lvm, dataset, num_samples)
    if gaps:
        parts = inference_gaps(lvm.model, lvm.guide, dataset.test, num_samples, steps=gap_steps,
                               quiet=quiet)
        metrics.update({name: float(parts[name].mean())
                        for name in ("approximation_gap", "amortization_gap", "elbo_local")})
    write_json(metrics, Path(run_dir) / "evaluation.json")
    return metrics


def sample_run(run_dir, num_samples=100, device=None, seed=0, out=None):
    """Draw ``num_samples`` decoder means at prior draws; writes a PNG and a ``.npy``."""
    lvm, dataset, _ = load_run(run_dir, device)
    set_seed(seed)
    samples = lvm.generate(num_samples).cpu()
    out = Path(out) if out is not None else Path(run_dir) / f"samples-{num_samples}.png"
    if dataset.image_shape is not None:
        plots.image_grid(samples, dataset.image_shape, out, f"{num_samples} samples")
    else:
        plots.scatter_pairs(dataset.test.cpu(), samples, out)
    array_path = write_atomically(out.with_suffix(".npy"),
                                  lambda handle: np.save(handle, samples.numpy()))
    return out, array_path

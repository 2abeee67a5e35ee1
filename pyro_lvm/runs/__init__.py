"""A training run on disk: train, resume, evaluate and sample, as the CLI does them.

A run directory holds ``checkpoint.pt`` (model, optimizer, configs, history, RNG state),
``metrics.json``, ``history.json`` and the pictures ``samples.png``, ``reconstructions.png`` and
``loss.png``.  Under torchrun (``WORLD_SIZE > 1``) ``train_run`` trains data-parallel
(``pyro_lvm.infer.distributed``); rank 0 alone writes the files and runs the final
evaluation.  Every argument and the data are checked before the directory is touched, and every
file is written atomically, so a failed command never damages a run that is already there.

The commands are here, top-down; what they are made of lives beside them: the run directory
and its spec (``spec``), building the model and loading the data from a spec
(``recipes``), the end-of-run evaluation (``evaluation``) and the run pictures
(``pictures``).
"""

import dataclasses
import shutil
import time
from pathlib import Path

import numpy as np

from .. import plots
from ..checkpoint import load_checkpoint, write_atomically, write_json
from ..errors import bad_value
from ..infer import Trainer, distributed, inference_gaps
from ..runtime import resolve_device, set_seed
from .evaluation import evaluate
from .pictures import draw_pictures
from .recipes import MODELS, RECIPES, Recipe, build_model, load_data, recipe_for
from .spec import (CHECKPOINT, DATA_CACHE, RunSpec, check_fresh, default_run_dir, spec_from_state,
                   spec_to_dict)

__all__ = ["CHECKPOINT", "DATA_CACHE", "MODELS", "RECIPES", "Recipe", "RunSpec", "build_model",
           "default_run_dir", "draw_pictures", "evaluate", "evaluate_run", "load_run",
           "sample_run", "spec_from_state", "train_run"]


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
        recipe = recipe_for(spec.model)
        if recipe.elbo is not None:
            spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train,
                                                                       elbo=recipe.elbo))
        run_dir = Path(out) if out is not None else Path(distributed.agree(
            str(default_run_dir(spec))))
        check_fresh(run_dir)
        state = None
    recipe = recipe_for(spec.model)
    fresh = not run_dir.exists()
    try:
        dataset = load_data(spec, device, run_dir)
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
    extra = {"kind": spec.model, "model_config": config, "spec": spec_to_dict(spec)}
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


def load_run(run_dir, device=None):
    """``(lvm, dataset, spec)`` of the run in ``run_dir``, the model in evaluation mode."""
    device = resolve_device(device)
    run_dir = Path(run_dir)
    if not (run_dir / CHECKPOINT).is_file():
        raise bad_value("run_dir", str(run_dir),
                        f"a run directory holding {CHECKPOINT} (written by pyro-lvm train)")
    state = load_checkpoint(run_dir / CHECKPOINT, map_location=device)
    spec = spec_from_state(state)
    dataset = load_data(spec, device, run_dir)
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

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

import contextlib
import dataclasses
import inspect
import math
import time
from pathlib import Path

import numpy as np
import torch

from .. import plots
from ..checkpoint import load_checkpoint, write_atomically, write_json
from ..checks import MAX_SAMPLES, check_int, check_memory, check_size
from ..data import describe_schema, resolve_source
from ..errors import bad_value
from ..infer import Trainer, distributed, inference_gaps
from ..runtime import resolve_device, set_seed
from .directory import check_out, check_writable, claimed, remove_stale_temporaries
from .evaluation import evaluate
from .pictures import draw_pictures
from .recipes import (MODELS, RECIPES, Recipe, build_model, check_spec, load_data, recipe_for,
                      training_bytes)
from .rows import rows_frame, table_schema, write_frame
from .run_data import (check_fingerprint, fingerprint, has_test_split, load_test_split,
                       save_test_split)
from .spec import (CHECKPOINT, DATA_CACHE, RunSpec, check_fresh, default_run_dir, spec_from_state,
                   spec_to_dict)

__all__ = ["CHECKPOINT", "DATA_CACHE", "Interrupted", "MODELS", "RECIPES", "Recipe", "RunSpec",
           "build_model", "check_spec", "default_run_dir", "draw_pictures", "evaluate",
           "evaluate_run", "load_run", "sample_run", "spec_from_state", "stored_spec",
           "train_run"]


#: The most images ``sample_run`` draws into its picture.
PICTURE_IMAGES = 400


def train_run(spec, out=None, resume=False, device=None, quiet=None, dist_timeout=None):
    """Train (or, with ``resume``, continue) a run; returns ``(run_dir, metrics)``.

    Everything is checked before the run directory is touched: ``spec`` (``check_spec``),
    ``out``, the data, the model's size against the memory available.  A fresh run that fails
    or is interrupted before its first checkpoint leaves nothing behind.  ``resume`` continues
    the run in ``out`` up to ``spec.train.epochs`` epochs; every other field of ``spec`` must
    equal the run's own (``stored_spec(out)`` gives it), and its data must be unchanged.

    Started by torchrun, every process calls this: they join one process group (whose
    collectives wait at most ``dist_timeout`` seconds: ``distributed.timeout_seconds``), train
    their shards, and rank 0 evaluates and writes the run; the other ranks return
    ``metrics=None``.
    """
    check_spec(spec)
    if out is None and resume:
        raise bad_value("out", None, "the run directory to resume (--out DIR)")
    device, created = distributed.setup(resolve_device(device), dist_timeout)
    finished = False
    try:
        result = _train_run(spec, out, resume, device, quiet)
        finished = True
        return result
    finally:
        if created:
            distributed.teardown(finished)


def stored_spec(run_dir):
    """The ``RunSpec`` of the run in ``run_dir`` (checked), to change before a resume."""
    return _load_state(run_dir, "cpu")[1]


def _load_state(run_dir, device):
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise bad_value("run_dir", str(run_dir),
                        f"a run directory holding {CHECKPOINT} (written by pyro-lvm train)")
    state = load_checkpoint(path, map_location=device)
    return state, check_spec(spec_from_state(state, path))


def _check_resume(spec, stored, state):
    """``spec`` may differ from the run's own ``stored`` spec in its epochs alone, which
    cannot be fewer than the epochs done."""
    asked, own = spec_to_dict(spec), spec_to_dict(stored)
    asked["data"], own["data"] = resolve_source(spec.data), resolve_source(stored.data)
    asked_train, own_train = asked.pop("train"), own.pop("train")
    asked_train.pop("epochs"), own_train.pop("epochs")
    for name, value in [*asked.items(), *asked_train.items()]:
        expected = own.get(name, own_train.get(name))
        if value != expected:
            raise bad_value(name, value, f"the run's own {expected!r} (a resumed run continues "
                            "as it was made: only the epochs may change)")
    done = int(state.get("epoch", 0))
    if spec.train.epochs < done:
        raise bad_value("epochs", spec.train.epochs, f"at least the {done} epochs the run has "
                        "done (epochs counts all epochs, not more of them)")


def _train_run(spec, out, resume, device, quiet):
    recipe = recipe_for(spec.model)
    if recipe.elbo is not None:
        spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, elbo=recipe.elbo))
    if resume:
        run_dir = check_out(out)
        state, stored = _load_state(run_dir, device)
        _check_resume(spec, stored, state)
    else:
        spec = dataclasses.replace(spec, data=resolve_source(spec.data))
        run_dir = check_out(out if out is not None else distributed.agree(
            str(default_run_dir(spec))))
        check_fresh(run_dir)
        state = None
    holding = claimed(run_dir, fresh=not resume) if distributed.is_main() \
        else contextlib.nullcontext()
    with holding:
        try:
            return _train_in(run_dir, spec, state, device, quiet)
        except KeyboardInterrupt as interrupt:
            raise Interrupted(interrupt, _last_epoch(run_dir)) from None


def _train_in(run_dir, spec, state, device, quiet):
    recipe = recipe_for(spec.model)
    if state is not None:
        check_fingerprint(state.get("data_files", []))
    dataset = _load_in_turn(spec, device, run_dir)
    if quiet is not True and distributed.is_main():
        _describe_data(spec, dataset)
    set_seed(spec.train.seed)
    config = recipe.config(spec, dataset)
    sizes = ", ".join(f"{name}={getattr(spec, name)}" for name in recipe.options
                      if name in ("latent_dim", "hidden", "components", "flow", "channels"))
    check_memory("sizes", sizes, training_bytes(spec.model, config), device)
    lvm = build_model(spec.model, config).to(device)
    trainer = Trainer(lvm, spec.train, device=device)
    if state is not None:
        trainer.load_state_dict(state)
        files = state.get("data_files", [])
    else:
        files = fingerprint(spec.data)
        if recipe.prepare is not None:
            recipe.prepare(lvm, dataset.train, spec)
    if distributed.is_main() and (state is None or not has_test_split(run_dir)):
        save_test_split(dataset, run_dir)  # once: a resumed run keeps its copy
    extra = {"kind": spec.model, "model_config": config, "spec": spec_to_dict(spec),
             "data_files": files}
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


def _describe_data(spec, dataset):
    """Print a table's inferred schema and, with ``missing``, how much is missing."""
    if dataset.schema is not None:
        print(f"columns of {spec.data}:")
        print("\n".join(describe_schema(dataset.schema)))
    if spec.missing:
        missing = sum(int(torch.isnan(part).sum()) for part in (dataset.train, dataset.test))
        cells = dataset.dim * (dataset.train.shape[0] + dataset.test.shape[0])
        print(f"missing: {missing} of {cells} cells ({100 * missing / cells:.1f}%)"
              if missing else "missing: none (the data have no missing cells; --missing "
              "changes nothing but the encoder's input)")


def _load_in_turn(spec, device, run_dir):
    """The run's data, read by rank 0 first (which alone writes its conversions into the
    directory it holds), then by the other processes of a distributed run."""
    dataset = load_data(spec, device, run_dir) if distributed.is_main() else None
    distributed.agree(None)
    return dataset if dataset is not None else load_data(spec, device, run_dir)


class Interrupted(KeyboardInterrupt):
    """A ``train`` stopped by Ctrl-C (or SIGTERM): says which checkpoint the run kept."""

    def __init__(self, cause, epoch):
        self.signal = getattr(cause, "signal", None)
        self.epoch = epoch
        super().__init__("interrupted before the first checkpoint; nothing was kept"
                         if epoch is None else
                         f"interrupted; the last checkpoint is epoch {epoch}")


def _last_epoch(run_dir):
    path = Path(run_dir) / CHECKPOINT
    try:
        return int(load_checkpoint(path)["epoch"]) if path.is_file() else None
    except (ValueError, KeyError):
        return None


def load_run(run_dir, device=None, test_only=False):
    """``(lvm, dataset, spec)`` of the run in ``run_dir``, the model in evaluation mode.

    ``dataset`` is the run's data set, read from its source, whose files must be unchanged
    since the run started.  With ``test_only`` it is instead the run's own copy of its test
    set (``run_data``; both parts of the ``DataSplit`` are the test rows), so the run need
    not be where it was trained, nor its source where it was: ``evaluate``, ``diagnose``,
    ``sample`` and ``encode`` read it that way.  Runs made before 0.2.1, without that copy,
    read their data from the source either way.
    """
    device = resolve_device(device)
    state, spec = _load_state(run_dir, device)
    remove_stale_temporaries(run_dir)
    dataset = load_test_split(run_dir, device) if test_only else None
    if dataset is None:
        check_fingerprint(state.get("data_files", []))
        dataset = load_data(spec, device, Path(run_dir))
    lvm = build_model(state["kind"], state["model_config"]).to(device)
    try:
        lvm.load_state_dict(state["model"])
    except (RuntimeError, TypeError) as error:
        raise bad_value("checkpoint", str(Path(run_dir) / CHECKPOINT),
                        f"weights that fit the run's model ({' '.join(str(error).split())[:240]})"
                        ) from None
    lvm.eval()
    return lvm, dataset, spec


def evaluate_run(run_dir, num_samples=1000, device=None, seed=0, gaps=False, gap_steps=300,
                 quiet=None):
    """Evaluate the run's model on its test set; writes ``evaluation.json``.

    With ``gaps``, also split the gap log p(x) − ELBO into its approximation and amortization
    parts (``inference_gaps``). The split is of its own estimates, which it reports beside the
    parts so that they add up: ``split_log_px`` (importance sampled with the fitted
    per-datapoint guide as proposal, the closer one) minus ``split_elbo`` (the amortized
    guide's ELBO, fresh draws) is ``approximation_gap + amortization_gap``.
    """
    check_size("num_samples", num_samples, MAX_SAMPLES)
    check_int("gap_steps", gap_steps)
    lvm, dataset, _ = load_run(run_dir, device, test_only=True)
    check_writable("run_dir", run_dir)
    set_seed(seed)
    metrics = evaluate(lvm, dataset, num_samples)
    if gaps:
        parts = inference_gaps(lvm.model, lvm.guide, dataset.test, num_samples, steps=gap_steps,
                               quiet=quiet)
        metrics.update({name: float(parts[name].mean())
                        for name in ("approximation_gap", "amortization_gap", "elbo_local")})
        metrics.update(split_log_px=float(parts["log_px"].mean()),
                       split_elbo=float(parts["elbo_amortized"].mean()))
    write_json(metrics, Path(run_dir) / "evaluation.json")
    return metrics


def sample_run(run_dir, num_samples=100, device=None, seed=0, out=None, means=False):
    """Draw ``num_samples`` rows x ~ p(x) from the run's model (x ~ p(x | z) at prior draws
    z ~ p(z)); with ``means``, the decoder means E[x | z] instead (a model with a decoder).

    For images and matrices: written as a PNG (of the first ``PICTURE_IMAGES`` for images, in a
    square-ish grid) and a ``.npy`` of all of them beside it; returns both paths.
    For a table: rows x ~ p(x | z) in the table's own columns and levels, written as a CSV
    (``out`` ends in ``.csv``); returns ``(csv_path, None)``.
    """
    check_int("num_samples", num_samples)
    lvm, dataset, _ = load_run(run_dir, device, test_only=True)
    if means and "means" not in inspect.signature(lvm.generate).parameters:
        raise bad_value("means", means, f"False for a {type(lvm).__name__} run (it has no "
                        "decoder means: its samples are draws of x)")
    schema = table_schema(lvm)
    suffix = ".png" if schema is None else ".csv"
    out = Path(out) if out is not None else Path(run_dir) / f"samples-{num_samples}{suffix}"
    if out.suffix.lower() != suffix:
        raise bad_value("out", str(out), "a path ending in .png (the array is written beside "
                        "it, as .npy)" if schema is None else
                        "a path ending in .csv (a run on a table samples rows of the table)")
    check_writable("out", out.parent)
    # the draws, their decoded values and the host copy of them
    check_memory("num_samples", num_samples, 3 * 4 * num_samples * dataset.dim,
                 dataset.test.device)
    set_seed(seed)
    if schema is not None:
        with torch.no_grad():
            rows = lvm.decode(lvm.prior().sample((num_samples,))).sample().cpu()
        return write_frame(rows_frame(rows, lvm), out), None
    samples = (lvm.generate(num_samples, means=True) if means else lvm.generate(num_samples)).cpu()
    what = "decoder means E[x | z], z ~ p(z)" if means else "draws x ~ p(x)"
    if dataset.image_shape is not None:
        shown = min(num_samples, PICTURE_IMAGES)
        plots.image_grid(samples[:shown], dataset.image_shape, out,
                         f"{num_samples} {what}" if shown == num_samples else
                         f"the first {shown} of {num_samples} {what}",
                         columns=math.ceil(math.sqrt(shown)))
    else:
        plots.scatter_pairs(dataset.test.cpu(), samples, out, labels=("test data", f"model: {what}"))
    array_path = write_atomically(out.with_suffix(".npy"),
                                  lambda handle: np.save(handle, samples.numpy()))
    return out, array_path

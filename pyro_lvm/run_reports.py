"""Diagnose, encode and impute with a run directory: the application layer's use of the
diagnostics and of the imputation.

``diagnose_run``, ``encode_run`` and ``impute_run`` load a run (``pyro_lvm.runs.load_run``)
and hand its model, guide and data to ``pyro_lvm.diagnostics.diagnose``,
``pyro_lvm.diagnostics.encode`` and ``pyro_lvm.infer.impute``, which know nothing of run
directories.
"""

import json
from pathlib import Path

import pandas as pd

from .checks import MAX_SAMPLES, check_int, check_memory, check_size
from .diagnostics import diagnose, encode
from .diagnostics.report import DIRECTORY, NUM_SAMPLES
from .errors import bad_value
from .infer import impute, impute_draws
from .runs import load_run
from .runs.directory import check_writable
from .runs.rows import read_rows, rows_frame, write_frame
from .runtime import resolve_device, set_seed

FORMATS = (".csv", ".npy")


def _check_out(out):
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise bad_value("out", str(out), f"a path ending in one of {FORMATS}")
    return out


def encode_run(run_dir, data, out, sample=False, batch_size=1024, device=None, seed=0,
               num_samples=64):
    """Encode the rows of ``data`` with the guide of the run in ``run_dir`` and write
    ``encode``'s table to ``out`` (``.csv`` with a header, or ``.npy`` holding a structured
    array whose field names are the columns).

    ``data`` is a .csv, .npy or .npz file of rows (images flattened) used as the file holds
    them (no binarization), or for a run on a table a table with the run's columns, whose row
    index then leads the output.  The rows must suit the run's likelihood.  Returns the path
    written.
    """
    out = _check_out(out)
    device = resolve_device(device)
    check_size("num_samples", num_samples, MAX_SAMPLES)
    check_int("batch_size", batch_size)
    lvm, _, spec = load_run(run_dir, device, test_only=True)
    check_writable("out", out.parent)
    rows, index = read_rows(lvm, spec, data)
    set_seed(seed)
    table = encode(lvm.guide, rows.to(device), sample, num_samples, batch_size)
    if index is not None:
        table.index = index
    return write_frame(table, out)


def impute_run(run_dir, data, out, draws=0, num_samples=1000, batch_size=256, device=None,
               seed=0):
    """Fill in the missing cells of ``data`` with the run's model (built with ``missing``):
    their importance-weighted conditional means (``infer.impute``), or with ``draws = M`` M
    multiple imputations (``infer.impute_draws``: ``M`` copies of the rows, numbered by a
    leading ``imputation`` column).  Written to ``out`` (``.csv`` or ``.npy``) in the table's
    own columns, levels and row index; observed cells are unchanged.  Returns the path."""
    out = _check_out(out)
    device = resolve_device(device)
    check_size("num_samples", num_samples, MAX_SAMPLES)
    check_int("draws", draws, 0)
    check_int("batch_size", batch_size)
    lvm, _, spec = load_run(run_dir, device, test_only=True)
    if not getattr(lvm, "missing", False):
        raise bad_value("run_dir", str(run_dir), "a run trained with --missing (its model has "
                        "no missing values to fill in)")
    check_writable("out", out.parent)
    rows, index = read_rows(lvm, spec, data)
    check_memory("num_samples", num_samples, 4 * 4 * min(batch_size, rows.shape[0])
                 * num_samples * (lvm.likelihood.num_outputs + lvm.latent_dim), device)
    rows = rows.to(device)
    set_seed(seed)
    if not draws:
        frame = rows_frame(impute(lvm, rows, num_samples, batch_size).cpu(), lvm, index)
    else:
        filled = impute_draws(lvm, rows, draws, num_samples, batch_size).cpu()
        frame = pd.concat([rows_frame(part, lvm, index) for part in filled],
                          keys=range(1, draws + 1), names=["imputation"])
        frame = frame.reset_index(level=0)
    return write_frame(frame, out)


def _about(run_dir, spec, history):
    """The run a report describes, in the words of its ``train`` options."""
    about = {"run directory": str(run_dir), "model": spec.model, "data": spec.data}
    if spec.model == "vae":
        about.update(likelihood=spec.likelihood, guide=spec.guide, prior=spec.prior,
                     networks=spec.arch if spec.arch == "mlp" else
                     f"conv, channels {','.join(map(str, spec.channels))}")
    about.update({"latent dimensions": spec.latent_dim,
                  "epochs trained": len(history) if history else "unknown (no history.json)",
                  "objective": spec.train.elbo, "seed": spec.train.seed})
    return about


def diagnose_run(run_dir, device=None, quiet=None, num_samples=NUM_SAMPLES, seed=0):
    """Diagnose the run in ``run_dir`` on its test set; writes ``RUN_DIR/diagnostics/``
    (report.html, diagnostics.json, PNGs) and returns the verdict numbers."""
    check_size("num_samples", num_samples, MAX_SAMPLES)
    lvm, dataset, spec = load_run(run_dir, device, test_only=True)
    check_writable("run_dir", run_dir)
    history_path = Path(run_dir) / "history.json"
    history = json.loads(history_path.read_text()) if history_path.is_file() else None
    verdict = diagnose(lvm, dataset, Path(run_dir) / DIRECTORY, history, num_samples,
                       seed=seed, quiet=quiet, about=_about(run_dir, spec, history))
    return {**verdict, "report": str(Path(run_dir) / DIRECTORY / "report.html")}


"""Diagnose and encode a run directory: the application layer's use of the diagnostics.

``diagnose_run`` and ``encode_run`` load a run (``pyro_lvm.runs.load_run``) and
hand its model, guide and data to ``pyro_lvm.diagnostics.diagnose`` and
``pyro_lvm.diagnostics.encode``, which know nothing of run directories.
"""

import json
from pathlib import Path

import numpy as np

from .checkpoint import write_atomically
from .checks import MAX_SAMPLES, check_int, check_size
from .data import load_array_file, validate_data
from .diagnostics import diagnose, encode
from .diagnostics.report import DIRECTORY, NUM_SAMPLES
from .errors import bad_value
from .runs import load_run
from .runs.directory import check_writable
from .runs.recipes import data_likelihood
from .runtime import resolve_device, set_seed

FORMATS = (".csv", ".npy")


def _write_table(table, handle, suffix):
    if suffix == ".csv":
        handle.write(table.to_csv(index=False, float_format="%.7g").encode())
    else:  # a structured array: the header names the columns, no pickle needed to read it
        np.save(handle, table.to_records(index=False), allow_pickle=False)


def encode_run(run_dir, data, out, sample=False, batch_size=1024, device=None, seed=0,
               num_samples=64):
    """Encode the rows of ``data`` (a .csv, .npy or .npz file, images flattened) with the
    guide of the run in ``run_dir`` and write ``encode``'s table to ``out`` (``.csv`` with
    a header, or ``.npy`` holding a structured array whose field names are the columns).

    The rows are used as the file holds them (no binarization) and must suit the run's
    likelihood.  Returns the path written.
    """
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise bad_value("out", str(out), f"a path ending in one of {FORMATS}")
    device = resolve_device(device)
    check_size("num_samples", num_samples, MAX_SAMPLES)
    check_int("batch_size", batch_size)
    lvm, _, spec = load_run(run_dir, device, test_only=True)
    check_writable("out", out.parent)
    rows = load_array_file(data, test_fraction=0.0).train
    rows = validate_data(rows, likelihood=data_likelihood(spec), argument=f"data {data}")
    rows = rows.to(device)
    set_seed(seed)
    table = encode(lvm.guide, rows, sample, num_samples, batch_size)
    return write_atomically(out, lambda handle: _write_table(table, handle, out.suffix.lower()))


def diagnose_run(run_dir, device=None, quiet=None, num_samples=NUM_SAMPLES, seed=0):
    """Diagnose the run in ``run_dir`` on its test set; writes ``RUN_DIR/diagnostics/``
    (report.html, diagnostics.json, PNGs) and returns the verdict numbers."""
    check_size("num_samples", num_samples, MAX_SAMPLES)
    lvm, dataset, _ = load_run(run_dir, device, test_only=True)
    check_writable("run_dir", run_dir)
    history_path = Path(run_dir) / "history.json"
    history = json.loads(history_path.read_text()) if history_path.is_file() else None
    verdict = diagnose(lvm, dataset, Path(run_dir) / DIRECTORY, history, num_samples,
                       seed=seed, quiet=quiet)
    return {**verdict, "report": str(Path(run_dir) / DIRECTORY / "report.html")}


"""Diagnose, compare, encode and impute with run directories: the application layer's use
of the diagnostics and of the imputation.

``diagnose_run``, ``compare_runs``, ``encode_run`` and ``impute_run`` load runs
(``pyro_lvm.runs.load_run``) and hand their models, guides and data to
``pyro_lvm.diagnostics`` and ``pyro_lvm.infer.impute``, which know nothing of run directories.
"""

import json
import time
from pathlib import Path

import pandas as pd
import torch

from .checks import MAX_SAMPLES, check_int, check_memory, check_size
from .checkpoint import write_atomically, write_json
from .diagnostics import compare_elpd, comparison_rows, diagnose, encode, pictures
from .diagnostics.calibration import calibrate, calibration_record
from .diagnostics.compare import pointwise_log_px
from .diagnostics.pages import html_page, html_table, image_html
from .diagnostics.report import DIRECTORY, NUM_SAMPLES, update_calibration
from .progress import Progress
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



def calibrate_run(run_dir, num_simulations=500, num_draws=99, reweight=False, device=None,
                  seed=0):
    """Simulation-based calibration of the run's guide (``diagnostics.calibrate``): writes
    ``RUN_DIR/diagnostics/calibration.json`` and ``calibration.png`` and, where ``diagnose``
    has written its report, puts the verdict there (diagnostics.json, report.html's verdict
    and calibration section); returns ``calibrate``'s result with ``json`` and ``picture``,
    the paths written."""
    lvm, dataset, _ = load_run(run_dir, device, test_only=True)
    out = Path(run_dir) / DIRECTORY
    out.mkdir(exist_ok=True)
    check_writable("run_dir", out)
    result = calibrate(lvm.model, lvm.guide, dataset.test, num_simulations, num_draws,
                       reweight=reweight, seed=seed)
    record = write_json(calibration_record(result), out / "calibration.json")
    picture = pictures.rank_histograms(result, out / "calibration.png")
    update_calibration(out, result, picture)
    return {**result, "json": str(record), "picture": str(picture)}


def _run_names(run_dirs):
    """Each run's directory name, or its whole path where two names are the same."""
    names = [Path(run_dir).name or str(run_dir) for run_dir in run_dirs]
    return [name if names.count(name) == 1 else str(run_dir)
            for name, run_dir in zip(names, run_dirs)]


def compare_runs(run_dirs, out="compare", num_samples=NUM_SAMPLES, device=None, seed=0,
                 quiet=None):
    """Compare runs on their common test set by held-out elpd (``diagnostics.compare_elpd``):
    writes ``out/compare.json``, ``out/compare.png`` and ``out/compare.html`` and returns
    ``{"table": [...], "num_rows", "num_samples", "seconds", "page"}``.

    Every run must have been tested on the same rows (the same data, split and seed); runs
    with other test rows are refused before anything is computed."""
    start = time.perf_counter()
    if isinstance(run_dirs, (str, Path)) or len(run_dirs) < 2:
        raise bad_value("run_dirs", run_dirs, "at least 2 run directories")
    check_size("num_samples", num_samples, MAX_SAMPLES)
    device = resolve_device(device)
    runs = [load_run(run_dir, device, test_only=True) for run_dir in run_dirs]
    names = _run_names(run_dirs)
    test = runs[0][1].test
    for name, (_, dataset, _) in zip(names[1:], runs[1:]):
        if dataset.test.shape != test.shape or not torch.equal(dataset.test, test):
            raise bad_value("run_dirs", name, f"a run tested on the same {test.shape[0]} rows "
                            f"as {names[0]} (runs on other data, another split or seed are "
                            "not comparable)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    check_writable("out", out)
    progress = Progress(len(runs), "compare", quiet)
    log_px, khat, methods = {}, {}, {}
    for name, (lvm, dataset, _) in zip(names, runs):
        set_seed(seed)
        log_px[name], khat[name], methods[name] = pointwise_log_px(lvm, dataset.test,
                                                                   num_samples)
        progress.update(name)
    progress.close()
    table = compare_elpd(log_px, khat)
    directories = dict(zip(names, run_dirs))
    for entry in table:
        entry.update(run_dir=str(directories[entry["name"]]), method=methods[entry["name"]])
    result = {"table": table, "num_rows": int(test.shape[0]), "num_samples": num_samples,
              "seconds": time.perf_counter() - start}
    write_json(result, out / "compare.json")
    picture = pictures.comparison_plot(table, out / "compare.png")
    specs = {name: spec for name, (_, _, spec) in zip(names, runs)}
    write_atomically(out / "compare.html", lambda handle: handle.write(
        _comparison_page(result, specs, picture).encode()))
    return {**result, "page": str(out / "compare.html")}


def _comparison_page(result, specs, picture):
    from . import __version__

    rows = comparison_rows(result["table"], result["num_rows"])
    runs = [(entry["name"], entry["run_dir"], specs[entry["name"]].model,
             specs[entry["name"]].guide if specs[entry["name"]].model == "vae" else "",
             specs[entry["name"]].train.epochs, entry["method"]) for entry in result["table"]]
    reading = (
        "<p><b>elpd</b> = Σ_i log p(x_i) over the test rows: the held-out expected log "
        "predictive density, higher is better; <b>se</b> its standard error √(n Var_i log "
        "p(x_i)). <b>elpd_diff</b> is the best run's elpd minus this run's, and <b>se_diff</b> "
        "its standard error from the paired per-row differences, much smaller than the "
        "unpaired √(se_best² + se²) because the runs find the same rows hard. A difference "
        "of more than about 2 se_diff (diff/se &gt; 2) is real; within that, the runs are not "
        "distinguishable on these rows. log p(x_i) is exact where the model has it and "
        "importance sampled otherwise; there, rows with PSIS k̂ &gt; 0.7 make the estimate "
        "unreliable and the run is flagged: more draws (--num-samples) or a better guide "
        "help.</p>")
    about = [("test rows", result["num_rows"]),
             ("importance draws per row", result["num_samples"]),
             ("date", time.strftime("%Y-%m-%d %H:%M")), ("pyro_lvm version", __version__)]
    return html_page("Model comparison: held-out elpd", [
        ("This comparison", html_table(("what", "value"), about)),
        ("Runs", html_table(("run", "directory", "model", "guide", "epochs", "log p(x)"),
                            runs)),
        ("Ranking", html_table(rows[0], rows[1:]) + reading),
        ("Picture", image_html(picture, "elpd ± se of each run (black), and the best run's "
                               "elpd − elpd_diff ± the paired se_diff (grey)"))])

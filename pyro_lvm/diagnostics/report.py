"""``diagnostics/`` of a run: report.html (self-contained), diagnostics.json and the PNGs.

The verdict answers "did the variational fit work?" in a few numbers: the shares of test rows
with PSIS k̂ ≤ 0.5, in (0.5, 0.7] and > 0.7, the importance-sampling ESS, the active units,
the gap log p(x) − ELBO, and whether the ELBO had stopped moving.
"""

import html
import json
import math
import re
import time
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import finite_or_none, write_atomically, write_json
from ..data import DataSplit
from ..progress import Progress
from ..runtime import set_seed
from . import arviz_adapter, pictures
from .calibration import NotCalibratable, calibrate, calibration_record, calibration_rows
from .collapse import ACTIVITY_THRESHOLD, collapse_diagnostics
from .convergence import convergence_text, elbo_convergence
from .inference_data import OBS_DIM, guide_trace, local_latent, to_inference_data
from .pages import html_page, html_table, image_html, replace_section
from .predictive import EXTREME, predictive_checks
from .psis import GOOD, UNRELIABLE, draws_needed, khat_bins, psis_diagnostics, reweighted_means

DIRECTORY = "diagnostics"
#: 2500 ≥ 2155 draws: enough for k̂ to be trusted up to the 0.7 threshold (see ``psis``).
NUM_SAMPLES = 2500
SUMMARY_ROWS = 5
CALIBRATION = "Calibration of q(z | x) (simulation-based calibration)"
#: The verdict's row for the calibration.
CALIBRATION_ROW = "calibration (SBC)"
HDI_PROB = 0.94
#: Posterior predictive checks cover the first features (``ppc.png`` draws the first 6): a
#: table's columns rarely number more, and past that the report's table grows long.
CHECKED_FEATURES = 20


def _numbers(array):
    return np.asarray(array, dtype=float).tolist()


def _share(count, total):
    return f"{count} of {total} ({100 * count / total:.1f}%)"


def verdict_rows(verdict):
    """The verdict as ``(what, value)`` rows of text (what ``pyro-lvm diagnose`` prints)."""
    n, s = verdict["num_observations"], verdict["num_draws"]
    rows = [("khat <= 0.5 (good)", _share(verdict["khat_good"], n)),
            ("khat 0.5-0.7 (ok)", _share(verdict["khat_ok"], n)),
            ("khat > 0.7 (unreliable)", _share(verdict["khat_bad"], n)),
            ("IS-ESS median (min)", f"{verdict['ess_median']:.0f} ({verdict['ess_min']:.0f}) "
                                    f"of {s} draws"),
            ("active units", f"{verdict['active_units']} of {verdict['latent_dim']}"),
            ("ELBO, log p(x) (nats)", f"{verdict['elbo']:.3f}, {verdict['log_px']:.3f}"),
            ("gap log p(x) - ELBO", f"{verdict['gap']:.3f}")]
    if verdict.get("calibration") is not None:
        rows.append((CALIBRATION_ROW, verdict["calibration"]))
    rows.append(("ELBO converged", convergence_text(verdict["converged"],
                                                    verdict["final_relative_change"])))
    return rows


def _pictures(lvm, dataset, idata, found, out_dir, seed):
    """Write the PNGs that apply to this model and data; returns ``[(path, caption)]``."""
    made = []
    conv, psis, collapse = found["convergence"], found["psis"], found["collapse"]
    if conv is not None:
        made.append((pictures.elbo_trace(conv["train"], out_dir / "elbo.png", conv["test"]),
                     "ELBO per epoch, trend and stopping signal"))
    made.append((pictures.khat_plot(psis["khat"], out_dir / "khat.png"),
                 "PSIS k̂ per test observation"))
    made.append((pictures.kl_per_dimension(collapse["kl_per_dim"].cpu(), collapse["active"].cpu(),
                                           out_dir / "kl.png"),
                 f"KL per latent dimension ({collapse['kl_method']})"))
    made.append((pictures.latent_embedding(collapse["posterior_mean"].cpu(),
                                           out_dir / "embedding.png", found["labels"]),
                 "2-D embedding of the test set"))
    draws = idata["posterior"]["z"].values[0]  # (draws, rows, latent), or (draws, rows)
    if draws.ndim == 3 and draws.shape[-1] >= 2:
        worst = int(np.argmax(psis["khat"]))
        title = f"observation {worst}, k̂ = {psis['khat'][worst]:.2f}"
        made.append((pictures.posterior_pair(draws[:, worst], psis["log_weights"][:, worst],
                                             title, out_dir / "pair.png", seed),
                     "q(z|x) against PSIS-reweighted draws for the observation with the "
                     "largest k̂"))
    decode = getattr(lvm, "decode", None)
    if dataset.image_shape is not None and decode is not None:
        means = collapse["posterior_mean"]
        order = torch.argsort(collapse["kl_per_dim"], descending=True)
        dims = [int(j) for j in order if collapse["active"][j]][:8] or [int(order[0])]
        made.append((pictures.traversals(decode, dims, collapse["prior_mean"],
                                         collapse["prior_sd"], dataset.image_shape,
                                         out_dir / "traversals.png"), "latent traversals"))
        pairs = min(6, len(means) // 2)
        if pairs:
            made.append((pictures.interpolations(decode, means[:pairs],
                                                 means[pairs:2 * pairs], dataset.image_shape,
                                                 out_dir / "interpolations.png"),
                         "interpolations in latent space"))
    if "posterior_predictive" in arviz_adapter.group_names(idata):
        names, _, levels = _columns(lvm, dataset, idata["observed_data"]["x"].shape[-1])
        made.append((pictures.posterior_predictive(idata, out_dir / "ppc.png", seed=seed,
                                                   names=names, levels=levels),
                     "posterior predictive check"))
    return made


def _columns(lvm, dataset, features):
    """``(names, kinds, levels)`` of a table's columns (the model's schema, else the data's),
    a categorical column's levels, ``None`` for the others; ``(None, None, None)`` when the
    data are no table of ``features`` columns."""
    schema = getattr(lvm, "schema", None) or dataset.schema
    if schema is None or len(schema) != features:
        return None, None, None
    return ([column.name for column in schema], [column.kind for column in schema],
            [column.levels or None for column in schema])


def _predictive_checks(lvm, dataset, idata):
    """``predictive_checks`` of the first ``CHECKED_FEATURES`` features of the posterior
    predictive, in a table's column names, kinds and levels; ``None`` without one (image data
    get no predictive draws: ``diagnose``)."""
    if "posterior_predictive" not in arviz_adapter.group_names(idata):
        return None
    observed = np.asarray(idata["observed_data"]["x"].values, dtype=float)
    replicated = np.asarray(idata["posterior_predictive"]["x"].values, dtype=float)
    features = observed.shape[-1]
    shown = min(features, CHECKED_FEATURES)
    # chains pooled; plates nested inside the data plate add cells to each feature
    observed = observed.reshape(-1, features)[:, :shown]
    replicated = replicated.reshape(-1, observed.shape[0], features)[..., :shown]
    names, kinds, levels = (None if facts is None else facts[:shown]
                            for facts in _columns(lvm, dataset, features))
    return predictive_checks(observed, replicated, kinds, names, levels)


def _summary_table(idata, psis, rows):
    """``az.summary`` of z for the first ``rows`` observations, with PSIS-reweighted means."""
    shown = list(range(min(rows, idata["posterior"]["z"].shape[2])))
    table = arviz_adapter.summary(idata, ["z"], {OBS_DIM: shown}, HDI_PROB)
    draws = idata["posterior"]["z"].values[0][:, shown]
    means = reweighted_means(draws, psis["log_weights"][:, shown], psis["khat"][shown])
    table["psis_mean"] = means.reshape(-1)
    table["khat"] = np.repeat(psis["khat"][shown], int(np.prod(draws.shape[2:])))
    return table


@torch.no_grad()
def diagnose(lvm: torch.nn.Module, dataset: DataSplit, out_dir: str | Path,
             history: list[dict] | None = None, num_samples: int = NUM_SAMPLES,
             max_rows: int = 1000, seed: int = 0, quiet: bool | None = None,
             about: dict | None = None) -> dict:
    """Diagnose the pair ``lvm.model`` / ``lvm.guide`` on the test set of ``dataset`` (its
    train set when it has none); write ``out_dir``; return the verdict numbers.

    Args:
        lvm: a module with ``model`` and ``guide`` (the guide samples a local ``"z"``).
        dataset: a ``DataSplit``; its test rows are diagnosed.
        out_dir: where ``report.html``, ``diagnostics.json`` and the PNGs go.
        history: the per-epoch records of ``history.json``; they add the convergence check.
        num_samples: importance draws per row for PSIS (2155 or more for k̂ near 0.7).
        max_rows: PSIS, the summaries and the pair plot use the first ``max_rows`` rows;
            collapse and the embedding use every row.
        seed: seeds the draws.
        quiet: no progress (``None``: a bar on a terminal, a line per stage otherwise).
        about: what the report describes, name → value (the run's model, data, guide,
            epochs, ...), shown first with the date, the package version and the draws.

    Returns:
        The verdict as a dict of numbers: the shares of rows in each k̂ bin, ESS, active
            units, ELBO, log p(x), gap, convergence and the seconds taken.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    x = dataset.test if dataset.test is not None else dataset.train
    local_latent(guide_trace(lvm.guide, x[:1], 1), "z")  # before any long work
    labels = dataset.test_labels if dataset.test is not None else dataset.train_labels
    progress = Progress(4, "diagnose", quiet)
    set_seed(seed)
    idata = to_inference_data(lvm.model, lvm.guide, x[:max_rows], num_samples,
                              num_predictive=100 if dataset.image_shape is None else 0)
    log_w = idata["sample_stats"]["log_weight"].values[0]
    psis = psis_diagnostics(log_w)
    log_px = np.logaddexp.reduce(log_w, axis=0) - math.log(num_samples)
    progress.update(f"importance weights and PSIS ({num_samples} draws per row)")
    collapse = collapse_diagnostics(lvm.model, lvm.guide, x)
    progress.update("KL per dimension and active units")
    summary = _summary_table(idata, psis, SUMMARY_ROWS)
    convergence = None if not history else {
        "train": elbo_convergence(history),
        "test": elbo_convergence(history, "test_elbo") if "test_elbo" in history[0] else None}
    progress.update("summary and convergence")
    found = {"psis": psis, "collapse": collapse, "convergence": convergence,
             "labels": None if labels is None else labels.cpu()}
    made = _pictures(lvm, dataset, idata, found, out_dir, seed)
    checks = _predictive_checks(lvm, dataset, idata)
    calibration = _calibration(lvm, x, out_dir, seed)
    progress.update("pictures and calibration")
    verdict = {"num_observations": log_w.shape[1], "num_draws": num_samples,
               **khat_bins(psis["khat"]),
               "khat_max": float(np.max(psis["khat"])),
               "ess_median": float(np.median(psis["ess"])), "ess_min": float(np.min(psis["ess"])),
               "active_units": collapse["num_active"], "latent_dim": len(collapse["active"]),
               "elbo": float(log_w.mean()), "log_px": float(log_px.mean()),
               "gap": float((log_px - log_w.mean(0)).mean()),
               "converged": None if convergence is None else convergence["train"]["converged"],
               "final_relative_change": None if convergence is None else
               convergence["train"]["final_relative_change"],
               "calibration": calibration["result"]["short"] if "result" in calibration
               else None}
    verdict["seconds"] = time.perf_counter() - start
    verdict = finite_or_none(verdict)  # as diagnostics.json holds it
    from .. import __version__  # the package has loaded by the time a report is written
    about = {**(about or {}), "test rows diagnosed": log_w.shape[1],
             "importance draws per row": num_samples, "date": time.strftime("%Y-%m-%d %H:%M"),
             "pyro_lvm version": __version__}
    parts = {"psis": psis, "collapse": collapse, "summary": summary, "convergence": convergence,
             "checks": checks, "features": x.shape[-1], "calibration": calibration}
    _write(out_dir, verdict, parts, made, about)
    progress.close()
    return verdict


def _calibration(lvm, x, out_dir, seed):
    """SBC of the guide with ``calibrate``'s defaults and its picture, ``{"result", "picture"}``;
    or ``{"why": ...}`` for a model it does not apply to (global latents, several observed
    sites)."""
    try:
        result = calibrate(lvm.model, lvm.guide, x, seed=seed)
    except NotCalibratable as error:
        return {"why": str(error)}
    return {"result": result,
            "picture": pictures.rank_histograms(result, out_dir / "calibration.png")}


def update_calibration(out_dir, result, picture):
    """Put a new ``calibrate`` result (and its picture) into ``out_dir``'s diagnostics.json and
    report.html where ``diagnose`` wrote them: the record, the verdict's row and the
    calibration section; files not there are left alone."""
    calibration = {"result": result, "picture": picture}
    record_path, page_path = out_dir / "diagnostics.json", out_dir / "report.html"
    if record_path.is_file():
        record = json.loads(record_path.read_text())
        record["calibration"] = calibration_record(result)
        record["verdict"]["calibration"] = result["short"]
        write_json(record, record_path)
    if page_path.is_file():
        page = replace_section(page_path.read_text(), CALIBRATION, _calibration_html(calibration))
        page = re.sub(f"(<td>{re.escape(html.escape(CALIBRATION_ROW))}</td><td>)[^<]*(</td>)",
                      lambda found: found[1] + html.escape(result["short"]) + found[2], page)
        write_atomically(page_path, lambda handle: handle.write(page.encode()))


def _write(out_dir, verdict, parts, made, about):
    """``diagnostics.json`` and ``report.html`` from the verdict, the ``parts`` that
    ``diagnose`` computed, the pictures ``made`` and what the report is ``about``."""
    psis, collapse, summary, convergence = (parts[key] for key in (
        "psis", "collapse", "summary", "convergence"))
    checks, features, calibration = parts["checks"], parts["features"], parts["calibration"]
    record = {"verdict": verdict,
              "khat": _numbers(psis["khat"]), "ess": _numbers(psis["ess"]),
              "kl_per_dim": _numbers(collapse["kl_per_dim"].cpu()),
              "kl_se": _numbers(collapse["kl_se"].cpu()), "kl_method": collapse["kl_method"],
              "activity": _numbers(collapse["activity"].cpu()),
              "active": [bool(a) for a in collapse["active"]],
              "summary": json.loads(summary.to_json(orient="index")),
              "convergence": None if convergence is None else {
                  "stop_epoch": convergence["train"]["stop_epoch"],
                  "tolerance": convergence["train"]["tolerance"],
                  "trend": _numbers(convergence["train"]["trend"]),
                  "relative_change": _numbers(convergence["train"]["relative_change"])},
              "predictive_checks": checks,
              "calibration": calibration_record(calibration["result"])
              if "result" in calibration else {"not_applicable": calibration["why"]}}
    write_json(record, out_dir / "diagnostics.json")
    kl_rows = [(j, f"{kl:.4f}", f"{a:.4f}", "yes" if on else "no") for j, (kl, a, on) in
               enumerate(zip(collapse["kl_per_dim"].tolist(), collapse["activity"].tolist(),
                             collapse["active"].tolist()))]
    sections = [
        ("This report", html_table(("what", "value"), list(about.items()))),
        ("Verdict", html_table(("what", "value"), verdict_rows(verdict))),
        ("How to read it", _reading_guide(verdict)),
        ("Posterior collapse",
         f"<p>KL(q(z_j | x) ‖ p(z_j)): {html.escape(collapse['kl_method'])}.</p>"
         + html_table(("dimension", "mean KL (nats)", "activity", "active"), kl_rows)),
        (f"Posterior summaries (first {len(summary) // len(kl_rows)} observations, "
         f"{HDI_PROB:.0%} HDI; psis_mean is NaN where k̂ > 0.7)",
         summary.to_html(float_format=lambda v: f"{v:.3f}")),
        ("Convergence", _convergence_html(convergence)),
        (CALIBRATION, _calibration_html(calibration))]
    if checks is not None:
        sections.append(("Posterior predictive checks", _predictive_html(checks, features)))
    sections.append(("Pictures", ("" if checks is not None else _NO_PREDICTIVE)
                     + "".join(image_html(path, caption) for path, caption in made)))
    page = html_page("Did the variational fit work?", sections)
    write_atomically(out_dir / "report.html", lambda handle: handle.write(page.encode()))


def _reading_guide(verdict):
    """What each verdict line means and where its thresholds come from."""
    items = [
        f"<b>k̂</b> (Pareto-smoothed importance sampling, one per test observation) says how "
        f"well q(z | x) covers the posterior p(z | x): ≤ {GOOD} good, {GOOD}–{UNRELIABLE} "
        f"usable but slower, &gt; {UNRELIABLE} unreliable (q misses mass that p(z | x) has; "
        f"estimates built on q, log p(x) included, cannot be trusted there). k̂ itself is "
        f"reliable below 1 − 1/log10 S with S draws: {draws_needed()} draws for "
        f"{UNRELIABLE}; this report used {verdict['num_draws']}.",
        "<b>IS-ESS</b>: the effective number of the S importance draws; near S, q is close to "
        "the posterior.",
        f"<b>Active units</b>: a latent dimension whose posterior mean varies with the data "
        f"(variance over x of E_q[z_j | x] above {ACTIVITY_THRESHOLD}); an inactive one has "
        "collapsed to the prior (its KL near 0).",
        "<b>Gap</b> log p(x) − ELBO ≈ KL(q(z | x) ‖ p(z | x)), averaged over the test rows, "
        "in nats.",
        "<b>Converged</b>: the relative change of the ELBO's trend (a 5-epoch moving mean) "
        "over the last 5 epochs is below the tolerance.",
        "<b>z[i, j]</b> in the summaries is latent dimension j of test observation i; "
        "<code>psis_mean</code> is its PSIS-reweighted posterior mean."]
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def _convergence_html(convergence):
    if convergence is None:
        return "<p>No history.json: the ELBO history is unknown.</p>"
    train = convergence["train"]
    return html_table(
        ("epochs", "final ELBO trend", "relative change", "tolerance", "first below"),
        [(len(train["epochs"]), f"{train['trend'][-1]:.3f}",
          f"{train['final_relative_change']:.2e}", f"{train['tolerance']:g}",
          train["stop_epoch"] if train["stop_epoch"] is not None else "never")])


_NO_PREDICTIVE = ("<p>No posterior predictive check: image data get no predictive draws "
                  "here (the means and sds of hundreds of single pixels would be noise and "
                  "false alarms by multiple testing); the traversals and interpolations show "
                  "what the decoder draws.</p>")


def _predictive_html(checks, features):
    """The posterior predictive checks as a table, with how to read the p-values."""
    shown = min(features, CHECKED_FEATURES)
    rows = [(check["feature"], check["statistic"], f"{check['observed']:.4g}",
             f"{check['replicated_mean']:.4g} [{check['replicated_low']:.4g}, "
             f"{check['replicated_high']:.4g}]",
             f"{check['p_value']:.3f}" + (" (extreme)" if check["extreme"] else ""))
            for check in checks]
    return (f"<p>For each test statistic T of a feature (over its observed cells), the data's "
            f"T(x) against T(x̃) of replicated data sets x̃ ~ p(x | z), z ~ q(z | x) (mean and "
            f"5–95% range over the draws), and p = P(T(x̃) ≥ T(x)), ties counted half. p near 0 "
            f"or 1 means the model cannot reproduce that feature of the data, p ≈ 0.5 that it "
            f"is consistent with it; p &lt; {EXTREME} or &gt; {1 - EXTREME:.2f} is marked "
            f"extreme. These are not calibrated tests (the data fitted the model, which pulls "
            f"p towards 0.5): an extreme p is a misfit to look at, a moderate one no proof of "
            f"fit. The first {shown} of {features} features.</p>"
            + html_table(("feature", "statistic", "observed", "replicated mean [5%, 95%]",
                          "p-value"), rows))


def _calibration_html(calibration):
    """The SBC verdict per latent coordinate, how to read it, and the rank histograms."""
    if "result" not in calibration:
        return f"<p>Not available for this model: {html.escape(calibration['why'])}</p>"
    result = calibration["result"]
    header, *rows = calibration_rows(result)
    return (f"<p><b>{html.escape(result['summary'])}</b>.</p><p>Each of "
            f"{result['num_simulations']} simulations draws z̃ ~ p(z) and x̃ ~ p(x | z̃), then "
            f"{result['num_draws']} draws of q(z | x̃); the rank of each coordinate of z̃ among "
            "them is uniform when q is the posterior. ∪-shaped ranks (z̃ often outside q's "
            "draws, outer share above its expected "
            f"{result['outer_expected']:.2f}) mean q is over-confident, too narrow; ∩-shaped "
            "ranks mean it is too wide; a mean rank / L far from 0.5 means q is shifted. "
            "Bars outside the grey 99% band of a uniform are what the χ² test sees. "
            "<code>pyro-lvm calibrate</code> runs it with more simulations or PSIS-reweighted "
            "draws.</p>"
            + html_table(header, rows)
            + image_html(calibration["picture"], "SBC rank histograms per latent coordinate"))

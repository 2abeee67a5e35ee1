"""Simulation-based calibration (SBC, Talts et al., 2018) of an amortized guide q(z | x).

Draw N pairs from the model, z̃_n ~ p(z) and x̃_n ~ p(x | z̃_n), and L draws z_nl ~ q(z | x̃_n).
If q(z | x) = p(z | x) for every x, then z̃_n is one more draw of p(z | x̃_n), exchangeable with
the L others, so for each coordinate j its rank

    r_nj = #{l : z_nlj < z̃_nj} ∈ {0, …, L}

is uniform on {0, …, L} (ties, as of a discrete latent, are broken at random).  The shape of
the rank histogram says how q fails:

- ∪ (too many ranks near 0 and L): z̃ often falls outside q's draws, q is too narrow:
  *over-confident*;
- ∩ (ranks pile up in the middle): q is too wide: *under-confident*;
- one-sided (the mean rank off L/2): q is shifted.  Ranks near L mean z̃ lies above q's draws,
  i.e. q sits *too low*; ranks near 0, q sits *too high*: *biased*.

Uniformity is tested per coordinate with Pearson's χ² over B bins of ranks,
χ² = Σ_b (c_b − N p_b)² / (N p_b) with B − 1 degrees of freedom, p_b the share of {0, …, L} in
bin b (1/B when B divides L + 1).  Under uniformity each count is Binomial(N, p_b); its 0.5%
and 99.5% quantiles are the 99% band drawn by ``pictures.rank_histograms``.

With ``reweight=True`` the draws are importance-weighted towards p(z | x̃):
log w_l = log p(x̃, z_l) − log q(z_l | x̃), Pareto-smoothed (PSIS) and normalised to w̃, and the
rank becomes a weighted one, r = min(⌊(L + 1) F̂⌋, L) with F̂ = Σ_l w̃_l 1[z_l < z̃].  (With equal
weights this is the plain count; ⌊(L + 1) F̂⌋ rather than round(L F̂) keeps the end ranks
0 and L as likely as the others when F̂ is uniform on [0, 1].)  It corrects a proposal only as
far as its L draws reach: a too-narrow q still misses the tails.

Only amortized guides make sense here: q is evaluated at simulated x̃ it was never fitted to
(a guide with per-row parameters would be read at rows 0 … batch − 1 of its training data).
"""

import math
import random
import time
import warnings
from collections.abc import Callable

import numpy as np
import pyro
import torch
from pyro import poutine
from pyro.poutine.util import site_is_subsample
from scipy import stats

from ..checks import MAX_SAMPLES, check_int, check_positive, check_size
from ..errors import bad_type, bad_value
from ..infer.evaluation import particle_chunks
from ..infer.traces import particle_trace, trace_log_weights
from ..runtime import get_rng_state, set_rng_state, set_seed
from .inference_data import check_rows, draw_traces, guide_trace, is_local, pair_nesting, \
    per_draw
from .psis import psis_diagnostics

CALIBRATED, OVER, UNDER, BIASED = "calibrated", "over-confident", "under-confident", "biased"
#: How bad each verdict is: the overall verdict is the worst over the coordinates.
SEVERITY = {CALIBRATED: 0, UNDER: 1, BIASED: 2, OVER: 3}
#: The default number of bins is at most this (Talts et al. use 20).
MAX_BINS = 20
#: ... and each bin expects at least this many ranks, for the χ² approximation.
MIN_EXPECTED = 5
MIN_SIMULATIONS = 2 * MIN_EXPECTED


class NotCalibratable(ValueError):
    """The model or guide is not one SBC here applies to (global latents, no latent, other
    than one observed site shaped like a row, a guide that does not sample the latents)."""


def _not_calibratable(argument, seen, expected):
    return NotCalibratable(*bad_value(argument, seen, expected).args)


def default_bins(num_draws, num_simulations):
    """B for ranks in {0, …, L}: the largest divisor of L + 1 that is at most
    ``cap = min(20, N // 5, L + 1)`` (equal bins, each expecting ≥ 5 ranks) when it is at least
    cap / 2; otherwise ``cap`` bins whose widths differ by one rank (L + 1 = 101 is prime: 20
    bins of 5 or 6 ranks rather than one bin).  L = 99, N = 500: 20; L = 49, N = 400: 10."""
    values = num_draws + 1
    cap = max(2, min(MAX_BINS, num_simulations // MIN_EXPECTED, values))
    divisor = max(b for b in range(1, cap + 1) if values % b == 0)
    return divisor if 2 * divisor >= cap else cap


def _bin_widths(num_draws, bins):
    """How many of the ranks 0 … L fall in each bin, bin(r) = ⌊r B / (L + 1)⌋."""
    return np.bincount(np.arange(num_draws + 1) * bins // (num_draws + 1), minlength=bins)


def _outer(ranks, num_draws):
    """Whether a rank is in the lowest or highest quarter of {0, …, L}: min(r, L − r) < (L+1)/4."""
    return 4 * np.minimum(ranks, num_draws - ranks) < num_draws + 1


def rank_statistics(ranks, num_draws, bins=None, level=0.01):
    """Per coordinate j of ``ranks`` ``(N, dims)`` in {0, …, L}: the histogram and its χ² test
    against uniformity, the outer share and the mean rank, and the verdict.

    The verdict is ``"calibrated"`` when the χ² p-value is at least ``level`` / dims: the
    level holds for all coordinates together (Bonferroni), so a calibrated guide with many
    latent dimensions is not flagged in one of them by chance.  Otherwise, with
    the z-scores under uniformity of the outer share s (ranks in the lowest or highest quarter,
    expected s₀ ≈ 0.5) and of the mean rank / L, m (expected 0.5, variance (L + 2) / (12 L N)),

        z_s = (s − s₀) / √(s₀ (1 − s₀) / N),    z_m = (m − 0.5) / √((L + 2) / (12 L N)),

    the larger in size says how: |z_m| ≥ |z_s|: ``"biased"`` (m > 0.5: q too low, m < 0.5: q
    too high); else z_s > 0: ``"over-confident"`` (∪, q too narrow), z_s < 0:
    ``"under-confident"`` (∩, q too wide).
    """
    ranks = np.asarray(ranks, dtype=np.int64)
    count = ranks.shape[0]
    bins = default_bins(num_draws, count) if bins is None else bins
    widths = _bin_widths(num_draws, bins)
    probabilities = widths / (num_draws + 1)
    expected = count * probabilities
    which = ranks * bins // (num_draws + 1)
    counts = np.stack([np.bincount(column, minlength=bins) for column in which.T])
    chi2 = ((counts - expected) ** 2 / expected).sum(1)
    p_value = stats.chi2.sf(chi2, bins - 1)
    band = (stats.binom.ppf(0.005, count, probabilities).astype(np.int64),
            stats.binom.ppf(0.995, count, probabilities).astype(np.int64))
    outer_expected = float(_outer(np.arange(num_draws + 1), num_draws).mean())
    outer_share = _outer(ranks, num_draws).mean(0)
    mean_rank = ranks.mean(0) / num_draws
    z_outer = (outer_share - outer_expected) / math.sqrt(
        outer_expected * (1 - outer_expected) / count)
    z_mean = (mean_rank - 0.5) / math.sqrt((num_draws + 2) / (12 * num_draws * count))
    verdicts, details = [], []
    for j in range(ranks.shape[1]):
        if p_value[j] >= level / ranks.shape[1]:
            verdict, detail = CALIBRATED, "ranks uniform"
        elif abs(z_mean[j]) >= abs(z_outer[j]):
            verdict = BIASED
            detail = ("q too low (ranks near L: the true z̃ lies above q's draws)" if
                      z_mean[j] > 0 else
                      "q too high (ranks near 0: the true z̃ lies below q's draws)")
        elif z_outer[j] > 0:
            verdict, detail = OVER, "q too narrow (∪: z̃ often outside q's draws)"
        else:
            verdict, detail = UNDER, "q too wide (∩: z̃ rarely in q's tails)"
        verdicts.append(verdict)
        details.append(detail)
    return {"bins": int(bins), "edges": np.concatenate([[0], np.cumsum(widths)]),
            "counts": counts, "expected": expected, "band": band, "chi2": chi2,
            "p_value": p_value, "outer_share": outer_share, "outer_expected": outer_expected,
            "mean_rank": mean_rank, "z_outer": z_outer, "z_mean": z_mean, "verdict": verdicts,
            "detail": details}


def _summary(verdicts, details, labels, level, num_simulations, num_draws, reweighted):
    dims = len(verdicts)
    found = {v: [j for j, seen in enumerate(verdicts) if seen == v] for v in SEVERITY}
    worst = max(verdicts, key=SEVERITY.__getitem__)
    parts = []
    for verdict in sorted(SEVERITY, key=SEVERITY.__getitem__, reverse=True):
        where = found[verdict]
        if not where:
            continue
        text = f"{verdict} in {len(where)}" + (f" of {dims} dimensions" if not parts else "")
        if verdict == BIASED:
            lows = [labels[j] for j in where if details[j].startswith("q too low")]
            highs = [labels[j] for j in where if details[j].startswith("q too high")]
            text += " (" + "; ".join(
                f"q too {side}: {', '.join(names[:4])}{' ...' if len(names) > 4 else ''}"
                for side, names in (("low", lows), ("high", highs)) if names) + ")"
        parts.append(text)
    how = "PSIS-reweighted " if reweighted else ""
    short = ", ".join(parts)
    return worst, short, (f"{short} (SBC: {how}ranks of {num_simulations} simulations among "
                          f"{num_draws} draws of q, χ² tests at level {level:g} over the "
                          f"{dims} dimensions)")


def _simulation_sites(trace, x):
    """``(latents, x̃)``: the unobserved sample sites of the unconditioned model's particle
    trace (one particle; all in the data plate, else an error) and the value of its one
    observed site, which must have the shape of ``x`` repeated: ``(N, *x.shape[1:])``."""
    latents, observed = [], []
    for site in trace.nodes.values():
        if site["type"] != "sample" or site_is_subsample(site) or \
                site["infer"].get("_deterministic"):
            continue
        (observed if site["infer"].get("was_observed") else latents).append(site)
    row, names = tuple(x.shape[1:]), [site["name"] for site in observed]
    simulated = None
    if len(observed) == 1 and is_local(observed[0]):
        site = observed[0]
        simulated = per_draw(site, site["value"], 1, site["fn"].event_shape)[0]
    if simulated is None or tuple(simulated.shape[1:]) != row:
        shapes = {site["name"]: tuple(site["value"].shape) for site in observed}
        raise _not_calibratable(
            "model", f"observed sites {names} of shapes {shapes}",
            f"exactly one observed site in the \"data\" plate whose value has the shape of a "
            f"row of x, {row}")
    if not latents:
        raise _not_calibratable(
            "model", f"no latent site (only the observed {names})",
            "a model with latents z in the \"data\" plate to calibrate q(z | x) of")
    outside = [site["name"] for site in latents if not is_local(site)]
    if outside:
        raise _not_calibratable(
            "model", f"global latents {outside} (outside the \"data\" plate)",
            "a model whose latents are all local: SBC here calibrates an amortized q(z | x) of "
            "local latents, given the model's global parameters")
    return latents, simulated.to(x.dtype)


def _guide_sites(drawn, latents):
    """The guide's sites for the model's ``latents``; an error naming those it lacks."""
    missing = [site["name"] for site in latents if site["name"] not in drawn.nodes
               or drawn.nodes[site["name"]]["type"] != "sample"]
    if missing:
        raise _not_calibratable(
            "guide", f"a guide that does not sample {missing}",
            "a guide that samples every latent site of the model (SBC ranks the model's prior "
            "draws among the guide's)")
    return [drawn.nodes[site["name"]] for site in latents]


def _flat(site, num_particles):
    """A site's value under the particle plate as ``(particles, rows, coordinates)``."""
    value = per_draw(site, site["value"], num_particles, site["fn"].event_shape)
    return value.reshape(value.shape[0], value.shape[1], -1).double()


def _labels(sites, sizes):
    return [f"{site['name']}[{j}]" if size > 1 else site["name"]
            for site, size in zip(sites, sizes) for j in range(size)]


def _batch_ranks(model, guide, x_sim, truth, latents, num_draws, reweight, nesting, max_cells):
    """Ranks ``(rows, dims)`` of ``truth`` among ``num_draws`` draws of q(z | x̃) for the rows
    ``x_sim``, and the PSIS k̂ per row (``reweight``) or ``None``."""
    rows = x_sim.shape[0]
    below, equal, log_w = [], [], []
    for k in particle_chunks(num_draws, rows, max_cells):
        if reweight:
            model_trace, drawn = draw_traces(model, guide, x_sim, k, nesting=nesting)
            log_w.append(trace_log_weights(model_trace, drawn, x_sim, k))
        else:
            drawn = guide_trace(guide, x_sim, k, nesting=nesting)
        draws = torch.cat([_flat(site, k) for site in _guide_sites(drawn, latents)], -1)
        if draws.shape[1:] != truth.shape:
            raise _not_calibratable(
                "guide", f"draws of shape {tuple(draws.shape[1:])} per draw",
                f"the shape of the model's latents, {tuple(truth.shape)}")
        below.append(draws < truth)
        equal.append(draws == truth)
    below, equal = torch.cat(below).double(), torch.cat(equal).double()
    # Ties (discrete latents, round-off) are broken at random: z̃ goes anywhere among its equals.
    tie = torch.rand(truth.shape, dtype=torch.float64, device=truth.device)
    if not reweight:
        return (below.sum(0) + torch.floor(tie * (equal.sum(0) + 1))).long().cpu().numpy(), None
    with warnings.catch_warnings():  # k̂ from L < 2155 draws: reported, not warned per batch
        warnings.filterwarnings("ignore", message="num_samples: ", category=UserWarning)
        psis = psis_diagnostics(torch.cat(log_w))
    weights = torch.as_tensor(np.exp(psis["log_weights"]), dtype=torch.float64,
                              device=truth.device).unsqueeze(-1)
    share = (weights * (below + tie * equal)).sum(0)
    ranks = torch.floor((num_draws + 1) * share).clamp(0, num_draws)
    return ranks.long().cpu().numpy(), psis["khat"]


@torch.no_grad()
def calibrate(model: Callable, guide: Callable, x: torch.Tensor, num_simulations: int = 500,
              num_draws: int = 99, reweight: bool = False, bins: int | None = None,
              seed: int = 0, level: float = 0.01, max_cells: int = 2 ** 16) -> dict:
    """Simulation-based calibration of the amortized guide of a contract-following pair.

    Simulates N = ``num_simulations`` rows (z̃, x̃) ~ p(z) p(x | z) in one pass of the
    unconditioned model, draws L = ``num_draws`` z ~ q(z | x̃) for every row (vectorized, in
    batches of at most ``max_cells`` (draw, row) pairs) and ranks each coordinate of z̃ among
    them; see the module docstring for what the ranks mean and ``rank_statistics`` for the
    test and the verdicts.  Every latent of the model must lie in the ``"data"`` plate (global
    latents are refused: fix them first) and the model must have one observed site, shaped
    like a row of ``x``.  The random streams (torch, NumPy, Python) are seeded with ``seed``
    and restored afterwards: the caller's are left as they were.

    Args:
        model: a contract-following model (``VAE.model``, ``PPCA.model``, ...).
        guide: its amortized guide.
        x: data rows, used only for the shape of a row: ``x[:1]`` is repeated N times as the
            template of the simulated data.
        num_simulations: N, at least 10 (2 bins × 5 expected ranks).
        num_draws: L, draws of q per simulated row; ranks lie in {0, …, L}.  L + 1 divisible by
            the number of bins gives equal bins.
        reweight: rank among PSIS-reweighted draws (towards p(z | x̃)) instead.
        bins: B, histogram bins, 2 … L + 1 (``None``: ``default_bins(L, N)``, 20 for L = 99,
            N = 500).
        seed: the seed of the simulations and the draws.
        level: the χ² tests' family-wise level: a coordinate is ``"calibrated"`` when its
            p-value ≥ ``level`` / dims (Bonferroni).
        max_cells: simulated rows × draws traced at a time.

    Returns:
        A dict (numpy arrays where marked; ``dims`` counts the flattened latent coordinates):
            ``ranks`` (N, dims) int array; ``num_draws`` L; ``num_simulations`` N; ``bins`` B;
            ``edges`` (B + 1,) int array, bin b holds the ranks edges[b] … edges[b+1] − 1;
            ``counts`` (dims, B) int array; ``expected`` (B,) array, the count per bin under
            uniformity; ``band`` (lo, hi), two (B,) int arrays, its 99% range;
            ``chi2``, ``p_value``, ``outer_share`` (expected ``outer_expected``, a float ≈ 0.5),
            ``mean_rank`` (rank / L, expected 0.5), ``z_outer``, ``z_mean``: (dims,) arrays;
            ``verdict`` (list of ``"calibrated"``, ``"over-confident"``, ``"under-confident"``,
            ``"biased"``) and ``detail`` (list: which way) per dimension; ``overall``, the worst
            verdict; ``short``, the verdicts in a few words ("over-confident in 3 of 8
            dimensions, calibrated in 5"); ``summary``, that and how it was tested;
            ``coordinates``, labels ``"z[0]"``, ...; ``site``, the latent site names;
            ``reweighted``; ``khat`` (N,) array of PSIS k̂ per simulated row when reweighted,
            else ``None``; ``level``; ``seconds``.

    Raises:
        ValueError: an argument out of range.
        NotCalibratable: (a ``ValueError``) a model with global latents, with no latent or
            with other than one observed site of a row's shape, a guide that does not sample
            the model's latents.

    References:
        Talts, Betancourt, Simpson, Vehtari & Gelman (2018), Validating Bayesian inference
        algorithms with simulation-based calibration.
    """
    start = time.perf_counter()
    check_rows(x)
    num_simulations = check_size("num_simulations", num_simulations, MAX_SAMPLES,
                                 MIN_SIMULATIONS)
    num_draws = check_size("num_draws", num_draws, MAX_SAMPLES)
    if bins is not None:
        bins = check_int("bins", bins, 2)
        if bins > num_draws + 1:
            raise bad_value("bins", bins, f"an integer from 2 to num_draws + 1 = {num_draws + 1}")
    if not isinstance(reweight, bool):
        raise bad_type("reweight", reweight, "True or False")
    seed = check_int("seed", seed, 0)
    if not check_positive("level", level) < 1:
        raise bad_value("level", level, "a number in (0, 1)")
    max_cells = check_int("max_cells", max_cells, 1)
    template = x[:1].expand(num_simulations, *x.shape[1:]).clone()
    states = get_rng_state(), random.getstate(), np.random.get_state()
    try:
        set_seed(seed)
        nesting = pair_nesting(model, guide, template[:1])
        simulated = particle_trace(poutine.uncondition(model), template, 1, nesting=nesting)
        latents, x_sim = _simulation_sites(simulated, x)
        parts = [_flat(site, 1)[0] for site in latents]
        truth = torch.cat(parts, -1)
        labels = _labels(latents, [part.shape[-1] for part in parts])
        rows = max(1, max_cells // num_draws)
        ranks, khats = [], []
        for first in range(0, num_simulations, rows):
            part = slice(first, first + rows)
            with pyro.validation_enabled(False):
                got, khat = _batch_ranks(model, guide, x_sim[part], truth[part], latents,
                                         num_draws, reweight, nesting, max_cells)
            ranks.append(got)
            khats.append(khat)
    finally:
        set_rng_state(states[0])
        random.setstate(states[1])
        np.random.set_state(states[2])
    ranks = np.concatenate(ranks)
    result = rank_statistics(ranks, num_draws, bins, level)
    overall, short, summary = _summary(result["verdict"], result["detail"], labels, level,
                                       num_simulations, num_draws, reweight)
    return {"ranks": ranks, "num_draws": num_draws, "num_simulations": num_simulations,
            **result, "overall": overall, "short": short, "summary": summary, "coordinates": labels,
            "site": [site["name"] for site in latents], "reweighted": reweight,
            "khat": np.concatenate(khats) if reweight else None, "level": level,
            "seconds": time.perf_counter() - start}


def calibration_rows(result):
    """The verdict per coordinate as rows of text, a header first (what ``pyro-lvm calibrate``
    prints and ``report.html`` shows)."""
    rows = [("coordinate", "verdict", "which way", "χ²", "p-value", "outer share",
             "mean rank / L")]
    return rows + [(label, verdict, detail, f"{chi2:.1f}", f"{p:.3g}", f"{outer:.2f}",
                    f"{mean:.2f}") for label, verdict, detail, chi2, p, outer, mean in zip(
        result["coordinates"], result["verdict"], result["detail"], result["chi2"],
        result["p_value"], result["outer_share"], result["mean_rank"])]


def calibration_record(result):
    """``calibrate``'s result as JSON-ready lists (no ranks)."""
    def listed(value):
        return np.asarray(value, dtype=float).tolist()

    return {"overall": result["overall"], "summary": result["summary"],
            "num_simulations": result["num_simulations"], "num_draws": result["num_draws"],
            "bins": result["bins"], "level": result["level"], "reweighted": result["reweighted"],
            "coordinates": result["coordinates"], "verdict": result["verdict"],
            "detail": result["detail"], "chi2": listed(result["chi2"]),
            "p_value": listed(result["p_value"]), "outer_share": listed(result["outer_share"]),
            "outer_expected": result["outer_expected"], "mean_rank": listed(result["mean_rank"]),
            "counts": np.asarray(result["counts"]).tolist(),
            "band": [np.asarray(edge).tolist() for edge in result["band"]],
            "khat": None if result["khat"] is None else listed(result["khat"]),
            "seconds": result["seconds"]}

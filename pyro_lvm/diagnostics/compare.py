"""Which model is better, and is the difference real?  Held-out elpd with paired standard
errors, as ``arviz.compare`` computes them for LOO.

For models m fitted to the same training data and evaluated on the same n test rows,

    elpd_m = Σ_i log p̂_m(x_i),       se_m = √(n · Var_i[log p̂_m(x_i)]),

with log p̂_m(x_i) the exact log-likelihood where the model has one and otherwise the
importance-sampled estimate log (1/K) Σ_k w_ik, w_ik = p(x_i, z_k) / q(z_k | x_i).  The
difference to the best model b is paired row by row,

    Δ_m = Σ_i d_i,  d_i = log p̂_b(x_i) − log p̂_m(x_i),   se(Δ_m) = √(n · Var_i[d_i]),

which is much smaller than the unpaired √(se_b² + se_m²) when the models find the same rows
hard (they do).  A Δ of a few se(Δ) is a real difference; within about 2 se(Δ) it is not.  An
importance-sampled estimate is reliable for a row only where PSIS k̂ ≤ 0.7; a model with any
row above that is flagged.
"""

import math

import numpy as np
import torch

from ..checks import check_int
from ..errors import bad_value
from ..infer.traces import log_weights
from .inference_data import check_rows
from .psis import UNRELIABLE, psis_diagnostics

#: At most this many draws × rows of log weights are held at once.
MAX_WEIGHTS = 2 ** 20


@torch.no_grad()
def pointwise_log_px(lvm: torch.nn.Module, x: torch.Tensor,
                     num_samples: int = 2500) -> tuple[np.ndarray, np.ndarray | None, str]:
    """``(log p̂(x_i) per row, k̂ per row or None, method)`` for the model of ``lvm`` on the
    rows ``x``: exact where ``lvm`` has ``log_marginal`` (PPCA, the mixture, a flow), else
    importance sampled with ``num_samples`` draws of ``lvm.guide`` per row and PSIS k̂ of their
    weights."""
    check_rows(x)
    if hasattr(lvm, "log_marginal"):
        return lvm.log_marginal(x).double().cpu().numpy(), None, "exact"
    num_samples = check_int("num_samples", num_samples, 2)
    log_px, khat = [], []
    rows = max(1, MAX_WEIGHTS // num_samples)
    for start in range(0, x.shape[0], rows):
        index = torch.arange(start, min(start + rows, x.shape[0]), device=x.device)
        log_w = log_weights(lvm.model, lvm.guide, x[index], num_samples, index, x.shape[0])
        log_w = log_w.double().cpu()
        log_px.append((torch.logsumexp(log_w, 0) - math.log(num_samples)).numpy())
        khat.append(psis_diagnostics(log_w.numpy())["khat"])
    return (np.concatenate(log_px), np.concatenate(khat),
            f"importance sampled, K={num_samples}")


def compare_elpd(log_px: dict[str, np.ndarray],
                 khat: dict[str, np.ndarray | None] | None = None) -> list[dict]:
    """Rank models by held-out elpd, with the paired standard errors of the differences.

    Args:
        log_px: ``{name: per-row log p̂(x_i)}``, the same n ≥ 2 test rows in the same order
            for every model (at least two models).
        khat: ``{name: per-row PSIS k̂}`` for the importance-sampled models (absent or
            ``None`` for an exact one).

    Returns:
        One dict per model, best first: ``name``, ``rank`` (0 = best), ``elpd``, ``se``,
        ``elpd_diff`` (Δ to the best, ≥ 0), ``se_diff`` (paired; 0 for the best),
        ``se_diff_unpaired`` (√(se_b² + se_m²)), ``khat_max`` and ``khat_bad`` (rows with
        k̂ > 0.7; ``None`` for an exact model) and ``warning`` (some row has k̂ > 0.7).
    """
    if not isinstance(log_px, dict) or len(log_px) < 2:
        raise bad_value("log_px", type(log_px).__name__, "a dict of at least 2 models' "
                        "per-row log p(x)")
    values = {name: np.asarray(v, dtype=float).reshape(-1) for name, v in log_px.items()}
    sizes = {name: v.size for name, v in values.items()}
    n = next(iter(sizes.values()))
    if n < 2 or any(size != n for size in sizes.values()):
        raise bad_value("log_px", sizes, "the same test rows (at least 2) for every model")
    khat = khat or {}
    order = sorted(values, key=lambda name: -values[name].sum())
    best = values[order[0]]
    se = {name: math.sqrt(n * v.var()) for name, v in values.items()}
    table = []
    for rank, name in enumerate(order):
        diff = best - values[name]
        rows_khat = khat.get(name)
        table.append({
            "name": name, "rank": rank, "elpd": float(values[name].sum()), "se": se[name],
            "elpd_diff": float(diff.sum()), "se_diff": math.sqrt(n * diff.var()),
            "se_diff_unpaired": 0.0 if rank == 0 else math.hypot(se[order[0]], se[name]),
            "khat_max": None if rows_khat is None else float(np.max(rows_khat)),
            "khat_bad": None if rows_khat is None else int((rows_khat > UNRELIABLE).sum()),
            "warning": rows_khat is not None and bool((rows_khat > UNRELIABLE).any())})
    return table


def comparison_rows(table, num_rows):
    """The comparison as rows of text, a header first (what ``pyro-lvm compare`` prints)."""
    rows = [("run", "elpd", "se", "elpd_diff", "se_diff", "diff/se", f"khat > {UNRELIABLE}")]
    for entry in table:
        ratio = "" if entry["rank"] == 0 else (
            f"{entry['elpd_diff'] / entry['se_diff']:.1f}" if entry["se_diff"] > 0 else "inf")
        bad = "exact" if entry["khat_bad"] is None else (
            f"{entry['khat_bad']} of {num_rows}" + (" (unreliable)" if entry["warning"] else ""))
        rows.append((entry["name"], f"{entry['elpd']:.2f}", f"{entry['se']:.2f}",
                     f"{entry['elpd_diff']:.2f}", f"{entry['se_diff']:.2f}", ratio, bad))
    return rows

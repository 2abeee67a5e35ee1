"""Posterior predictive checks: test statistics of the data against those of replicated data.

With S replicated data sets x̃_s ~ p(x | z_s), z_s ~ q(z | x) (one draw per row, every row),
and a test statistic T of one feature, the posterior predictive p-value is

    p = P(T(x̃) ≥ T(x) | x) ≈ (1/S) Σ_s [1(T(x̃_s) > T(x)) + ½ · 1(T(x̃_s) = T(x))],

the mid-p estimate: a tie counts half.  Discrete statistics (the share of zeros, of a level,
the mean of a count) tie often, and counting ties fully would push p towards 1 even when the
model reproduces the data exactly; with ties counted half, a statistic equal in every draw
gives p = ½.  p near 0 (the data's T above almost every replicate) or near 1 (below) says that
the model cannot reproduce that feature of the data; p ≈ ½ says it can.  These p-values are
not calibrated (the data were used to fit the model, so they concentrate towards ½ and are no
tests at level α); ``EXTREME`` flags p < 0.05 or p > 0.95 as a misfit to look at.

The statistics, per feature d, over the cells of d that are observed (a NaN in ``observed`` is
left out of T(x) and, at the same rows, of every T(x̃_s)):

- ``mean`` and ``sd`` (the root mean squared deviation from the mean, ddof 0) for every feature
  but a categorical one; for a binary (0/1, Bernoulli) feature the mean is the frequency of 1s,
  so it gets no other statistic;
- ``zeros``, the share of zeros, for a count feature (kind ``poisson``, ``negbinom`` or
  ``zinb``; with no kinds, a feature whose observed values are non-negative integers and that
  is not binary: observed and replicated values all in {0, 1});
- ``frequency of L``, the share of level L, for each level of a categorical feature (kind
  ``categorical``, coded 0, ..., K − 1 as ``data.table.encode_table`` codes it; code k is
  ``levels[d][k]``).  The mean and sd of codes mean nothing, so a categorical feature has only
  these.
"""

from collections.abc import Sequence

import numpy as np

from ..errors import bad_value

#: p-values outside [EXTREME, 1 − EXTREME] are flagged.
EXTREME = 0.05
QUANTILES = (0.05, 0.95)
COUNT_KINDS = ("poisson", "negbinom", "zinb")
#: Relative difference under which T(x̃_s) and T(x) are a tie (the same sums in another order).
TIE_TOLERANCE = 1e-9


def _per_feature(argument, values, features):
    if values is None:
        return [None] * features
    values = list(values)
    if len(values) != features:
        raise bad_value(argument, values, f"one entry per feature ({features})")
    return values


def _masked_means(values, mask, count):
    """Σ_i mask_id values_…id / count_d over the rows (the axis before the features)."""
    return np.where(mask, values, 0.0).sum(-2) / count


def p_values(observed_stat, replicated_stat):
    """The mid-p estimate of P(T(x̃) ≥ T(x)) over the draws (axis 0)."""
    scale = np.maximum(np.abs(observed_stat), np.abs(replicated_stat))
    tie = np.abs(replicated_stat - observed_stat) <= TIE_TOLERANCE * scale
    above = (replicated_stat > observed_stat) & ~tie
    return above.mean(0) + 0.5 * tie.mean(0)


def predictive_checks(observed: np.ndarray, replicated: np.ndarray,
                      kinds: Sequence[str | None] | None = None,
                      names: Sequence[str] | None = None,
                      levels: Sequence[Sequence[str] | None] | None = None) -> list[dict]:
    """Posterior predictive test statistics and their p-values, per feature.

    Args:
        observed: the data, ``(rows, features)``; NaN is a missing cell.
        replicated: replicated data sets, ``(draws, rows, features)``: draw s holds x̃_s for
            every row (``posterior_predictive["x"]`` of one chain).
        kinds: each feature's likelihood kind (``"gaussian"``, ``"negbinom"``,
            ``"categorical"``, ...; ``None``, or a ``None`` entry: count or not from the
            values).
        names: each feature's name (default ``x[0]``, ``x[1]``, ...).
        levels: for a categorical feature, its level names in code order (an entry per
            feature, ``None`` for the others; default: the codes seen).

    Returns:
        One dict per (feature, statistic), features in order: ``feature``, ``statistic``
            (``mean``, ``sd``, ``zeros`` or ``frequency of LEVEL``), ``observed`` T(x),
            ``replicated_mean``, ``replicated_low`` and ``replicated_high`` (the mean and the
            5% and 95% quantiles of T(x̃_s) over the draws), ``p_value`` (mid-p) and
            ``extreme`` (p < 0.05 or p > 0.95).  A feature with no observed cell is left out.
    """
    observed = np.asarray(observed, dtype=np.float64)
    replicated = np.asarray(replicated, dtype=np.float64)
    if observed.ndim != 2:
        raise bad_value("observed", observed.shape, "an array of shape (rows, features)")
    if replicated.ndim != 3 or replicated.shape[1:] != observed.shape or not len(replicated):
        raise bad_value("replicated", replicated.shape,
                        f"an array of shape (draws >= 1, {observed.shape[0]}, "
                        f"{observed.shape[1]})")
    features = observed.shape[1]
    kinds = _per_feature("kinds", kinds, features)
    names = _per_feature("names", names, features)
    levels = _per_feature("levels", levels, features)
    names = [f"x[{d}]" if name is None else str(name) for d, name in enumerate(names)]

    mask = ~np.isnan(observed)
    count = mask.sum(0)
    seen = np.where(mask, observed, 0.0)
    rows = []  # (feature, statistic, T(x), T(x̃_s) over the draws)
    numeric = np.array([kind != "categorical" for kind in kinds]) & (count > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_mean, r_mean = _masked_means(seen, mask, count), _masked_means(replicated, mask, count)
        t_sd = np.sqrt(_masked_means((seen - t_mean) ** 2, mask, count))
        r_sd = np.sqrt(_masked_means((replicated - r_mean[:, None]) ** 2, mask, count))
        integer = np.all((seen >= 0) & (seen == np.round(seen)), axis=0)
        binary = np.all(~mask | (seen == 0) | (seen == 1), axis=0) & np.all(
            ~mask | (replicated == 0) | (replicated == 1), axis=(0, 1))
        counts = np.array([kind in COUNT_KINDS if kind is not None else bool(i and not b)
                           for kind, i, b in zip(kinds, integer, binary)]) & (count > 0)
        t_zeros = _masked_means(seen == 0, mask, count)
        r_zeros = _masked_means(replicated == 0, mask, count)
    for d in range(features):
        if numeric[d]:
            rows += [(d, "mean", t_mean[d], r_mean[:, d]), (d, "sd", t_sd[d], r_sd[:, d])]
        if counts[d]:
            rows.append((d, "zeros", t_zeros[d], r_zeros[:, d]))
        if kinds[d] == "categorical" and count[d]:
            rows += _frequencies(d, observed[mask[:, d], d], replicated[:, mask[:, d], d],
                                 levels[d])
    if not rows:
        return []
    observed_stat = np.array([row[2] for row in rows])
    replicated_stat = np.stack([row[3] for row in rows], -1)  # (draws, statistics)
    p = p_values(observed_stat, replicated_stat)
    low, high = np.quantile(replicated_stat, QUANTILES, axis=0)
    return [{"feature": names[d], "statistic": statistic, "observed": float(observed_stat[j]),
             "replicated_mean": float(replicated_stat[:, j].mean()),
             "replicated_low": float(low[j]), "replicated_high": float(high[j]),
             "p_value": float(p[j]), "extreme": bool(p[j] < EXTREME or p[j] > 1 - EXTREME)}
            for j, (d, statistic, _, _) in enumerate(rows)]


def _frequencies(d, seen, drawn, levels):
    """``(d, "frequency of L", share in the data, share in each draw)`` per level L of a
    categorical feature; ``seen`` its observed codes, ``drawn`` ``(draws, observed rows)``."""
    if levels is None:
        codes = np.unique(np.concatenate([seen, drawn.ravel()]))
        codes = codes[~np.isnan(codes)]
        levels = [f"{code:g}" for code in codes]
    else:
        codes = np.arange(len(levels), dtype=np.float64)
    t = (seen[:, None] == codes).mean(0)                    # (levels,)
    r = (drawn[..., None] == codes).mean(1)                 # (draws, levels)
    return [(d, f"frequency of {level}", t[k], r[:, k]) for k, level in enumerate(levels)]

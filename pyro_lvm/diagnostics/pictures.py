"""The diagnostics' pictures, written as PNG files (matplotlib ``Figure``, no pyplot)."""

import numpy as np
import torch
from matplotlib.figure import Figure

from ..plots import image_grid, save_png
from .convergence import convergence_text
from .psis import GOOD, UNRELIABLE, khat_bins

#: Where k̂ = −∞ (log weights constant: q exact) is drawn.
KHAT_FLOOR = -0.5


def elbo_trace(train, path, test=None):
    """The ELBO per epoch with its trend and the epoch where the stopping signal first fired
    (``train``, ``test``: ``elbo_convergence`` results); the title is the verdict at the last
    epoch, in the report's words (``convergence_text``)."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for name, result in (("train", train), ("test", test)):
        if result is None:
            continue
        line, = ax.plot(result["epochs"], result["elbo"], ".", alpha=0.5, label=f"{name} ELBO")
        ax.plot(result["epochs"], result["trend"], color=line.get_color(), label=f"{name} trend")
    if train["stop_epoch"] is not None:
        ax.axvline(train["stop_epoch"], color="grey", linestyle=":",
                   label=f"first epoch with relative change < {train['tolerance']:g}")
    ax.set_title("train ELBO converged: " + convergence_text(
        train["converged"], train["final_relative_change"], train["tolerance"]), fontsize=9)
    ax.set_xlabel("epoch")
    ax.set_ylabel("ELBO (nats per example)")
    ax.grid(alpha=0.3)
    ax.legend()
    return save_png(fig, path)


def khat_plot(khat, path):
    """k̂ per observation, with lines at 0.5 and 0.7 and the share of observations in each bin
    of ``khat_bins`` (the verdict's bins)."""
    khat = np.asarray(khat, dtype=float)
    bins = khat_bins(khat)
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    ax.scatter(np.arange(len(khat)), np.maximum(khat, KHAT_FLOOR), s=8, alpha=0.6,
               color=np.where(khat > UNRELIABLE, "C3", np.where(khat > GOOD, "C1", "C0")))
    for level in (GOOD, UNRELIABLE):
        ax.axhline(level, color="grey", linestyle=":")
    shares = ", ".join(f"{label} {100 * bins[f'share_khat_{name}']:.1f}%" for name, label in
                       (("good", f"≤ {GOOD}"), ("ok", f"{GOOD}–{UNRELIABLE}"),
                        ("bad", f"> {UNRELIABLE}")))
    exact = int(np.isneginf(khat).sum())
    note = f"; {exact} with k̂ = −∞ drawn at {KHAT_FLOOR}" if exact else ""
    ax.set_title(f"PSIS k̂ per observation ({shares}{note})", fontsize=9)
    ax.set_xlabel("observation")
    ax.set_ylabel("k̂")
    ax.grid(alpha=0.3)
    return save_png(fig, path)


def comparison_plot(table, path):
    """``arviz.plot_compare`` in the package's words: each model's elpd ± se (black, best at
    the top), and for the others the best's elpd − Δ ± the paired se(Δ) (grey), which is
    the interval that says whether the difference is real."""
    fig = Figure(figsize=(6.5, 1.2 + 0.55 * len(table)))
    ax = fig.subplots()
    rows = np.arange(len(table))[::-1]
    best = table[0]["elpd"]
    for row, entry in zip(rows, table):
        ax.errorbar(entry["elpd"], row, xerr=entry["se"], fmt="o", color="black", capsize=3,
                    label="elpd ± se" if entry["rank"] == 0 else None)
        if entry["rank"]:
            ax.errorbar(best - entry["elpd_diff"], row - 0.25, xerr=entry["se_diff"], fmt="^",
                        color="grey", capsize=3,
                        label="best − Δ ± paired se(Δ)" if entry["rank"] == 1 else None)
        if entry["warning"]:
            ax.annotate(f"k̂ > 0.7 in {entry['khat_bad']} rows", (entry["elpd"], row + 0.2),
                        fontsize=8, color="tab:red", ha="center")
    ax.axvline(best, color="grey", linestyle="--", linewidth=0.8)
    ax.set_yticks(rows, [entry["name"] for entry in table])
    ax.set_ylim(-0.7, len(table) - 0.4)
    ax.set_xlabel("elpd = Σ log p(x_i) over the test rows (nats; higher is better)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35 if len(table) < 4 else -0.2),
              ncol=2, fontsize=8, frameon=False)
    ax.grid(alpha=0.3, axis="x")
    return save_png(fig, path)


def kl_per_dimension(kl, active, path):
    """KL(q(z_j | x) ‖ p(z_j)) averaged over the data, per latent dimension j."""
    kl, active = np.asarray(kl), np.asarray(active, dtype=bool)
    fig = Figure(figsize=(max(4, 0.5 * len(kl) + 2), 3.5))
    ax = fig.subplots()
    ax.bar(np.arange(len(kl)), kl, color=np.where(active, "C0", "lightgrey"))
    ax.set_xlabel("latent dimension j")
    ax.set_ylabel("mean KL (nats)")
    ax.set_title(f"KL per dimension: {int(active.sum())} of {len(kl)} active (blue)")
    ax.set_xticks(np.arange(len(kl)))
    return save_png(fig, path)


def latent_embedding(means, path, labels=None):
    """Posterior means as points in 2-D: the latent space itself when it has at most two
    dimensions, else its first two principal components; coloured by label when known."""
    means = np.asarray(means, dtype=float)
    if means.shape[1] > 2:
        centred = means - means.mean(0)
        _, _, components = np.linalg.svd(centred, full_matrices=False)
        points, axis_names = centred @ components[:2].T, ("PC 1", "PC 2")
    else:
        points = np.column_stack([means, np.zeros((len(means), 2 - means.shape[1]))])
        axis_names = ("z0", "z1" if means.shape[1] == 2 else "")
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.subplots()
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=6, alpha=0.7)
    else:
        scatter = ax.scatter(points[:, 0], points[:, 1], s=6, c=np.asarray(labels), cmap="tab10")
        ax.legend(*scatter.legend_elements(), title="label", fontsize="small",
                  loc="center left", bbox_to_anchor=(1, 0.5))
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.set_title("posterior means E_q[z | x] of the test set")
    return save_png(fig, path)


@torch.no_grad()
def traversals(decode, dims, centre, scale, image_shape, path, steps=9):
    """Decoder means E[x | z] (``decode(z)`` is p(x | z)) along each latent dimension in
    ``dims``, one row each, from ``centre − 2.5 scale`` to ``centre + 2.5 scale`` with the other
    dimensions at ``centre``."""
    offsets = torch.linspace(-2.5, 2.5, steps, dtype=centre.dtype, device=centre.device)
    z = centre.repeat(len(dims), steps, 1)
    for row, j in enumerate(dims):
        z[row, :, j] = centre[j] + offsets * scale[j]
    images = decode(z.reshape(-1, len(centre))).mean
    title = ("latent traversals: one row per dimension " + ", ".join(map(str, dims))
             + "\nz_j from −2.5 to +2.5 prior sds around the prior mean, the others at it")
    return image_grid(images.cpu(), image_shape, path, title, columns=steps)


@torch.no_grad()
def interpolations(decode, starts, ends, image_shape, path, steps=9):
    """Decoder means E[x | z] on the straight lines from each row of ``starts`` to the row of
    ``ends`` (posterior means of two test images)."""
    t = torch.linspace(0, 1, steps, dtype=starts.dtype, device=starts.device)[:, None]
    z = starts[:, None] * (1 - t) + ends[:, None] * t
    images = decode(z.reshape(-1, starts.shape[-1])).mean
    return image_grid(images.cpu(), image_shape, path,
                      "interpolations between posterior means of test images", columns=steps)


def posterior_pair(draws, log_weights, title, path, seed=0, max_points=1000):
    """Draws of q(z | x) for one observation against the same draws resampled with their PSIS
    weights (≈ draws of p(z | x)), on the two dimensions the reweighted draws correlate most.

    ``draws`` has shape ``(S, latent_dim)``, ``log_weights`` ``(S,)`` (normalised).  A
    mean-field q is an axis-aligned ellipse; the reweighted cloud shows the correlation it
    misses.  Needs ``latent_dim >= 2``.
    """
    draws = np.asarray(draws, dtype=float)
    weights = np.exp(np.asarray(log_weights, dtype=float))
    weights /= weights.sum()
    centred = draws - weights @ draws
    cov = (weights[:, None] * centred).T @ centred
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    np.fill_diagonal(corr, 0)
    i, j = np.unravel_index(np.argmax(np.abs(corr)), corr.shape)
    rng = np.random.default_rng(seed)
    shown = rng.choice(len(draws), size=min(max_points, len(draws)), replace=False)
    resampled = rng.choice(len(draws), size=len(shown), p=weights)
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.scatter(draws[shown, i], draws[shown, j], s=5, alpha=0.4, color="grey",
               label="z ~ q(z | x)")
    ax.scatter(draws[resampled, i], draws[resampled, j], s=5, alpha=0.4, color="C3",
               label="PSIS-resampled (≈ p(z | x))")
    ax.set_xlabel(f"z{i}")
    ax.set_ylabel(f"z{j}")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small")
    return save_png(fig, path)


def _density(values, grid):
    """A Gaussian kernel density estimate of ``values`` on ``grid`` (Silverman's bandwidth)."""
    values = np.asarray(values, dtype=float).ravel()
    spread = values.std() if values.std() > 0 else 1.0
    width = 1.06 * spread * len(values) ** -0.2
    kernel = np.exp(-0.5 * ((grid[:, None] - values[None]) / width) ** 2)
    return kernel.sum(1) / (len(values) * width * np.sqrt(2 * np.pi))


def posterior_predictive(idata, path, variable="x", max_features=6, num_draws=50, seed=0,
                         names=None, levels=None):
    """The distribution of the observed values of ``variable`` (first ``max_features``
    features, titled by ``names`` when given) against that of
    ``num_draws`` predictive draws x̃ ~ p(x | z), z ~ q(z | x), one thin line per draw over all
    observations, and their mean.  A feature whose values are all integers (counts,
    categories, 0/1) gets the frequency of each value (bars for the data, the draws' median
    and 5–95% range), labelled by ``levels[feature]`` (a categorical column's level names)
    when given; a continuous one a kernel density estimate.  Missing cells are left out of the
    data and of the draws alike."""
    observed = np.asarray(idata["observed_data"][variable].values, dtype=float)
    predicted = np.asarray(idata["posterior_predictive"][variable].values[0], dtype=float)
    rng = np.random.default_rng(seed)
    draws = rng.choice(len(predicted), size=min(num_draws, len(predicted)), replace=False)
    features = range(min(max_features, observed.shape[-1]))
    fig = Figure(figsize=(3 * len(features), 3.4), layout="constrained")
    axes = fig.subplots(1, len(features), squeeze=False)[0]
    for feature, ax in zip(features, axes):
        seen, drawn = observed[..., feature], predicted[draws][..., feature]
        present = ~np.isnan(seen)
        seen, drawn = seen[present], drawn[:, present]
        if _discrete(seen) and _discrete(drawn):
            _frequencies(ax, seen, drawn, None if levels is None else levels[feature])
        else:
            _densities(ax, seen, drawn)
        ax.set_title(f"{variable}[{feature}]" if names is None else str(names[feature]))
        ax.set_xlabel("value")
    legend = {}
    for ax in axes:
        legend.update(zip(*reversed(ax.get_legend_handles_labels())))
    fig.legend(list(legend.values()), list(legend), loc="outside lower center", ncol=4,
               fontsize=7)
    return save_png(fig, path)


def _discrete(values):
    return bool(np.all(values == np.round(values)))


def _frequencies(ax, seen, drawn, levels=None, max_bars=30):
    """Bars: the data's share of each value (of each run of integers when there are more than
    ``max_bars`` values); points and ranges: the median and 5–95% range of that share over the
    draws; the values named by ``levels`` (code k is ``levels[k]``) when given."""
    low, high = min(seen.min(), drawn.min()), max(seen.max(), drawn.max())
    step = max(1, int(np.ceil((high - low + 1) / max_bars)))
    edges = np.arange(low, high + step + 1, step) - 0.5

    def share(values):
        return np.histogram(values, edges)[0] / values.size

    centres = (edges[:-1] + edges[1:]) / 2
    ax.bar(centres, share(seen), width=0.85 * step, color="lightgrey", edgecolor="black",
           label="observed")
    per_draw = np.stack([share(row.ravel()) for row in drawn])
    p5, p50, p95 = np.percentile(per_draw, [5, 50, 95], axis=0)
    ax.errorbar(centres, p50, yerr=[p50 - p5, p95 - p50], fmt="o", color="C0", markersize=3,
                label="predictive draws (median, 5–95%)")
    ax.set_ylabel("frequency" if step == 1 else f"frequency per {step} values")
    if levels and step == 1 and 0 <= low and high < len(levels):
        ax.set_xticks(centres, [str(levels[int(code)]) for code in centres],
                      rotation=30 if len(centres) > 3 else 0)


def _densities(ax, seen, drawn):
    grid = np.linspace(min(seen.min(), drawn.min()), max(seen.max(), drawn.max()), 200)
    curves = np.stack([_density(row, grid) for row in drawn])
    for k, curve in enumerate(curves):
        ax.plot(grid, curve, color="C0", alpha=0.1, linewidth=0.8,
                label="predictive draws" if k == 0 else None)
    ax.plot(grid, curves.mean(0), color="C0", linestyle="--", label="predictive mean")
    ax.plot(grid, _density(seen, grid), color="black", label="observed")
    ax.set_ylabel("density")


#: At most this many coordinates get a panel in ``rank_histograms``.
MAX_RANK_PANELS = 16


def rank_histograms(result, path, max_panels=MAX_RANK_PANELS):
    """SBC rank histograms of ``calibration.calibrate``'s ``result``: one panel per latent
    coordinate (the first ``max_panels``), the counts per bin of ranks as bars, the 99% band of
    a count under uniformity in grey and its expected value as a line; each panel's title is
    its verdict and χ² p-value.  Uniform bars: calibrated; ∪: q over-confident (too narrow);
    ∩: under-confident (too wide); piled on one side: biased."""
    counts = np.asarray(result["counts"])
    edges = np.asarray(result["edges"], dtype=float)
    low, high = (np.asarray(bound, dtype=float) for bound in result["band"])
    expected = np.asarray(result["expected"], dtype=float)
    shown = min(len(counts), max_panels)
    columns = min(4, shown)
    rows = -(-shown // columns)
    fig = Figure(figsize=(3.2 * columns, 2.5 * rows + 0.9), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False, sharex=True)
    for ax in axes.flat[shown:]:
        ax.axis("off")
    for j, ax in enumerate(axes.flat[:shown]):
        ax.fill_between(edges, np.append(low, low[-1]), np.append(high, high[-1]), step="post",
                        color="grey", alpha=0.3, linewidth=0, zorder=0,
                        label="99% band of a count if the ranks are uniform")
        ax.bar(edges[:-1], counts[j], width=np.diff(edges), align="edge", color="C0",
               edgecolor="white", linewidth=0.5, alpha=0.75, zorder=1, label="ranks per bin")
        ax.step(edges, np.append(expected, expected[-1]), where="post", color="black",
                linewidth=1, zorder=2, label="expected count if uniform")
        verdict, p_value = result["verdict"][j], result["p_value"][j]
        p_text = f"p = {p_value:.2g}" if p_value >= 1e-10 else "p < 1e-10"
        ax.set_title(f"{result['coordinates'][j]}: {verdict}, {p_text}", fontsize=9,
                     color="black" if verdict == "calibrated" else "C3")
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, 1.08 * max(counts[:shown].max(), high.max()))
        if j % columns == 0:
            ax.set_ylabel("simulations")
        if j >= shown - columns:
            ax.set_xlabel(f"rank of z̃ (0 … {result['num_draws']})")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    how = "PSIS-reweighted draws" if result["reweighted"] else "draws"
    more = (f"; the first {shown} of {len(counts)} coordinates" if len(counts) > shown else "")
    fig.suptitle(f"SBC ranks of z_j among L = {result['num_draws']} {how} of q(z | x̃), "
                 f"{result['num_simulations']} simulations (z̃, x̃) ~ p(z) p(x | z){more}\n"
                 "uniform = calibrated, ∪ = over-confident (q too narrow), ∩ = under-confident "
                 "(q too wide), one-sided = biased", fontsize=9)
    return save_png(fig, path)

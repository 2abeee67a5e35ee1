"""Pictures of a training run, written as PNG files.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot): no screen is needed
and the user's chosen matplotlib backend is left alone.
"""

import math

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure

from .checkpoint import write_atomically
from .infer.callbacks import objective_label, test_label


def save_png(fig, path):
    """Write ``fig`` as a PNG atomically."""
    return write_atomically(
        path, lambda handle: fig.savefig(handle, format="png", dpi=110, bbox_inches="tight"))


def image_grid(images, image_shape, path, title=None, columns=10):
    """Rows of ``images`` (each a flattened ``image_shape`` picture) as a grid, grey scale: one
    mosaic with white gaps between the tiles, drawn as a single image (one axes, not one per
    tile, which made a 9 x 9 grid cost seconds)."""
    images = np.asarray(images, dtype=float).reshape(-1, *image_shape)
    rows = math.ceil(len(images) / columns)
    height, width = image_shape
    gap = max(1, round(0.25 * height))
    mosaic = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), np.nan)
    for k, image in enumerate(images):
        top, left = (k // columns) * (height + gap), (k % columns) * (width + gap)
        mosaic[top:top + height, left:left + width] = image
    fig = Figure(figsize=(columns * 0.8, rows * 0.8))
    ax = fig.subplots()
    ax.axis("off")
    ax.imshow(mosaic, cmap=colormaps["gray_r"].with_extremes(bad="white"), vmin=0.0, vmax=1.0,
              interpolation="nearest")
    if title:
        fig.suptitle(title)
    return save_png(fig, path)


def paired_grid(originals, reconstructions, image_shape, path, title=None, columns=10):
    """Originals on odd rows, their reconstructions on the row below."""
    originals = np.asarray(originals, dtype=float)[:columns * 4]
    reconstructions = np.asarray(reconstructions, dtype=float)[:len(originals)]
    pairs = []
    for start in range(0, len(originals), columns):
        pairs.extend([originals[start:start + columns], reconstructions[start:start + columns]])
    return image_grid(np.concatenate(pairs), image_shape, path, title, columns)


def scatter_pairs(data, samples, path, title=None, labels=("data", "model"), colors=(None, None)):
    """First two coordinates of ``data`` and ``samples`` side by side (tabular data), each
    optionally coloured by an integer label per point."""
    fig = Figure(figsize=(8, 4))
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    for ax, values, label, color in zip(axes, (data, samples), labels, colors):
        values = np.asarray(values, dtype=float)
        second = values[:, 1] if values.shape[1] > 1 else np.zeros(len(values))
        ax.scatter(values[:, 0], second, s=3, alpha=0.5, c=None if color is None else
                   np.asarray(color), cmap=None if color is None else "tab10")
        ax.set_title(label)
        ax.set_xlabel("x[0]")
    axes[0].set_ylabel("x[1]")
    if title:
        fig.suptitle(title)
    return save_png(fig, path)


def density_heatmap(log_density, data, path, resolution=200):
    """exp(log_density) on a grid over the range of 2-D ``data``, next to the data itself."""
    data = np.asarray(data, dtype=float)
    low, high = data.min(0), data.max(0)
    pad = 0.1 * (high - low)
    axes_values = [np.linspace(lo - p, hi + p, resolution) for lo, hi, p in zip(low, high, pad)]
    grid_x, grid_y = np.meshgrid(*axes_values)
    points = torch.as_tensor(np.stack([grid_x.ravel(), grid_y.ravel()], -1),
                             dtype=torch.float32)
    with torch.no_grad():
        density = log_density(points).exp().reshape(resolution, resolution).cpu().numpy()
    fig = Figure(figsize=(9, 4), layout="constrained")
    left, right = fig.subplots(1, 2, sharex=True, sharey=True)
    extent = (*axes_values[0][[0, -1]], *axes_values[1][[0, -1]])
    image = left.imshow(density, origin="lower", extent=extent, aspect="auto", cmap="viridis",
                        interpolation="nearest")
    fig.colorbar(image, ax=left, label="p(x)")
    left.set_title("model density p(x)")
    right.scatter(data[:, 0], data[:, 1], s=2, alpha=0.4)
    right.set_title("test data")
    for ax in (left, right):  # the image's extent, not the scatter's margins
        ax.set_xlim(extent[:2])
        ax.set_ylim(extent[2:])
        ax.set_xlabel("x[0]")
    left.set_ylabel("x[1]")
    return save_png(fig, path)


def loss_curve(history, path):
    """The training objective (the ELBO, or the bound or weighted ELBO that was optimized,
    named so; log p(x) where it is exact) and the test ELBO (nats per example) against the
    epoch."""
    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    label = objective_label(history[-1], weight=False) if history else "ELBO"
    test = test_label(history[-1]) if history else "ELBO"
    ax.plot(epochs, [h["train_elbo"] for h in history], marker=".", label=f"train {label}")
    if history and "test_elbo" in history[0]:
        ax.plot(epochs, [h["test_elbo"] for h in history], marker=".", label=f"test {test}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{test} (nats per example)")
    ax.grid(alpha=0.3)
    ax.legend()
    return save_png(fig, path)

"""Two-dimensional toy densities, sampled with a seeded NumPy generator (never downloaded).

Each sampler draws a component label per point (which moon, which Gaussian, which square, which
arm) and the point given its label; the scales keep the values within about [-4, 4].
"""

import math

import numpy as np
import torch

from ..errors import bad_value
from ..checks import check_int
from .dataset import DataSplit


def _moons(rng, n):
    """Two interleaved half circles: (cos t, sin t) and (1 - cos t, 1/2 - sin t), t ~ U(0, pi),
    plus N(0, 0.1^2) noise, centred and doubled."""
    labels = rng.integers(2, size=n)
    t = rng.uniform(0.0, math.pi, size=n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    points = np.where(labels[:, None] == 0, upper, lower) + rng.normal(0.0, 0.1, size=(n, 2))
    return 2.0 * (points - np.array([0.5, 0.25])), labels


def _eight_gaussians(rng, n):
    """An equal mixture of N(mu_k, 0.25^2 I), mu_k = 2 (cos(k pi/4), sin(k pi/4)), k = 0..7."""
    labels = rng.integers(8, size=n)
    angle = labels * (math.pi / 4.0)
    centres = 2.0 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return centres + rng.normal(0.0, 0.25, size=(n, 2)), labels


def _checkerboard(rng, n):
    """Uniform on the 8 unit squares (row i, column j) of [-2, 2]^2 with i + j even."""
    labels = rng.integers(8, size=n)
    row = labels // 2
    column = 2 * (labels % 2) + row % 2
    corner = np.stack([column, row], axis=1) - 2.0
    return corner + rng.uniform(0.0, 1.0, size=(n, 2)), labels


def _pinwheel(rng, n, arms=5, twist=0.25):
    """Five arms: radius r ~ N(1, 0.3^2) and tangential offset ~ N(0, 0.05^2), rotated by the
    arm's angle 2 pi k / 5 plus twist * exp(r), then doubled."""
    labels = rng.integers(arms, size=n)
    radial = rng.normal(1.0, 0.3, size=n)
    tangential = rng.normal(0.0, 0.05, size=n)
    angle = labels * (2.0 * math.pi / arms) + twist * np.exp(radial)
    cos, sin = np.cos(angle), np.sin(angle)
    points = np.stack([radial * cos - tangential * sin, radial * sin + tangential * cos], axis=1)
    return 2.0 * points, labels


def _spiral(rng, n):
    """Two opposite arms s * 3 (cos 3 pi s, sin 3 pi s) and its negation, s = sqrt(U(0, 1)),
    plus N(0, 0.1^2) noise."""
    labels = rng.integers(2, size=n)
    s = np.sqrt(rng.uniform(0.0, 1.0, size=n))
    angle = 3.0 * math.pi * s
    sign = np.where(labels == 0, 1.0, -1.0)[:, None]
    points = sign * 3.0 * s[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return points + rng.normal(0.0, 0.1, size=(n, 2)), labels


def _clusters(rng, n):
    """Three well-separated anisotropic Gaussians: N(mu_k, A_k A_k^T) with centres
    mu = (-1.5, -1.5), (1.5, -1.5), (-1.5, 1.5) and A_k = 0.2 G_k, G_k a standard normal 2 x 2
    matrix drawn once from the same generator (a Gaussian mixture fits it exactly)."""
    shapes = 0.2 * rng.normal(size=(3, 2, 2))
    labels = rng.integers(3, size=n)
    centres = np.array([[-1.5, -1.5], [1.5, -1.5], [-1.5, 1.5]])
    noise = np.einsum("nij,nj->ni", shapes[labels], rng.normal(size=(n, 2)))
    return centres[labels] + noise, labels


_SAMPLERS = {
    "moons": _moons,
    "8gaussians": _eight_gaussians,
    "checkerboard": _checkerboard,
    "pinwheel": _pinwheel,
    "spiral": _spiral,
    "clusters": _clusters,
}

#: The names ``toy_density`` and ``load_toy`` accept.
TOY_DENSITIES = tuple(_SAMPLERS)


def _sample(name, n, seed):
    """``(points, labels)`` as NumPy arrays from the sampler ``name``."""
    if not isinstance(name, str) or name not in _SAMPLERS:
        raise bad_value("name", name, f"one of {', '.join(TOY_DENSITIES)}")
    n = check_int("n", n, 1)
    rng = np.random.default_rng(check_int("seed", seed, 0))
    return _SAMPLERS[name](rng, n)


def toy_density(name, n, seed=0):
    """``n`` points of the toy density ``name`` as a float32 tensor ``(n, 2)``; same seed,
    same points."""
    points, _ = _sample(name, n, seed)
    return torch.from_numpy(points.astype(np.float32))


def load_toy(name, n_train=10000, n_test=2000, seed=0):
    """A ``DataSplit`` of ``n_train + n_test`` seeded draws of ``name``: the first
    ``n_train`` rows train, the rest test (``n_test=0``: no test set).  The labels are the
    components (moon, Gaussian, square, arm) the points were drawn from."""
    n_train = check_int("n_train", n_train, 1)
    n_test = check_int("n_test", n_test, 0)
    points, labels = _sample(name, n_train + n_test, seed)

    def split(array):
        tensor = torch.from_numpy(array)
        return tensor[:n_train], (tensor[n_train:] if n_test else None)

    (train, test), (train_labels, test_labels) = split(points.astype(np.float32)), split(labels)
    return DataSplit(train=train, test=test, train_labels=train_labels, test_labels=test_labels,
                   name=name)

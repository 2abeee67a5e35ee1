"""The 2-D toy densities."""

import pytest
import torch

from pyro_lvm.data import TOY_DENSITIES, load_toy, toy_density


@pytest.mark.parametrize("name", TOY_DENSITIES)
def test_shape_finite_scale_and_reproducible(name):
    x = toy_density(name, 2000, seed=1)
    assert x.shape == (2000, 2) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    assert x.abs().max() < 5.0
    assert 0.5 < x.std(dim=0).min() and x.std(dim=0).max() < 2.5
    assert torch.equal(x, toy_density(name, 2000, seed=1))
    assert not torch.equal(x, toy_density(name, 2000, seed=2))


def test_moons_halves_occupy_different_regions():
    data = load_toy("moons", n_train=2000, n_test=0, seed=0)
    x, labels = data.train, data.train_labels
    assert set(labels.tolist()) == {0, 1}
    upper, lower = x[labels == 0], x[labels == 1]
    # The first moon lies higher on average, and almost every point's nearest neighbour
    # belongs to its own moon.
    assert upper[:, 1].mean() > lower[:, 1].mean() + 1.0
    distances = torch.cdist(x, x)
    distances.fill_diagonal_(float("inf"))
    same = labels[distances.argmin(dim=1)] == labels
    assert same.float().mean() > 0.97


def test_eight_gaussians_has_eight_separate_centres():
    data = load_toy("8gaussians", n_train=4000, n_test=0)
    centres = torch.stack([data.train[data.train_labels == k].mean(0) for k in range(8)])
    radii = centres.norm(dim=1)
    assert torch.allclose(radii, torch.full((8,), 2.0), atol=0.1)
    gaps = torch.cdist(centres, centres) + 10 * torch.eye(8)
    assert gaps.min() > 1.4


def test_checkerboard_fills_only_the_dark_squares():
    x = toy_density("checkerboard", 4000)
    cells = torch.floor(x) + 2
    assert ((cells[:, 0] + cells[:, 1]) % 2 == 0).all()
    assert len(torch.unique(cells, dim=0)) == 8


def test_load_toy_sizes_and_name():
    data = load_toy("spiral", n_train=300, n_test=100, seed=4)
    assert data.name == "spiral" and data.image_shape is None and data.dim == 2
    assert data.train.shape == (300, 2) and data.test.shape == (100, 2)
    assert data.test_labels.shape == (100,)
    assert torch.equal(torch.cat([data.train, data.test]), toy_density("spiral", 400, seed=4))


def test_toy_errors_name_argument_and_value():
    with pytest.raises(ValueError, match=r"^name: got 'circles', expected one of moons, "
                       r"8gaussians"):
        toy_density("circles", 10)
    with pytest.raises(ValueError, match=r"^n: got 0, expected an integer >= 1"):
        toy_density("moons", 0)
    with pytest.raises(TypeError, match=r"^n_train: got float"):
        load_toy("moons", n_train=10.0)

"""load_dataset: the entry point the command line calls."""

import numpy as np
import pytest
import torch

from pyro_lvm.data import TOY_DENSITIES, load_dataset
from pyro_lvm.data.files import MNIST_FILES


def test_default_is_digits_and_bernoulli_binarizes():
    plain = load_dataset()
    assert plain.name == "digits" and plain.dim == 64
    assert len(torch.unique(plain.train)) > 2
    binary = load_dataset("digits", likelihood="bernoulli")
    assert binary.name == "digits-binary"
    assert set(torch.unique(binary.train).tolist()) == {0.0, 1.0}
    assert load_dataset("digits", likelihood="bernoulli", binarize=False).name == "digits"
    assert load_dataset("digits-binary").name == "digits-binary"


def test_seed_is_passed_to_the_split():
    assert torch.equal(load_dataset("digits", seed=2).test, load_dataset("digits", seed=2).test)
    assert not torch.equal(load_dataset("digits", seed=2).test, load_dataset("digits").test)


def test_toy_names_are_sources():
    data = load_dataset(TOY_DENSITIES[0], seed=1)
    assert data.name == TOY_DENSITIES[0] and data.dim == 2


def test_toy_with_bernoulli_is_refused_by_range():
    with pytest.raises(ValueError, match=r"^train set of moons: got 'values from -\d.*expected "
                       r"values in \[0, 1\] for likelihood='bernoulli'"):
        load_dataset("moons", likelihood="bernoulli")


def test_files_and_mnist_directories(tmp_path):
    table = np.random.default_rng(0).uniform(size=(20, 3)).astype(np.float32)
    np.save(tmp_path / "table.npy", table)
    data = load_dataset(str(tmp_path / "table.npy"))
    assert data.name == "table" and data.test.shape == (2, 3)
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    for part, n in (("train", 6), ("test", 2)):
        images, labels = MNIST_FILES[part]
        (mnist / images).write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, n, 0, 0, 0, 2, 0, 0, 0, 2])
                                     + bytes(range(4 * n)))
        (mnist / labels).write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, n]) + bytes(n))
    assert load_dataset(f"mnist:{mnist}").train.shape == (6, 4)
    assert load_dataset(mnist, likelihood="bernoulli").name == "mnist-binary"


def test_unknown_source_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"^source: got 'digitz', expected one of 'digits', "
                       r"'digits-binary', 'mnist5k', 'mnist5k-binary', 'moons'.*'mnist:DIR'"):
        load_dataset("digitz")


def test_missing_file_source(tmp_path):
    with pytest.raises(ValueError, match=r"nope\.csv: got 'file not found'"):
        load_dataset(str(tmp_path / "nope.csv"))


def test_bad_binarize_and_source_types():
    with pytest.raises(TypeError, match=r"^binarize: got str"):
        load_dataset("digits", binarize="yes")
    with pytest.raises(TypeError, match=r"^source: got int"):
        load_dataset(3)
    with pytest.raises(ValueError, match=r"^binarize: got False, expected True or None"):
        load_dataset("digits-binary", binarize=False)
    with pytest.raises(ValueError, match=r"^binarize: got True, expected False or None"):
        load_dataset("spiral", binarize=True)

"""The embedded scikit-learn digits."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits as sklearn_digits

from pyro_lvm.data import load_digits


@pytest.fixture(scope="module")
def raw():
    images, labels = sklearn_digits(return_X_y=True)
    return images / 16.0, labels


def _rows_with_labels(x, labels):
    """A multiset of (label, pixels...) rows, as sorted unique rows with their counts."""
    table = np.concatenate([np.asarray(labels)[:, None], np.asarray(x, dtype=np.float64)], axis=1)
    return np.unique(table, axis=0, return_counts=True)


def test_shapes_scaling_and_names():
    data = load_digits()
    assert data.name == "digits"
    assert data.image_shape == (8, 8) and data.dim == 64
    assert data.train.shape[0] + data.test.shape[0] == 1797
    assert data.test.shape[0] == round(0.2 * 1797)
    assert data.train.dtype == torch.float32
    everything = torch.cat([data.train, data.test])
    assert everything.min() == 0.0 and everything.max() == 1.0
    assert set(torch.cat([data.train_labels, data.test_labels]).tolist()) == set(range(10))


def test_split_is_disjoint_and_covers_all_rows(raw):
    data = load_digits()
    x = torch.cat([data.train, data.test]).numpy()
    labels = torch.cat([data.train_labels, data.test_labels]).numpy()
    rows, counts = _rows_with_labels(x, labels)
    expected_rows, expected_counts = _rows_with_labels(raw[0].astype(np.float32), raw[1])
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_array_equal(counts, expected_counts)


def test_same_seed_same_split_other_seed_other_split():
    first, again, other = load_digits(seed=5), load_digits(seed=5), load_digits(seed=6)
    assert torch.equal(first.test, again.test)
    assert torch.equal(first.train_labels, again.train_labels)
    assert not torch.equal(first.test, other.test)


def test_test_fraction_controls_the_split():
    data = load_digits(test_fraction=0.5)
    assert data.test.shape[0] == round(0.5 * 1797)
    assert load_digits(test_fraction=0.0).test is None


def test_binarized_is_the_thresholded_data():
    plain, binary = load_digits(), load_digits(binarize=True)
    assert binary.name == "digits-binary"
    assert set(torch.unique(binary.train).tolist()) == {0.0, 1.0}
    assert torch.equal(binary.train, (plain.train > 0.5).float())
    assert torch.equal(binary.test_labels, plain.test_labels)

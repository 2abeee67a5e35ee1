"""The DataSplit container, validate_data and the seeded split."""

import re

import numpy as np
import pytest
import torch

from pyro_lvm.data import DataSplit, validate_data
from pyro_lvm.data.dataset import split_indices


def test_validate_returns_float_tensor_and_converts_integers():
    ints = validate_data(np.array([[1, 2], [3, 4]], dtype=np.int64))
    assert ints.dtype == torch.float32
    assert ints.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    doubles = validate_data(torch.ones(2, 3, dtype=torch.float64))
    assert doubles.dtype == torch.float64
    assert validate_data([[True, False]]).tolist() == [[1.0, 0.0]]


def test_validate_rejects_non_numeric_with_type_error():
    with pytest.raises(TypeError, match=r"^data: got ndarray, expected numbers.*<U1"):
        validate_data(np.array([["a", "b"]]))
    with pytest.raises(TypeError, match=r"^x: got Tensor, expected real numbers.*complex"):
        validate_data(torch.ones(2, 2, dtype=torch.complex64), argument="x")


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4)])
def test_validate_rejects_wrong_dimensionality(shape):
    with pytest.raises(ValueError, match=r"^data: got " + re.escape(str(shape)) + ".*2-D"):
        validate_data(torch.zeros(shape))


@pytest.mark.parametrize("shape", [(0, 3), (4, 0)])
def test_validate_rejects_empty(shape):
    with pytest.raises(ValueError, match=r"^data: got " + re.escape(str(shape))
                       + ", expected at least one row and one column"):
        validate_data(torch.zeros(shape))


def test_validate_rejects_ragged_lists():
    with pytest.raises(ValueError, match=r"^data: got \[\[1, 2\], \[3\]\].*rectangular"):
        validate_data([[1, 2], [3]])


def test_validate_counts_nan_and_names_first_row():
    x = torch.zeros(6, 3)
    x[4, 1] = float("nan")
    x[5, 0] = float("nan")
    with pytest.raises(ValueError, match=r"^train: got '2 NaN and 0 infinite values, the first "
                       r"in row 4', expected finite"):
        validate_data(x, argument="train")


def test_validate_counts_infinities():
    x = torch.zeros(5, 2)
    x[2, 0] = float("inf")
    x[3, 1] = -float("inf")
    with pytest.raises(ValueError, match=r"^data: got '0 NaN and 2 infinite values, the first "
                       r"in row 2'"):
        validate_data(x)


def test_validate_bernoulli_range_names_min_and_max():
    x = torch.tensor([[0.0, 0.5], [1.5, -0.25]])
    with pytest.raises(ValueError, match=r"^data: got 'values from -0.25 to 1.5', expected "
                       r"values in \[0, 1\] for likelihood='bernoulli'"):
        validate_data(x, likelihood="bernoulli")
    # The same data is fine for a likelihood without a range, and [0, 1] is fine for Bernoulli.
    assert validate_data(x, likelihood="gaussian") is x
    validate_data(x.clamp(0, 1), likelihood="bernoulli")


def test_validate_reads_in_blocks_and_counts_across_them(monkeypatch):
    from pyro_lvm.data import dataset
    monkeypatch.setattr(dataset, "_BLOCK_ROWS", 4)  # rows 0-3, 4-7, 8-9
    x = torch.full((10, 2), 0.5)
    x[9, 1] = float("nan")
    x[6, 0] = float("inf")
    x[7, 1] = float("nan")
    with pytest.raises(ValueError, match=r"got '2 NaN and 1 infinite values, the first in row 6'"):
        validate_data(x)
    x = torch.full((10, 2), 0.5)
    x[1, 0], x[9, 1] = -0.25, 1.5  # the extremes lie in the first and the last block
    with pytest.raises(ValueError, match=r"got 'values from -0.25 to 1.5'"):
        validate_data(x, likelihood="bernoulli")
    blocks = []
    checked = torch.isinf
    monkeypatch.setattr(torch, "isinf", lambda t: blocks.append(len(t)) or checked(t))
    validate_data(torch.zeros(10, 2))
    assert blocks == [4, 4, 2]  # never the whole array at once


def test_validate_batch_size_against_rows():
    with pytest.raises(ValueError, match=r"^batch_size: got 128, expected at most the number of "
                       r"rows of data \(100\)"):
        validate_data(torch.zeros(100, 2), batch_size=128)
    validate_data(torch.zeros(128, 2), batch_size=128)
    with pytest.raises(ValueError, match=r"^batch_size: got 0"):
        validate_data(torch.zeros(100, 2), batch_size=0)
    with pytest.raises(TypeError, match=r"^batch_size: got float"):
        validate_data(torch.zeros(100, 2), batch_size=2.0)


def test_split_is_disjoint_covering_and_seeded():
    train, test = split_indices(50, 0.2, seed=3)
    assert len(test) == 10
    assert sorted(torch.cat([train, test]).tolist()) == list(range(50))
    again = split_indices(50, 0.2, seed=3)
    assert torch.equal(again[1], test)
    assert not torch.equal(split_indices(50, 0.2, seed=4)[1], test)


def test_split_keeps_at_least_one_test_row_and_one_train_row():
    assert len(split_indices(5, 0.01, seed=0)[1]) == 1
    assert len(split_indices(5, 0.0, seed=0)[1]) == 0
    with pytest.raises(ValueError, match=r"^test_fraction: got 0.5, expected .*1 rows"):
        split_indices(1, 0.5, seed=0)
    with pytest.raises(ValueError, match=r"^test_fraction: got 1.0, expected a number in \[0, 1\)"):
        split_indices(10, 1.0, seed=0)
    with pytest.raises(ValueError, match=r"^seed: got -1"):
        split_indices(10, 0.1, seed=-1)


def test_from_array_flattens_images_row_major_and_splits_labels():
    images = torch.arange(4 * 2 * 3, dtype=torch.float32).reshape(4, 2, 3)
    labels = np.array([7, 8, 9, 10])
    data = DataSplit.from_array(images, labels, name="tiny", test_fraction=0.25, seed=0)
    assert data.image_shape == (2, 3)
    assert data.dim == 6
    assert data.train.shape == (3, 6) and data.test.shape == (1, 6)
    assert data.train_labels.dtype == torch.int64
    # Each row is its image read row by row, and keeps its own label.
    for rows, row_labels in ((data.train, data.train_labels), (data.test, data.test_labels)):
        for row, label in zip(rows, row_labels):
            assert torch.equal(row, images[label - 7].reshape(-1))


def test_from_array_binarizes_with_fixed_threshold():
    x = torch.tensor([[0.0, 0.5, 0.51, 1.0]])
    data = DataSplit.from_array(x, name="b", binarize=True)
    assert data.train.tolist() == [[0.0, 0.0, 1.0, 1.0]]
    assert data.test is None
    with pytest.raises(ValueError, match=r"^x: got 'values from 0 to 2'"):
        DataSplit.from_array(2 * x, name="b", binarize=True)


def test_from_array_rejects_bad_labels_and_shapes():
    with pytest.raises(ValueError, match=r"^labels: got \(3,\), expected shape \(2,\)"):
        DataSplit.from_array(torch.zeros(2, 2), [0, 1, 2], name="d")
    with pytest.raises(TypeError, match=r"^labels: got Tensor, .*float64"):
        DataSplit.from_array(torch.zeros(2, 2), [0.5, 1.0], name="d")
    with pytest.raises(TypeError, match=r"^labels: got ndarray, .*<U3"):
        DataSplit.from_array(torch.zeros(2, 2), ["cat", "dog"], name="d")
    with pytest.raises(ValueError, match=r"^x: got \(1, 2, 3, 4\), expected a 2-D"):
        DataSplit.from_array(torch.zeros(1, 2, 3, 4), name="d")


def test_dataset_checks_its_fields():
    x = torch.zeros(4, 6)
    with pytest.raises(ValueError, match=r"^train: got torch.float64, expected torch.float32"):
        DataSplit(train=x.double())
    with pytest.raises(ValueError, match=r"^test: got \(2, 5\), expected 6 columns"):
        DataSplit(train=x, test=torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"^train_labels: got \(3,\), expected shape \(4,\)"):
        DataSplit(train=x, train_labels=torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"^image_shape: got \(2, 2\), expected .*h \* w = 6"):
        DataSplit(train=x, image_shape=(2, 2))
    with pytest.raises(ValueError, match=r"^test_labels: got 'labels without data'"):
        DataSplit(train=x, test_labels=torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"^train: got '4 NaN"):
        DataSplit(train=torch.full((2, 2), float("nan")))


def test_dataset_is_frozen_and_to_moves_every_tensor():
    data = DataSplit.from_array(torch.rand(10, 3), np.arange(10), name="d", test_fraction=0.3)
    with pytest.raises(AttributeError):
        data.name = "other"
    moved = data.to("cpu")
    assert moved is not data
    assert moved.name == "d" and torch.equal(moved.train, data.train)
    for tensor in (moved.train, moved.test, moved.train_labels, moved.test_labels):
        assert tensor.device.type == "cpu"
    with pytest.raises(ValueError, match=r"^device: got 'tpu'"):
        data.to("tpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.cuda
def test_to_cuda_moves_every_tensor():
    data = DataSplit.from_array(torch.rand(10, 3), np.arange(10), name="d", test_fraction=0.3)
    moved = data.to("cuda")
    for tensor in (moved.train, moved.test, moved.train_labels, moved.test_labels):
        assert tensor.device.type == "cuda"
    assert torch.equal(moved.train.cpu(), data.train)

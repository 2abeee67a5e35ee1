"""User files (CSV, .npy, .npz) and MNIST IDX directories."""

import gzip
import re
import struct

import numpy as np
import pytest
import torch

from pyro_lvm.data import load_array_file, load_mnist
from pyro_lvm.data.files import MNIST_FILES, read_idx


def _all_rows(data):
    return data.train if data.test is None else torch.cat([data.train, data.test])


def _sorted_rows(x):
    return np.unique(np.asarray(x), axis=0)


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    return rng.normal(size=(30, 4)).astype(np.float32)


def test_csv_round_trip_with_header_gives_the_saved_numbers(tmp_path, table):
    path = tmp_path / "measurements.csv"
    np.savetxt(path, table, delimiter=",", header="a,b,c,d", comments="", fmt="%.9g")
    data = load_array_file(path, test_fraction=0.0)
    assert data.name == "measurements" and data.image_shape is None and data.test is None
    assert data.train.dtype == torch.float32
    assert torch.equal(data.train, torch.from_numpy(table))


def test_csv_without_header_and_with_blank_lines(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("1,2.5\n\n-3,4e-2\n")
    data = load_array_file(path, test_fraction=0.0)
    assert data.train.tolist() == [[1.0, 2.5], [-3.0, pytest.approx(0.04)]]


def test_npy_round_trip_and_default_test_split(tmp_path, table):
    path = tmp_path / "table.npy"
    np.save(path, table)
    data = load_array_file(path)
    assert data.test.shape[0] == 3  # 10% of 30 rows
    np.testing.assert_array_equal(_sorted_rows(_all_rows(data)), _sorted_rows(table))
    again = load_array_file(path)
    assert torch.equal(again.test, data.test)
    assert not torch.equal(load_array_file(path, seed=1).test, data.test)


def test_small_file_still_gets_one_test_row(tmp_path):
    path = tmp_path / "small.npy"
    np.save(path, np.eye(3, dtype=np.float32))
    data = load_array_file(path)
    assert data.test.shape == (1, 3) and data.train.shape == (2, 3)


def test_npy_images_get_image_shape(tmp_path):
    images = np.random.default_rng(1).uniform(size=(6, 3, 5)).astype(np.float32)
    path = tmp_path / "images.npy"
    np.save(path, images)
    data = load_array_file(path, test_fraction=0.0)
    assert data.image_shape == (3, 5) and data.dim == 15
    assert torch.equal(data.train, torch.from_numpy(images.reshape(6, 15)))


def test_npz_single_array_and_keyed_arrays_with_labels(tmp_path, table):
    single = tmp_path / "single.npz"
    np.savez(single, whatever=table)
    assert torch.equal(load_array_file(single, test_fraction=0.0).train, torch.from_numpy(table))
    keyed = tmp_path / "keyed.npz"
    labels = np.arange(30)
    np.savez(keyed, x=table, y=labels, notes=np.zeros(2))
    data = load_array_file(keyed, test_fraction=0.2)
    for rows, row_labels in ((data.train, data.train_labels), (data.test, data.test_labels)):
        assert torch.equal(rows, torch.from_numpy(table[row_labels.numpy()]))


def test_npz_without_a_data_key_lists_the_keys(tmp_path, table):
    path = tmp_path / "ambiguous.npz"
    np.savez(path, first=table, second=table)
    with pytest.raises(ValueError, match=re.escape(f"file {path}: got \"keys ['first', 'second']\"")
                       + r".*'x', 'data', 'train'"):
        load_array_file(path)
    both = tmp_path / "both.npz"
    np.savez(both, x=table, data=table)
    with pytest.raises(ValueError, match=r"keys \['data', 'x'\].*only one data key"):
        load_array_file(both)


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "nowhere.csv"
    with pytest.raises(ValueError, match=re.escape(f"file {path}: got 'file not found'")):
        load_array_file(path)


@pytest.mark.parametrize("suffix", [".csv", ".npy", ".npz"])
def test_empty_file_is_named(tmp_path, suffix):
    path = tmp_path / ("empty" + suffix)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=re.escape(f"file {path}: got 'an empty file'")):
        load_array_file(path)


def test_header_only_csv(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("a,b,c\n")
    with pytest.raises(ValueError, match=re.escape(f"file {path}: got 'only a header row'")):
        load_array_file(path)


def test_ragged_csv_names_the_row(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,c\n1,2,3\n4,5\n")
    with pytest.raises(ValueError, match=re.escape(f"file {path}: got '2 cells on row 3', "
                                                   "expected 3 cells on every row, as on row 1")):
        load_array_file(path)


def test_non_numeric_csv_cell_names_row_and_column(tmp_path):
    path = tmp_path / "words.csv"
    path.write_text("1,2\n3,four\n")
    with pytest.raises(ValueError, match=re.escape(f"file {path}: got 'four', expected a number "
                                                   "on row 2, column 2")):
        load_array_file(path)


def test_nan_in_file_is_reported_with_the_file(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("1,2\n3,nan\n5,6\n")
    with pytest.raises(ValueError, match=re.escape(f"file {path}: got '1 NaN and 0 infinite "
                                                   "values, the first in row 1'")):
        load_array_file(path)


def test_not_a_numpy_file_and_unknown_suffix(tmp_path):
    text = tmp_path / "fake.npy"
    text.write_text("hello")
    with pytest.raises(ValueError, match=re.escape(f"file {text}: got 'no NumPy header'")):
        load_array_file(text)
    other = tmp_path / "data.txt"
    other.write_text("1,2\n")
    with pytest.raises(ValueError, match=re.escape(f"file {other}: got '.txt', expected a .csv")):
        load_array_file(other)


def test_pickled_npy_is_refused(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=re.escape(f"file {path}: got ") + ".*without pickled"):
        load_array_file(path)


def test_string_npy_is_a_type_error(tmp_path):
    path = tmp_path / "strings.npy"
    np.save(path, np.array([["a", "b"]]))
    with pytest.raises(TypeError, match=re.escape(f"file {path}: got ndarray, expected numbers")):
        load_array_file(path)


# --- MNIST / IDX -----------------------------------------------------------------------------


def _idx_bytes(array):
    """IDX encoding of a uint8 array: 00 00 08 ndim, big-endian sizes, row-major values."""
    return struct.pack(">HBB", 0, 0x08, array.ndim) \
        + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _write_mnist(directory, n_train=20, n_test=5, shape=(28, 28), compress=False):
    """Synthetic MNIST files; returns {part: (images, labels)}."""
    rng = np.random.default_rng(0)
    parts = {}
    for part, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        for stem, array in zip(MNIST_FILES[part], (images, labels)):
            raw = _idx_bytes(array)
            if compress:
                (directory / (stem + ".gz")).write_bytes(gzip.compress(raw))
            else:
                (directory / stem).write_bytes(raw)
        parts[part] = (images, labels)
    return parts


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_round_trip(tmp_path, compress):
    parts = _write_mnist(tmp_path, compress=compress)
    data = load_mnist(tmp_path)
    assert data.name == "mnist" and data.image_shape == (28, 28)
    for x, labels, part in ((data.train, data.train_labels, "train"),
                            (data.test, data.test_labels, "test")):
        images, expected_labels = parts[part]
        expected = torch.from_numpy(images.reshape(len(images), -1)).to(torch.float32) / 255
        assert x.dtype == torch.float32
        assert torch.equal(x, expected)
        assert labels.dtype == torch.int64
        assert labels.tolist() == expected_labels.tolist()


def test_mnist_binarized(tmp_path):
    parts = _write_mnist(tmp_path, shape=(4, 4))
    data = load_mnist(tmp_path, binarize=True)
    assert data.name == "mnist-binary" and data.image_shape == (4, 4)
    expected = torch.from_numpy(parts["train"][0].reshape(20, 16) > 127).float()
    assert torch.equal(data.train, expected)


def test_read_idx_of_labels_and_images(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(_idx_bytes(array))
    np.testing.assert_array_equal(read_idx(path), array)


def test_idx_bad_magic_names_the_file(tmp_path):
    _write_mnist(tmp_path)
    path = tmp_path / MNIST_FILES["train"][0]
    path.write_bytes(b"\x08\x03\x00\x00" + path.read_bytes()[4:])
    with pytest.raises(ValueError, match=re.escape(f"file {path}: got 'first bytes 08 03 00 00'")
                       + ".*00 00"):
        load_mnist(tmp_path)


def test_idx_bad_type_code_and_size(tmp_path):
    path = tmp_path / "floats-idx1"
    path.write_bytes(struct.pack(">HBBI", 0, 0x0D, 1, 3) + np.zeros(3, ">f4").tobytes())
    with pytest.raises(ValueError, match=re.escape(f"file {path}: got 'type code 0x0d', "
                                                   "expected type code 0x08")):
        read_idx(path)
    short = tmp_path / "short-idx1"
    short.write_bytes(struct.pack(">HBBI", 0, 0x08, 1, 10) + bytes(7))
    with pytest.raises(ValueError, match=re.escape(f"file {short}: got '7 data bytes', "
                                                   "expected 10 bytes for the shape (10,)")):
        read_idx(short)


def test_mnist_missing_file_and_label_mismatch(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / MNIST_FILES["test"][1]).unlink()
    with pytest.raises(ValueError, match=re.escape(f"directory {tmp_path}: got 'no "
                                                   "t10k-labels-idx1-ubyte (or t10k-labels-idx1"
                                                   "-ubyte.gz)'")):
        load_mnist(tmp_path)
    labels = tmp_path / MNIST_FILES["test"][1]
    labels.write_bytes(_idx_bytes(np.zeros(4, dtype=np.uint8)))
    with pytest.raises(ValueError, match=re.escape(f"file {labels}: got (4,), expected (5,)")):
        load_mnist(tmp_path)


def test_mnist_directory_not_found_and_corrupt_gzip(tmp_path):
    missing = tmp_path / "absent"
    with pytest.raises(ValueError, match=re.escape(f"directory {missing}: got 'directory not found'")):
        load_mnist(missing)
    _write_mnist(tmp_path, compress=True)
    broken = tmp_path / (MNIST_FILES["train"][0] + ".gz")
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=re.escape(f"file {broken}: got ") + ".*gzip"):
        load_mnist(tmp_path)

"""Data from the user's files: CSV, NumPy ``.npy`` / ``.npz``, and MNIST in IDX format.

Nothing here downloads.  Every error about a file names the file (or directory) in full, says
what was found and what was expected.
"""

import gzip
import math
import os
import struct
import weakref
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import write_atomically
from ..errors import bad_type, bad_value
from .dataset import _MAPS, DataSplit, count_test_rows, drop_mapped_pages

#: Keys of an ``.npz`` archive that hold the data (when it holds more than one array).
NPZ_DATA_KEYS = ("x", "data", "train")
#: Keys of an ``.npz`` archive that hold integer labels, one per row of the data.
NPZ_LABEL_KEYS = ("y", "labels")
#: The standard MNIST file names, for the ``(images, labels)`` of each part.
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_MNIST_NAMES = ", ".join(name for pair in MNIST_FILES.values() for name in pair)

_NUMPY_MAGIC = (b"\x93NUMPY", b"PK\x03\x04", b"PK\x05\x06")
_IDX_UINT8 = 0x08


def _path_error(path, seen, expected, kind="file"):
    """A ``ValueError`` naming ``kind`` and the full path (never shortened)."""
    return bad_value(f"{kind} {path}", seen, expected)


def _as_path(argument, value):
    """``value`` (``str`` or ``os.PathLike``) as a ``Path`` with ``~`` expanded."""
    if not isinstance(value, (str, os.PathLike)):
        raise bad_type(argument, value, "a path (str or os.PathLike)")
    return Path(value).expanduser()


def _check_file(path):
    """Refuse a path that is missing, not a file, or empty."""
    if not path.exists():
        raise _path_error(path, "file not found", "an existing file")
    if not path.is_file():
        raise _path_error(path, "a directory", "a file")
    if path.stat().st_size == 0:
        raise _path_error(path, "an empty file", "some data")


def _read_bytes(path):
    """The bytes of an existing, non-empty file; ``.gz`` files are decompressed."""
    _check_file(path)
    try:
        raw = path.read_bytes()
        if path.suffix.lower() == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise _path_error(path, str(error), "a readable file (gzip-compressed if .gz)") from None
    if not raw:
        raise _path_error(path, "an empty file after decompression", "some data")
    return raw


def _number_or_none(cell):
    """``float(cell)``, or ``None`` when the cell is not a number."""
    try:
        return float(cell)
    except ValueError:
        return None


def _cell_number(path, cell, row, column):
    """One CSV cell as a float (an empty cell is NaN: a missing value); the error names its
    row and column (both from 1)."""
    value = math.nan if not cell.strip() else _number_or_none(cell)
    if value is None:
        raise _path_error(path, cell.strip(), f"a number on row {row}, column {column}")
    return value


def read_csv(path):
    """A comma-separated file of numbers as a float64 array ``(rows, columns)``.

    Blank lines are skipped; an empty cell is NaN (a missing value).  The first row is a
    header, and skipped, when none of its cells is a number.  Every row must have as many cells as the first; rows are counted from 1 as
    lines of the file.
    """
    path = _as_path("path", path)
    try:
        text = _read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _path_error(path, str(error), "a UTF-8 text file of comma-separated numbers") \
            from None
    rows = [(number, line.split(",")) for number, line in enumerate(text.splitlines(), start=1)
            if line.strip()]
    if not rows:
        raise _path_error(path, "only blank lines", "comma-separated numbers")
    first_row, first_cells = rows[0]
    for number, cells in rows:
        if len(cells) != len(first_cells):
            raise _path_error(path, f"{len(cells)} cells on row {number}",
                              f"{len(first_cells)} cells on every row, as on row {first_row}")
    if all(_number_or_none(cell) is None for cell in first_cells):
        rows = rows[1:]
    if not rows:
        raise _path_error(path, "only a header row", "at least one row of numbers")
    return np.array([[_cell_number(path, cell, number, column)
                      for column, cell in enumerate(cells, start=1)]
                     for number, cells in rows], dtype=np.float64)


def _one_key(path, arrays, keys, what):
    """The one key of ``keys`` present in the archive, ``None`` if none; several is an error."""
    found = [key for key in keys if key in arrays]
    if len(found) > 1:
        raise _path_error(path, f"keys {sorted(arrays)}", f"only one {what} key of {keys}")
    return found[0] if found else None


def read_numpy(path):
    """``(data, labels)`` from a ``.npy`` array or an ``.npz`` archive (``labels`` may be None).

    An archive holding one array gives that array.  Otherwise the data is under exactly one of
    the keys ``x``, ``data``, ``train`` and optional integer labels under ``y`` or ``labels``.
    Pickled (object) arrays are refused.
    """
    path = _as_path("path", path)
    _check_file(path)
    with open(path, "rb") as file:
        head = file.read(max(len(magic) for magic in _NUMPY_MAGIC))
    if not head.startswith(_NUMPY_MAGIC):
        raise _path_error(path, "no NumPy header", "a file written by numpy.save or numpy.savez")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            return loaded, None
        with loaded:
            arrays = {key: loaded[key] for key in loaded.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise _path_error(path, str(error), "a NumPy .npy or .npz file without pickled data") \
            from None
    if len(arrays) == 1:
        return next(iter(arrays.values())), None
    data_key = _one_key(path, arrays, NPZ_DATA_KEYS, "data")
    if data_key is None:
        raise _path_error(path, f"keys {sorted(arrays)}",
                          f"a single array, or the data under one of the keys {NPZ_DATA_KEYS}")
    label_key = _one_key(path, arrays, NPZ_LABEL_KEYS, "label")
    return arrays[data_key], None if label_key is None else arrays[label_key]


def open_npy(path):
    """A 2-D float32 ``.npy`` file as a tensor backed by a memory map, for data larger than
    memory: rows are read from disk when indexed (``Trainer.fit(..., preload=False)`` gathers
    one minibatch at a time).  The map is copy-on-write (``mmap_mode="c"``), so the file is
    never modified.  The map is registered for ``drop_mapped_pages``, by which the validation
    and the trainer unmap the rows they have read: resident memory stays bounded."""
    path = _as_path("path", path)
    _check_file(path)
    if path.suffix.lower() != ".npy":
        raise _path_error(path, path.suffix or "no suffix", "a .npy file (written by numpy.save)")
    try:
        array = np.load(path, mmap_mode="c", allow_pickle=False)
    except (ValueError, OSError) as error:
        raise _path_error(path, str(error), "a NumPy .npy file without pickled data") from None
    if array.dtype != np.float32 or array.ndim != 2 or not array.flags.c_contiguous:
        raise _path_error(path, f"a {array.ndim}-D {array.dtype} array",
                          "a 2-D C-ordered float32 array (n, d); convert it once with "
                          "numpy.save(path, array.astype(numpy.float32))")
    _MAPS[array.ctypes.data] = (array.ctypes.data + array.nbytes, weakref.ref(array._mmap))
    return torch.from_numpy(array)


def load_mapped_npy(path, test_fraction=0.1):
    """A ``DataSplit`` whose training rows stay in the ``.npy`` file ``path``, memory-mapped
    (``open_npy``; 2-D float32), for data larger than memory.

    The test set is the file's last ``round(n * test_fraction)`` rows (at least one), read into
    memory; the training set is a view of the map over the rows before them, and the trainer
    reads one minibatch at a time from it.  A contiguous split, unlike ``load_array_file``'s
    seeded one: shuffle the rows once if the file is ordered (e.g. by class).  Checking the
    values reads the file once, a block of rows at a time, and unmaps each block again
    (``drop_mapped_pages``), so the file's pages do not stay in the resident memory.
    """
    mapped = open_npy(path)
    n = mapped.shape[0]
    n_test = count_test_rows(n, test_fraction)
    if n_test == 0:
        raise bad_value("test_fraction", test_fraction, "a fraction in (0, 1): a mapped data "
                        "set needs a test set")
    test = mapped[n - n_test:].clone()
    drop_mapped_pages(mapped)  # the rows just copied are not kept resident twice
    return DataSplit(train=mapped[:n - n_test], test=test, name=Path(path).stem, mapped=True)


def cache_as_npy(path, cache_dir):
    """The CSV or IDX file ``path`` converted once to ``cache_dir/<stem>.npy`` (float32; IDX
    bytes as they are), written atomically; returns that path.  A cache newer than ``path`` is
    reused without reading ``path``, so later runs (and ``open_npy``) skip the parsing."""
    path = _as_path("path", path)
    _check_file(path)
    name = path.name[:-3] if path.suffix.lower() == ".gz" else path.name
    target = Path(cache_dir) / (Path(name).stem + ".npy")
    if target.is_file() and target.stat().st_mtime >= path.stat().st_mtime:
        return target
    if path.suffix.lower() == ".csv":
        array = read_csv(path).astype(np.float32)
    elif "idx" in name:
        array = read_idx(path)
    else:
        raise _path_error(path, path.suffix or "no suffix", "a .csv or IDX (*-idx*-ubyte) file")
    return write_atomically(target, lambda handle: np.save(handle, array))


def load_array_file(path, test_fraction=0.1, seed=0, binarize=False, source=None,
                    missing=False):
    """A ``DataSplit`` from a ``.csv``, ``.npy`` or ``.npz`` file, named after the file.

    A 2-D array ``(n, d)`` is tabular; a 3-D array ``(n, h, w)`` is images, flattened to
    ``(n, h * w)`` with ``image_shape = (h, w)``.  A seeded ``test_fraction`` of the rows (at
    least one row, unless ``test_fraction=0`` which gives ``test=None``) becomes the test set.
    ``binarize=True`` thresholds values in [0, 1] at 0.5.  ``source`` is the file the user
    gave when ``path`` is its conversion (``cache_as_npy``): the name and the errors use it.
    With ``missing=True`` NaN entries (empty CSV cells) are missing values, not errors.
    """
    path = _as_path("path", path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        data, labels = read_csv(path), None
    elif suffix in (".npy", ".npz"):
        data, labels = read_numpy(path)
    else:
        raise _path_error(path, suffix or "no suffix", "a .csv, .npy or .npz file")
    source = path if source is None else source
    return DataSplit.from_array(data, labels, name=Path(source).stem,
                                test_fraction=test_fraction, seed=seed, binarize=binarize,
                                argument=f"file {source}", missing=missing)


def read_idx(path):
    """An IDX file (optionally ``.gz``) of unsigned bytes as a ``uint8`` array.

    Layout: two zero bytes, the type code ``0x08`` (unsigned byte), the number of dimensions
    ``k``, then ``k`` big-endian 32-bit sizes, then the values in row-major order.
    """
    path = _as_path("path", path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise _path_error(path, f"first bytes {raw[:4].hex(' ')}",
                          "an IDX file starting with 00 00 (magic number)")
    if raw[2] != _IDX_UINT8:
        raise _path_error(path, f"type code 0x{raw[2]:02x}", "type code 0x08 (unsigned bytes)")
    header = 4 + 4 * raw[3]
    if len(raw) < header:
        raise _path_error(path, f"{len(raw)} bytes", f"at least the {header}-byte IDX header")
    shape = struct.unpack(f">{raw[3]}I", raw[4:header])
    if len(raw) != header + math.prod(shape):
        raise _path_error(path, f"{len(raw) - header} data bytes",
                          f"{math.prod(shape)} bytes for the shape {shape} in its header")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _read_idx_through(path, cache_dir):
    """The IDX file ``path`` as an array, through its ``.npy`` conversion in ``cache_dir``."""
    return read_idx(path) if cache_dir is None else np.load(cache_as_npy(path, cache_dir))


def mnist_file(directory, stem):
    """The MNIST file ``stem`` (one of ``MNIST_FILES``) in ``directory``, gzipped or not:
    the path read, or ``None``."""
    return next((Path(directory) / name for name in (stem, stem + ".gz")
                 if (Path(directory) / name).is_file()), None)


def _mnist_part(directory, part, binarize, cache_dir):
    """One part (``train`` or ``test``) of MNIST: a ``DataSplit`` without a test set."""
    paths = []
    for stem in MNIST_FILES[part]:
        found = mnist_file(directory, stem)
        if found is None:
            raise _path_error(directory, f"no {stem} (or {stem}.gz)",
                              f"the four MNIST IDX files {_MNIST_NAMES} (each may be gzipped)",
                              kind="directory")
        paths.append(found)
    images, labels = (_read_idx_through(path, cache_dir) for path in paths)
    if images.ndim != 3:
        raise _path_error(paths[0], images.shape, "images of shape (n, height, width)")
    if labels.shape != images.shape[:1]:
        raise _path_error(paths[1], labels.shape, f"({images.shape[0]},): one label per image "
                          f"of {paths[0].name}")
    return DataSplit.from_array(images.astype(np.float32) / np.float32(255.0), labels,
                              name=part, binarize=binarize, argument=f"file {paths[0]}")


def load_mnist(directory: str | os.PathLike, binarize: bool = False,
               cache_dir: str | os.PathLike | None = None) -> DataSplit:
    """MNIST from ``directory`` holding the four standard IDX files (each optionally ``.gz``).

    Pixels are divided by 255 into [0, 1]; ``binarize=True`` keeps ``x > 0.5`` as 0/1.  The
    train and test sets are the files' own (60000 and 10000 rows for the real MNIST).  With
    ``cache_dir``, each file is converted once to ``.npy`` there (``cache_as_npy``) and
    read from the conversion, which skips the decompression next time.  Never downloads.

    Args:
        directory: the folder of the IDX files.
        binarize: 0/1 pixels instead of intensities.
        cache_dir: where the ``.npy`` conversions go (``None``: none).

    Returns:
        A ``DataSplit`` of 784 columns, ``image_shape = (28, 28)``, with labels.
    """
    directory = _as_path("directory", directory)
    if not directory.is_dir():
        raise _path_error(directory, "directory not found" if not directory.exists() else "a file",
                          "a directory holding the MNIST IDX files", kind="directory")
    train, test = (_mnist_part(directory, part, binarize, cache_dir)
                   for part in ("train", "test"))
    if train.image_shape != test.image_shape:
        raise _path_error(directory, f"test images of shape {test.image_shape}",
                          f"the train image shape {train.image_shape}", kind="directory")
    return DataSplit(train=train.train, test=test.train, train_labels=train.train_labels,
                   test_labels=test.train_labels, image_shape=train.image_shape,
                   name="mnist-binary" if binarize else "mnist")

"""The ``DataSplit`` container, the checks every data set passes, and the seeded split.

A data set is a float32 matrix of shape ``(n, d)``: one row per example, images flattened
row-major (an ``h x w`` image becomes ``d = h * w`` columns, pixel ``(i, j)`` in column
``i * w + j``).  It is loaded once onto the training device; minibatches are index slices taken
by the trainer.
"""

import dataclasses
import math
import mmap
from numbers import Integral, Real

import numpy as np
import torch

from ..checks import check_int
from ..errors import bad_type, bad_value
from ..likelihoods import support_of
from ..likelihoods.base import REAL
from ..runtime import resolve_device

#: Rows checked at a time by ``validate_data``: at most ``_BLOCK_ROWS``, and at most
#: ``_BLOCK_BYTES`` of them (a few times that is made in temporaries).
_BLOCK_ROWS = 1 << 16
_BLOCK_BYTES = 16 << 20
#: The memory maps of ``open_npy``: address of the first row -> (address past the last row,
#: weak reference to its ``mmap.mmap``).
_MAPS = {}
#: The threshold that turns intensities in [0, 1] into 0/1 pixels: ``x > BINARY_THRESHOLD``.
BINARY_THRESHOLD = 0.5


def _from_numpy(array):
    """A tensor sharing ``array``'s memory, or a copy when it is read-only (``np.frombuffer``)."""
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(np.ascontiguousarray(array))


def drop_mapped_pages(x):
    """Unmap the pages of the ``open_npy`` memory map that the tensor ``x`` lies in; nothing for
    other tensors.

    The pages of a file mapping that have been read count in the process's resident memory
    until they are unmapped, so one pass over a mapped file (a validation, an epoch) would
    leave all of it resident.  ``MADV_DONTNEED`` unmaps them: the file stays in the page cache
    (which the kernel may reclaim) and a row read again is mapped again, the same bytes.  It
    also discards anything written into the copy-on-write map: a mapped data set is only read.
    """
    if x.device.type != "cpu" or not hasattr(mmap, "MADV_DONTNEED"):
        return
    address = x.data_ptr()
    for start, (end, ref) in list(_MAPS.items()):
        mapping = ref()
        if mapping is None:
            del _MAPS[start]
        elif start <= address < end:
            mapping.madvise(mmap.MADV_DONTNEED)


def _as_floating_tensor(x, argument):
    """``x`` (tensor, NumPy array or nested lists) as a tensor of a floating dtype.

    Floating tensors keep their dtype; booleans and integers become float32; anything else
    (strings, objects, complex numbers) is a ``TypeError``.
    """
    if not isinstance(x, torch.Tensor):
        try:
            array = np.asarray(x)
        except ValueError:
            raise bad_value(argument, x, "a rectangular array (rows of equal length)") from None
        if array.dtype.kind not in "biuf":
            raise bad_type(argument, x, f"numbers, not an array of dtype {array.dtype}")
        x = _from_numpy(array)
    if x.dtype.is_complex:
        raise bad_type(argument, x, f"real numbers, not a tensor of dtype {x.dtype}")
    return x if x.dtype.is_floating_point else x.to(torch.float32)


def validate_data(x: torch.Tensor | np.ndarray | list, likelihood: str | None = None,
                  batch_size: int | None = None, argument: str = "data",
                  missing: bool = False) -> torch.Tensor:
    """Check that ``x`` is a usable data matrix and return it as a floating tensor.

    ``x`` must be 2-D ``(rows, features)`` with at least one of each and only finite values;
    with ``missing=True`` NaN entries are missing values instead (but no row may be missing
    entirely; ``DataSplit.from_array`` also refuses a column missing entirely).  With a ``likelihood`` every observed value must lie in its support
    (``likelihoods.support_of``: [0, 1] for ``"bernoulli"``, non-negative integers for
    ``"poisson"``, ...); with ``batch_size`` there must be at least one full batch of rows.
    Floating inputs keep their dtype, booleans and integers become float32; non-numeric input
    is a ``TypeError``.  ``argument`` names ``x`` in the error messages.

    Args:
        x: a tensor, a NumPy array or nested lists.
        likelihood: a name in ``LIKELIHOODS`` whose support is checked, or ``None`` (only
            finiteness).
        batch_size: if given, at least this many rows are required.
        argument: the name of ``x`` in error messages.
        missing: NaN entries are missing values, not errors.

    Returns:
        ``x`` as a floating tensor of shape ``(rows, features)``.
    """
    support = REAL if likelihood is None else support_of(likelihood)
    x = _as_floating_tensor(x, argument)
    if x.dim() != 2:
        raise bad_value(argument, tuple(x.shape),
                        "a 2-D shape (rows, features); flatten images to (n, h * w) first")
    rows, columns = x.shape
    if rows == 0 or columns == 0:
        raise bad_value(argument, tuple(x.shape), "at least one row and one column")
    n_nan = n_inf = 0
    first_row, low, high = None, math.inf, -math.inf
    step = max(1, min(_BLOCK_ROWS, _BLOCK_BYTES // (columns * x.element_size())))
    for start in range(0, rows, step):  # blocks: a memory map is never read whole
        block = x[start:start + step]
        nan = torch.isnan(block)
        bad = torch.isinf(block) if missing else nan | torch.isinf(block)
        if bool(bad.any()):
            n_nan += int(nan.sum())
            n_inf += int(torch.isinf(block).sum())
            first_row = start + int(bad.any(dim=1).nonzero()[0, 0]) if first_row is None \
                else first_row
        elif first_row is None:
            _check_block(block, nan, support, likelihood, start, argument, missing)
            observed = block[~nan]
            if observed.numel():
                low, high = min(low, float(observed.min())), max(high, float(observed.max()))
        drop_mapped_pages(block)  # nor kept: the rows read are unmapped again
    if first_row is not None:
        raise bad_value(argument, f"{n_nan} NaN and {n_inf} infinite values, the first in row "
                        f"{first_row}", "finite numbers only" + (
                            " (NaN for a missing entry)" if missing else ""))
    if bool(support.outside(torch.tensor([low, high])).any()):
        raise bad_value(argument, f"values from {low:g} to {high:g}",
                        f"{support.describe()} for likelihood={likelihood!r}")
    if batch_size is not None:
        check_batch_size(batch_size, rows, argument)
    return x


def _check_block(block, nan, support, likelihood, start, argument, missing):
    """Refuse a block of rows with a non-integer value for an integer ``support``, or (with
    ``missing``) a row missing entirely; errors name the row (from 0)."""
    if missing and bool(nan.all(dim=1).any()):
        row = start + int(nan.all(dim=1).nonzero()[0, 0])
        raise bad_value(argument, f"row {row} missing in every column",
                        "at least one observed value in each row (drop that row)")
    if support.integer:
        fractional = (block != torch.round(block)) & ~nan
        if bool(fractional.any()):
            row, column = (int(i) for i in fractional.nonzero()[0])
            raise bad_value(argument, f"{float(block[row, column]):g} in row {start + row}, "
                            f"column {column}", f"{support.describe()} for "
                            f"likelihood={likelihood!r}")


def check_batch_size(batch_size, rows, argument="data"):
    """``batch_size`` as an ``int`` when it is a positive integer no larger than ``rows``, the
    number of rows of ``argument``."""
    batch_size = check_int("batch_size", batch_size, 1)
    if rows < batch_size:
        raise bad_value("batch_size", batch_size,
                        f"at most the number of rows of {argument} ({rows})")
    return batch_size


def count_test_rows(n, test_fraction):
    """The number of test rows out of ``n``: ``round(n * test_fraction)``, at least one when
    ``test_fraction > 0``, and at least one row must remain for training."""
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, Real):
        raise bad_type("test_fraction", test_fraction, "a number in [0, 1)")
    if not 0.0 <= test_fraction < 1.0:
        raise bad_value("test_fraction", test_fraction, "a number in [0, 1)")
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    if n_test >= n:
        raise bad_value("test_fraction", test_fraction,
                        f"a fraction that leaves at least one of the {n} rows for training "
                        "(use 0 for no test set)")
    return n_test


def split_indices(n, test_fraction, seed):
    """Seeded train/test row indices: ``(train, test)``, each sorted, disjoint, covering 0..n-1.

    The test part is the first ``round(n * test_fraction)`` positions of
    ``numpy.random.default_rng(seed).permutation(n)``, but at least one row when
    ``test_fraction > 0``; ``test_fraction = 0`` gives an empty test part.  At least one row
    must remain for training.
    """
    seed = check_int("seed", seed, 0)
    n_test = count_test_rows(n, test_fraction)
    order = np.random.default_rng(seed).permutation(n)
    return torch.from_numpy(np.sort(order[n_test:])), torch.from_numpy(np.sort(order[:n_test]))


def _check_part(argument, data, dim, device, missing=False):
    """The checks a ``train`` or ``test`` tensor of a ``DataSplit`` must pass (with
    ``missing``, NaN entries are allowed: the whole table was checked when it was read)."""
    if not isinstance(data, torch.Tensor):
        raise bad_type(argument, data, "a torch.Tensor")
    if data.dtype != torch.float32:
        raise bad_value(argument, data.dtype, "torch.float32 (DataSplit.from_array converts)")
    if not missing:
        validate_data(data, argument=argument)
    elif bool(torch.isinf(data).any()):
        raise bad_value(argument, "infinite values", "finite numbers or NaN (missing)")
    if dim is not None and data.shape[1] != dim:
        raise bad_value(argument, tuple(data.shape), f"{dim} columns like train")
    if device is not None and data.device != device:
        raise bad_value(argument, str(data.device), f"the device of train ({device})")


def _check_labels(argument, labels, data, data_argument):
    """``labels`` is ``None`` or an int64 vector with one entry per row of ``data``."""
    if labels is None:
        return
    if data is None:
        raise bad_value(argument, "labels without data", f"None since {data_argument} is None")
    if not isinstance(labels, torch.Tensor):
        raise bad_type(argument, labels, "a torch.Tensor of dtype int64")
    if labels.dtype != torch.int64:
        raise bad_value(argument, labels.dtype, "torch.int64")
    if tuple(labels.shape) != (data.shape[0],):
        raise bad_value(argument, tuple(labels.shape),
                        f"shape ({data.shape[0]},): one label per row of {data_argument}")
    if labels.device != data.device:
        raise bad_value(argument, str(labels.device), f"the device of {data_argument}")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class DataSplit:
    """A data set preloaded as tensors.

    ``train`` (and ``test`` when there is one) is float32 of shape ``(n, d)``; images are
    flattened row-major and ``image_shape = (h, w)`` with ``h * w = d`` restores them
    (``None`` for tabular data).  Labels, when known, are int64 vectors aligned with the rows.
    Construction checks all of this; use ``from_array`` to build one from raw arrays.

    ``mapped=True`` marks a ``train`` backed by a memory-mapped file
    (``load_mapped_npy``): it stays on the host, ``to`` moves only
    the rest, and the trainer gathers one minibatch at a time from it.

    Attributes:
        train: the training rows, ``(n, d)``.
        test: the test rows, ``(m, d)``, or ``None``.
        train_labels: labels of the training rows, or ``None``.
        test_labels: labels of the test rows, or ``None``.
        image_shape: ``(h, w)`` for images, ``None`` for tables.
        name: what the data set is called in run directories and messages.
        mapped: ``train`` is a memory map.
        missing: NaN entries are missing values.
        schema: a table's columns (a tuple of ``likelihoods.Column``: ``data.table``), whose
            encoding the rows hold; ``None`` for a plain matrix.
    """

    train: torch.Tensor
    test: torch.Tensor | None = None
    train_labels: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None
    image_shape: tuple | None = None
    name: str = "data"
    mapped: bool = False
    missing: bool = False
    schema: tuple | None = None

    def __post_init__(self):
        _check_part("train", self.train, None, None, self.missing)
        if self.test is not None:
            _check_part("test", self.test, self.dim, None if self.mapped else self.train.device,
                        self.missing)
        _check_labels("train_labels", self.train_labels, self.train, "train")
        _check_labels("test_labels", self.test_labels, self.test, "test")
        if self.image_shape is not None:
            shape = self.image_shape
            if (not isinstance(shape, tuple) or len(shape) != 2
                    or any(isinstance(s, bool) or not isinstance(s, Integral) for s in shape)
                    or math.prod(shape) != self.dim):
                raise bad_value("image_shape", shape,
                                f"None or a tuple (h, w) of integers with h * w = {self.dim}")
        if not isinstance(self.name, str) or not self.name:
            raise bad_value("name", self.name, "a non-empty string")
        if not isinstance(self.mapped, bool):
            raise bad_type("mapped", self.mapped, "True or False")

    @property
    def dim(self):
        """The number of columns ``d``."""
        return self.train.shape[1]

    def to(self, device):
        """A copy with every tensor on ``device`` (``None``: CUDA when available, else CPU),
        except a ``mapped`` train set, which stays on the host."""
        device = resolve_device(device)

        def move(tensor):
            return None if tensor is None else tensor.to(device)

        return dataclasses.replace(self, train=self.train if self.mapped else move(self.train),
                                   test=move(self.test),
                                   train_labels=move(self.train_labels),
                                   test_labels=move(self.test_labels))

    def __repr__(self):
        test = None if self.test is None else tuple(self.test.shape)
        return (f"DataSplit(name={self.name!r}, train={tuple(self.train.shape)}, test={test}, "
                f"labels={self.train_labels is not None}, image_shape={self.image_shape}, "
                f"device={self.train.device}{', mapped' if self.mapped else ''})")

    @classmethod
    def from_array(cls, x, labels=None, *, name, test_fraction=0.0, seed=0, binarize=False,
                   argument="x", missing=False, schema=None):
        """Build a data set from an ``(n, d)`` table or ``(n, h, w)`` images.

        Images are flattened row-major and keep ``image_shape = (h, w)``.  With
        ``binarize=True`` the values (which must lie in [0, 1]) become ``x > 0.5`` as 0/1.
        ``test_fraction`` and ``seed`` split off a test set with ``split_indices``.
        ``argument`` names ``x`` in error messages (a loader passes the file it read);
        ``missing`` and ``schema`` are kept (see the attributes).
        """
        x = _as_floating_tensor(x, argument)
        if x.dim() == 3:
            image_shape = (x.shape[1], x.shape[2])
            x = x.reshape(x.shape[0], image_shape[0] * image_shape[1])
        elif x.dim() == 2:
            image_shape = None
        else:
            raise bad_value(argument, tuple(x.shape), "a 2-D (n, d) table or 3-D (n, h, w) images")
        x = validate_data(x, likelihood="bernoulli" if binarize else None, argument=argument,
                          missing=missing)
        if missing and bool(torch.isnan(x).all(0).any()):
            column = int(torch.isnan(x).all(0).nonzero()[0, 0])
            raise bad_value(argument, f"column {column} missing in every row",
                            "at least one observed value in each column (drop that column)")
        x = (x > BINARY_THRESHOLD) if binarize else x
        x = x.to(torch.float32)
        if labels is not None:
            labels = _as_labels(labels, x.shape[0]).to(x.device)
        train_rows, test_rows = split_indices(x.shape[0], test_fraction, seed)

        def part(tensor, rows):
            return None if tensor is None or len(rows) == 0 else tensor[rows.to(tensor.device)]

        return cls(train=part(x, train_rows), test=part(x, test_rows),
                   train_labels=part(labels, train_rows), test_labels=part(labels, test_rows),
                   image_shape=image_shape, name=name, missing=missing,
                   schema=None if schema is None else tuple(schema))


def _as_labels(labels, n):
    """``labels`` as an int64 vector of length ``n``; integer values only."""
    if not isinstance(labels, torch.Tensor):
        array = np.asarray(labels)
        labels = _from_numpy(array) if array.dtype.kind in "biufc" else array
    dtype = labels.dtype
    if (not isinstance(labels, torch.Tensor) or dtype.is_floating_point or dtype.is_complex
            or dtype == torch.bool):
        raise bad_type("labels", labels, f"integer class labels, not dtype {dtype}")
    if tuple(labels.shape) != (n,):
        raise bad_value("labels", tuple(labels.shape), f"shape ({n},): one label per row")
    return labels.to(torch.int64)

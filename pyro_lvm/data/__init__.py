"""Data sets as preloaded tensors: embedded digits, MNIST files, user arrays, 2-D toys.

``load_dataset`` is the one entry point the command line uses; the loaders behind it are
public too.  See ``docs/data.md``.
"""

import os
from pathlib import Path

from ..exports import module_getattr
from ..errors import bad_type, bad_value
from .dataset import DataSplit, validate_data
from .digits import load_digits
from .mnist5k import load_mnist5k
from .files import (MNIST_FILES, cache_as_npy, load_array_file, load_mapped_npy, load_mnist,
                    mnist_file)
from .table import (decode_table, describe_schema, encode_table, has_header, infer_schema,
                    load_table, parse_columns, read_table, row_index, table_rows)
from .toy import TOY_DENSITIES, load_toy, toy_density

__all__ = [
    "DataSplit",
    "TOY_DENSITIES",
    "decode_table",
    "describe_schema",
    "encode_table",
    "has_header",
    "infer_schema",
    "load_array_file",
    "load_mapped_npy",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "load_mnist5k",
    "load_table",
    "load_toy",
    "parse_columns",
    "read_table",
    "row_index",
    "table_rows",
    "resolve_source",
    "source_files",
    "toy_density",
    "validate_data",
]

#: The embedded image sets by name; each also comes binarized as ``NAME-binary``.
_IMAGE_SETS = {"digits": load_digits, "mnist5k": load_mnist5k}
_EMBEDDED = tuple(f"{name}{suffix}" for name in _IMAGE_SETS for suffix in ("", "-binary"))
_SOURCES = ("one of " + ", ".join(repr(name) for name in (*_EMBEDDED, *TOY_DENSITIES))
            + ", 'mnist:DIR', a path to a .csv, .npy or .npz file, or an existing MNIST directory")


def _converted(path, cache_dir):
    """``path``, or for a CSV file with a ``cache_dir`` its ``.npy`` conversion there."""
    return cache_as_npy(path, cache_dir) if path.suffix.lower() == ".csv" and cache_dir else path


def _source_path(source):
    """The file or directory ``source`` names, or ``None`` for the embedded sets."""
    if source in _EMBEDDED or source in TOY_DENSITIES:
        return None
    return Path(source[len("mnist:"):] if source.startswith("mnist:") else source).expanduser()


def resolve_source(source: str) -> str:
    """``source`` with its file or directory made absolute, so that it names the same data
    from any working directory (the embedded sets are returned as they are)."""
    path = _source_path(source)
    if path is None or not path.exists():  # what is not there is reported as it was typed
        return source
    return ("mnist:" if source.startswith("mnist:") else "") + str(path.resolve())


def source_files(source: str) -> list:
    """The files ``source`` reads (none for the embedded sets): the file itself, or the MNIST
    IDX files found in its directory."""
    path = _source_path(source)
    if path is None:
        return []
    if path.is_dir():
        found = (mnist_file(path, stem) for pair in MNIST_FILES.values() for stem in pair)
        return [file for file in found if file is not None]
    return [path]


def _load(source, image_binarize, binarize, seed, cache_dir, mapped, missing):
    """The ``DataSplit`` that ``source`` (a string) names."""
    path = Path(source).expanduser()
    if mapped:
        if path.suffix.lower() not in (".npy", ".csv"):
            raise bad_value("source", source, "a .npy file (or a .csv file, converted once to "
                            ".npy in cache_dir) with mapped=True")
        if binarize:
            raise bad_value("binarize", binarize, "False or None with mapped=True (a memory "
                            "map is read as it is)")
        return load_mapped_npy(_converted(path, cache_dir))
    if source in _IMAGE_SETS:
        return _IMAGE_SETS[source](binarize=image_binarize, seed=seed)
    if source in _EMBEDDED:  # NAME-binary
        if binarize is False:
            raise bad_value("binarize", binarize, f"True or None with source {source!r}")
        return _IMAGE_SETS[source[:-len("-binary")]](binarize=True, seed=seed)
    if source.startswith("mnist:"):
        return load_mnist(source[len("mnist:"):], binarize=image_binarize, cache_dir=cache_dir)
    if source in TOY_DENSITIES:
        if binarize:
            raise bad_value("binarize", binarize,
                            f"False or None with the toy density {source!r} (not in [0, 1])")
        return load_toy(source, seed=seed)
    if path.is_dir():
        return load_mnist(path, binarize=image_binarize, cache_dir=cache_dir)
    if path.suffix.lower() in (".csv", ".npy", ".npz"):
        return load_array_file(_converted(path, cache_dir), seed=seed, binarize=bool(binarize),
                               source=path, missing=missing)
    raise bad_value("source", source, _SOURCES)


def load_dataset(source: str = "digits", likelihood: str | None = None, seed: int = 0,
                 binarize: bool | None = None, cache_dir: str | os.PathLike | None = None,
                 mapped: bool = False, table: bool = False, columns: str | dict | None = None,
                 missing: bool = False) -> DataSplit:
    """The ``DataSplit`` named by ``source``, checked for ``likelihood``.

    ``source`` is ``"digits"``, ``"digits-binary"``, ``"mnist5k"``, ``"mnist5k-binary"``
    (the optional extra ``[images]``), ``"mnist:DIR"``, a name in
    ``TOY_DENSITIES``, or a path to a ``.csv`` / ``.npy`` / ``.npz`` file or an MNIST
    directory.  ``binarize=None`` binarizes the image sets (digits, MNIST) exactly when
    ``likelihood == "bernoulli"``; user files are binarized only when ``binarize=True``.
    ``seed`` fixes the train/test split and the toy draws.  With ``cache_dir``, CSV and IDX
    files are converted once to ``.npy`` there (atomically) and read from the conversion.
    ``mapped=True`` keeps the training rows of a ``.npy`` file (or of a CSV's conversion) in a
    memory map (``load_mapped_npy``: the test set is the last 10% of the rows).  Both parts
    then pass ``validate_data`` with ``likelihood`` (a Bernoulli likelihood needs values in
    [0, 1]).

    With ``table=True`` the source is a table (a ``.csv`` file with a header, or
    ``.parquet``) read with its schema (``load_table``): ``likelihood`` is then ``"table"``
    (a kind inferred per column), one kind for every column, or ``None`` (as ``"table"``), and
    ``columns`` sets kinds by name.  With ``missing=True`` NaN entries (empty cells) are
    missing values.

    Args:
        source: what to load (see above).
        likelihood: ``"bernoulli"``, ``"gaussian"`` or ``None`` (no support check).
        seed: seeds the split and the toy draws.
        binarize: ``None``, ``True`` or ``False`` (see above).
        cache_dir: where CSV and IDX conversions to ``.npy`` go (``None``: none).
        mapped: keep the training rows memory-mapped.
        table: read the source as a table with a schema.
        columns: with ``table``, kinds by column name (``parse_columns``' text or a dict).
        missing: NaN entries are missing values.

    Returns:
        A ``DataSplit`` with a train and (for every source but a mapped one without it) a
            test part.
    """
    if not isinstance(source, (str, os.PathLike)):
        raise bad_type("source", source, _SOURCES)
    if binarize is not None and not isinstance(binarize, bool):
        raise bad_type("binarize", binarize, "True, False or None (None: binarize images when "
                       "likelihood='bernoulli')")
    source = os.fspath(source)
    if table:
        if mapped or binarize:
            raise bad_value("table", table, "False with mapped=True or binarize=True (a table "
                            "is read whole, as it is)")
        return load_table(source, likelihood or "table", columns, missing, seed)
    if likelihood == "table" or columns is not None:
        raise bad_value("likelihood" if columns is None else "columns",
                        likelihood if columns is None else columns,
                        "a table source (table=True) for a schema per column")
    image_binarize = likelihood == "bernoulli" if binarize is None else binarize
    dataset = _load(source, image_binarize, binarize, seed, cache_dir, mapped, missing)
    for part, data in (("train", dataset.train), ("test", dataset.test)):
        if data is not None:
            validate_data(data, likelihood=likelihood, argument=f"{part} set of {source}",
                          missing=missing)
    return dataset


__getattr__ = module_getattr(globals())  # the names renamed in 0.2.0

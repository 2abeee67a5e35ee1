"""A user's table: its header, its column types and its missing cells.

A table (a CSV file with a header, a ``.parquet`` file, or a ``pandas.DataFrame``) becomes a
float matrix with one column per table column and a schema (a list of
``likelihoods.Column``) that says how to read it back: a categorical column holds the code k
of its level ``levels[k]``, every other column its own values, and a missing cell is NaN.
``infer_schema`` gives each column a kind from its values:

    only 0 and 1 (or True/False)           -> bernoulli
    text                                   -> categorical
    non-negative integers                  -> negbinom
    other integers with at most 10 levels  -> categorical
    anything else                          -> gaussian (standardized by its mean and sd)

and any of them can be set by hand (``parse_columns``: ``"age:gaussian,sex:categorical"``).
"""

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import bad_type, bad_value
from ..likelihoods import COLUMN_KINDS, Column, TableLikelihood
from .dataset import DataSplit

#: An integer column with at most this many distinct values (some negative) is categorical.
MAX_LEVELS = 10
#: The table formats read from files.
TABLE_SUFFIXES = (".csv", ".parquet")
#: Where a table without an index of its own numbers its rows: the row's position.
ROW = "row"


def _file_error(path, seen, expected):
    return bad_value(f"file {path}", seen, expected)


def read_table(source):
    """``source`` (a ``pandas.DataFrame``, or a path to a ``.csv`` file with a header or a
    ``.parquet`` file) as a DataFrame.  A CSV's first column is its row index when its header
    cell is empty (as ``DataFrame.to_csv`` writes an unnamed index) or when it holds text
    that is different on every row (an identifier, as ``to_csv`` writes a named index);
    empty cells are missing (NaN).  A DataFrame whose column names are already distinct
    strings is returned as it is (the functions here read it, never change it); another is
    copied with its names made strings."""
    if isinstance(source, pd.DataFrame):
        if all(isinstance(name, str) for name in source.columns) \
                and source.columns.is_unique and source.size:
            return source
        frame = source.copy()
    elif isinstance(source, (str, os.PathLike)):
        frame = _read_file(Path(source).expanduser())
    else:
        raise bad_type("data", source, "a pandas.DataFrame or a path to a .csv or .parquet file")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise bad_value("data", f"a table of shape {frame.shape}", "at least one row and column")
    names = [str(name) for name in frame.columns]
    if len(set(names)) != len(names):
        raise bad_value("data", f"columns {names}", "distinct column names")
    frame.columns = names
    return frame


def _read_file(path):
    if not path.is_file():
        raise _file_error(path, "no such file", "an existing .csv or .parquet file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix == ".csv":
            frame = pd.read_csv(path, skipinitialspace=True)
            first = frame.columns[0]
            if str(first).startswith("Unnamed: 0"):
                frame = frame.set_index(first).rename_axis(None)
            elif _is_identifier(frame[first]) and frame.shape[1] > 1:
                frame = frame.set_index(first)
        else:
            raise _file_error(path, suffix or "no suffix", f"one of {TABLE_SUFFIXES}")
    except ImportError as error:
        raise _file_error(path, f"no parquet reader ({error})",
                          "pyarrow installed to read .parquet (pip install pyarrow)") from None
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise _file_error(path, " ".join(str(error).split())[:160], "a readable table") \
            from None
    return frame


def _is_identifier(column):
    """Text, present and different on every row."""
    return (column.notna().all() and column.is_unique
            and pd.to_numeric(column, errors="coerce").isna().all())


def has_header(path):
    """Whether the ``.csv`` file ``path`` starts with a header: a first non-blank line with a
    cell that is not a number.  A ``.parquet`` file always has one."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return True
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    with open(path, encoding="utf-8-sig", errors="replace") as file:
        for line in file:
            if line.strip():
                return any(not _is_number(cell) for cell in line.split(","))
    return False


def _is_number(cell):
    try:
        float(cell)
        return True
    except ValueError:
        return False


def parse_columns(text):
    """``{column: kind}`` from ``"name:kind,name:kind"``, or from a file of such pairs (one per
    line or comma-separated; ``#`` starts a comment)."""
    if not isinstance(text, str):
        raise bad_type("columns", text, "'name:kind,...' or a file of name:kind lines")
    path = Path(text).expanduser()
    if ":" not in text or (path.suffix and path.is_file()):
        if not path.is_file():
            raise bad_value("columns", text, "'name:kind,...' (e.g. 'age:gaussian,"
                            "sex:categorical') or a file of name:kind lines")
        text = ",".join(line.split("#", 1)[0] for line in path.read_text().splitlines())
    kinds = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        name, colon, kind = (part.strip() for part in pair.rpartition(":"))
        if not colon or not name:
            raise bad_value("columns", pair, "name:kind")
        if kind not in COLUMN_KINDS:
            raise bad_value(f"columns {name!r}", kind, f"one of {list(COLUMN_KINDS)}")
        if name in kinds:
            raise bad_value("columns", name, "each column named once")
        kinds[name] = kind
    if not kinds:
        raise bad_value("columns", text, "at least one name:kind")
    return kinds


def _python(value):
    """A NumPy scalar as the Python number or string a checkpoint stores."""
    return value.item() if isinstance(value, np.generic) else value


def _numbers(frame, name, kind):
    values = pd.to_numeric(frame[name], errors="coerce")
    text = frame[name][values.isna() & frame[name].notna()]
    if len(text):
        raise bad_value(f"column {name!r}", f"{text.iloc[0]!r} in row {text.index[0]!r}",
                        f"numbers for a {kind} column (or make it categorical: "
                        f"--columns {name}:categorical)")
    return values.astype(float)


def _inferred_kind(column):
    observed = column.dropna()
    if column.dtype == bool or (observed.map(type) == bool).all():
        return "bernoulli"
    numbers = pd.to_numeric(observed, errors="coerce")
    if numbers.isna().any():
        return "categorical"
    values = numbers.to_numpy(dtype=float)
    if set(np.unique(values)) <= {0.0, 1.0}:
        return "bernoulli"
    if (values == np.round(values)).all():
        if (values >= 0).all():
            return "negbinom"
        if len(np.unique(values)) <= MAX_LEVELS:
            return "categorical"
    return "gaussian"


def infer_schema(table, kinds=None, likelihood=None):
    """The schema of ``table`` (a DataFrame, or anything ``read_table`` reads): each column's
    kind is ``kinds[name]`` when given, else ``likelihood`` when given (every column the same
    kind), else inferred from its values (the module's rules).  Categorical levels are the
    distinct observed values, sorted; gaussian and studentt columns get their observed mean
    and standard deviation as center and spread."""
    frame = read_table(table)
    kinds = {} if kinds is None else dict(kinds)
    unknown = [name for name in kinds if name not in frame.columns]
    if unknown:
        raise bad_value("columns", unknown[0], f"a column of the table: {list(frame.columns)}")
    if likelihood is not None and likelihood not in COLUMN_KINDS:
        raise bad_value("likelihood", likelihood, f"one of {list(COLUMN_KINDS)}")
    schema = []
    for name in frame.columns:
        column = frame[name]
        if column.notna().sum() == 0:
            raise bad_value(f"column {name!r}", "no value in any row",
                            "at least one observed value (drop the column)")
        kind = kinds.get(name) or likelihood or _inferred_kind(column)
        schema.append(_column(frame, name, kind))
    return schema


def _column(frame, name, kind):
    if kind == "categorical":
        observed = frame[name].dropna()
        levels = sorted({_python(v) for v in observed}, key=lambda v: (isinstance(v, str), v))
        if len(levels) < 2:
            raise bad_value(f"column {name!r}", f"the single level {levels[0]!r}",
                            "two or more levels for a categorical column (drop it)")
        return Column(name, kind, levels=tuple(levels))
    values = _numbers(frame, name, kind)
    if kind in ("gaussian", "studentt"):
        center, spread = float(values.mean()), float(values.std(ddof=0))
        return Column(name, kind, center=center,
                      spread=spread if math.isfinite(spread) and spread > 0 else 1.0)
    return Column(name, kind)


def encode_table(table, schema, argument="data"):
    """The rows of ``table`` as a float32 array ``(n, len(schema))`` in the schema's column
    order: categorical cells as the codes of their levels, missing cells as NaN.  A column the
    schema has and the table lacks, or one it does not know, or a level it never saw, is an
    error naming it."""
    frame = read_table(table)
    names = [column.name for column in schema]
    absent = [name for name in names if name not in frame.columns]
    extra = [name for name in frame.columns if name not in names]
    if absent or extra:
        raise bad_value(argument, f"columns {list(frame.columns)}", f"the model's columns "
                        f"{names}" + (f" (missing {absent})" if absent else "")
                        + (f" (unknown {extra})" if extra else ""))
    encoded = np.empty((frame.shape[0], len(schema)), dtype=np.float32)
    for j, column in enumerate(schema):
        if column.kind == "categorical":
            codes = {level: k for k, level in enumerate(column.levels)}
            cells = frame[column.name].map(lambda v: v if pd.isna(v) else _python(v))
            unseen = cells[cells.notna() & ~cells.isin(list(codes))]
            if len(unseen):
                raise bad_value(f"column {column.name!r}",
                                f"level {unseen.iloc[0]!r} in row {unseen.index[0]!r}",
                                f"one of the levels seen in training {list(column.levels)}")
            encoded[:, j] = cells.map(codes).to_numpy(dtype=float, na_value=np.nan)
        else:
            encoded[:, j] = _numbers(frame, column.name, column.kind).to_numpy()
    return encoded


def decode_table(x, schema, index=None):
    """A DataFrame of the rows ``x`` (``(n, len(schema))``, encoded as ``encode_table``
    makes them) in the table's own terms: its column names, categorical levels, and integers
    for a count or binary column whose values are all whole (a conditional mean stays as it
    is); ``index`` labels the rows."""
    x = np.asarray(x, dtype=np.float64)
    columns = {}
    for j, column in enumerate(schema):
        values = x[:, j]
        if column.kind == "categorical":
            levels = np.asarray(column.levels, dtype=object)
            codes = np.clip(np.nan_to_num(values), 0, len(levels) - 1).astype(int)
            columns[column.name] = np.where(np.isnan(values), None, levels[codes])
        elif column.kind in ("bernoulli", "poisson", "negbinom", "zinb") and \
                (values == np.round(values)).all():
            columns[column.name] = values.astype(np.int64)
        else:
            columns[column.name] = values
    return pd.DataFrame(columns, index=index)


def row_index(table):
    """The labels of ``table``'s rows: its own index (named ``row`` when it has no name), or
    their positions."""
    index = read_table(table).index
    return index if index.name is not None else index.rename(ROW)


def table_rows(table, schema, missing=False, argument="data"):
    """``table``'s rows encoded by ``schema`` (``encode_table``) as a float32 tensor, checked:
    every observed cell suits its column's kind, and a missing cell is an error unless
    ``missing``."""
    frame = read_table(table)
    encoded = encode_table(frame, schema, argument)
    nan = np.isnan(encoded)
    if nan.any() and not missing:
        row, col = np.argwhere(nan)[0]
        raise bad_value(argument, f"{int(nan.sum())} missing cells, the first in row "
                        f"{frame.index[row]!r}, column {schema[col].name!r}",
                        "no missing cells (pass --missing / missing=True to model them)")
    rows = torch.from_numpy(encoded)
    TableLikelihood(schema).check(rows, argument)
    return rows


def load_table(table, likelihood="table", columns=None, missing=False, seed=0,
               test_fraction=0.1):
    """A ``DataSplit`` of ``table`` with its ``schema`` (``infer_schema``: ``likelihood`` is
    ``"table"`` for a kind per column, or one kind for all; ``columns`` sets kinds by name:
    a dict or ``parse_columns``' text).  Every observed cell must suit its column's kind;
    missing cells are refused unless ``missing=True``."""
    frame = read_table(table)
    name = Path(table).stem if isinstance(table, (str, os.PathLike)) else "table"
    kinds = parse_columns(columns) if isinstance(columns, str) else columns
    schema = infer_schema(frame, kinds, None if likelihood == "table" else likelihood)
    argument = f"file {table}" if name != "table" else "table"
    rows = table_rows(frame, schema, missing, argument)
    return DataSplit.from_array(rows, name=name, test_fraction=test_fraction, seed=seed,
                                argument=argument, missing=missing, schema=schema)


def describe_schema(schema):
    """One line per column: its name, kind, and levels or standardization."""
    width = max(len(column.name) for column in schema)
    lines = []
    for column in schema:
        detail = (f"{len(column.levels)} levels: " + ", ".join(map(str, column.levels[:6]))
                  + (", ..." if len(column.levels) > 6 else "")
                  if column.kind == "categorical" else
                  f"mean {column.center:.4g}, sd {column.spread:.4g}"
                  if column.kind in ("gaussian", "studentt") else "")
        lines.append(f"  {column.name:<{width}}  {column.kind:<11} {detail}".rstrip())
    return lines

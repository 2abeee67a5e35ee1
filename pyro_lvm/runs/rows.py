"""Rows a user hands to a trained run (``encode``, ``impute``), read as its model reads them
and written back in the user's terms."""

import numpy as np
import pandas as pd

from ..checkpoint import write_atomically
from ..data import decode_table, load_array_file, read_table, row_index, table_rows, validate_data
from .recipes import data_likelihood


def table_schema(lvm):
    """The schema of a model of a table (a list of ``Column``, ``VAE.schema``), or ``None``."""
    return getattr(lvm, "schema", None)


def read_rows(lvm, spec, data):
    """``(rows, index)``: the rows of the file ``data`` as the run's model reads them (a table
    encoded by its schema, with its row ``index``; otherwise a numeric file as it is, index
    ``None``), checked against its likelihood; NaN cells are allowed when the model models
    missing values."""
    missing = bool(getattr(lvm, "missing", False))
    schema = table_schema(lvm)
    argument = f"data {data}"
    if schema is not None:
        frame = read_table(data)
        return table_rows(frame, schema, missing, argument), row_index(frame)
    rows = load_array_file(data, test_fraction=0.0, missing=missing).train
    return validate_data(rows, likelihood=data_likelihood(spec), argument=argument,
                         missing=missing), None


def write_frame(frame, out):
    """Write a DataFrame atomically to ``out``: ``.csv`` with a header (and the index, when it
    is named), or ``.npy`` holding a structured array whose field names are the columns."""
    keep_index = frame.index.name is not None
    if out.suffix.lower() == ".csv":
        def write(handle):
            handle.write(frame.to_csv(index=keep_index, float_format="%.7g").encode())
    else:
        def write(handle):
            records = frame.reset_index() if keep_index else frame
            np.save(handle, records.to_records(index=False), allow_pickle=False)
    return write_atomically(out, write)


def rows_frame(rows, lvm, index=None):
    """The rows (encoded as the model reads them) as a DataFrame in the user's terms: a table's
    own columns and levels, else columns ``x0, x1, ...``."""
    schema = table_schema(lvm)
    if schema is not None:
        return decode_table(rows, schema, index)
    return pd.DataFrame(np.asarray(rows), columns=[f"x{j}" for j in range(rows.shape[1])],
                        index=index)

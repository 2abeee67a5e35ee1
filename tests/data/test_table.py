"""Tables: schema inference, overrides, encoding and decoding, and the errors on bad input."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from pyro_lvm.data import (decode_table, encode_table, has_header, infer_schema, load_dataset,
                           load_table, parse_columns, read_table, row_index)
from pyro_lvm.likelihoods import Column


def _frame():
    return pd.DataFrame({
        "age": [34.5, 51.0, 29.25, 62.0],
        "sex": ["m", "f", "f", "m"],
        "visits": [2, 0, 5, 1],
        "smoker": [0, 1, 0, 1],
        "grade": [-1, 0, 1, 0],
        "flag": [True, False, True, True],
    }, index=pd.Index(["p1", "p2", "p3", "p4"], name="patient"))


def test_each_column_gets_the_kind_its_values_say():
    schema = infer_schema(_frame())
    assert [(c.name, c.kind) for c in schema] == [
        ("age", "gaussian"), ("sex", "categorical"), ("visits", "negbinom"),
        ("smoker", "bernoulli"), ("grade", "categorical"), ("flag", "bernoulli")]
    age = schema[0]
    values = np.array([34.5, 51.0, 29.25, 62.0])
    assert age.center == pytest.approx(values.mean()) and age.spread == pytest.approx(values.std())
    assert schema[1].levels == ("f", "m") and schema[4].levels == (-1, 0, 1)


def test_kinds_set_by_hand_and_for_every_column():
    schema = infer_schema(_frame(), {"visits": "poisson", "age": "studentt"})
    assert schema[0].kind == "studentt" and schema[2].kind == "poisson"
    numbers = _frame()[["age", "visits"]]
    assert {c.kind for c in infer_schema(numbers, likelihood="gaussian")} == {"gaussian"}


def test_parse_columns_reads_pairs_and_files(tmp_path):
    assert parse_columns("age:gaussian, sex:categorical") == {"age": "gaussian",
                                                              "sex": "categorical"}
    path = tmp_path / "schema.txt"
    path.write_text("# kinds\nage: gaussian\nvisits:zinb  # dropouts\n")
    assert parse_columns(str(path)) == {"age": "gaussian", "visits": "zinb"}
    for bad, message in [("age:laplace", "one of"), ("age", "name:kind"),
                         ("a:gaussian,a:poisson", "each column named once"),
                         (":gaussian", "name:kind")]:
        with pytest.raises(ValueError, match=message):
            parse_columns(bad)


def test_encoding_and_decoding_give_back_the_table():
    frame = _frame()
    schema = infer_schema(frame)
    encoded = encode_table(frame, schema)
    assert encoded.dtype == np.float32 and encoded.shape == (4, 6)
    assert encoded[:, 1].tolist() == [1, 0, 0, 1]  # m -> 1, f -> 0
    assert encoded[:, 4].tolist() == [0, 1, 2, 1]  # -1, 0, 1 -> 0, 1, 2
    back = decode_table(encoded, schema, frame.index)
    assert back["sex"].tolist() == frame["sex"].tolist()
    assert back["grade"].tolist() == frame["grade"].tolist()
    assert back["visits"].dtype == np.int64 and back["visits"].tolist() == [2, 0, 5, 1]
    assert np.allclose(back["age"], frame["age"])
    # a conditional mean of a count is not rounded
    encoded[0, 2] = 2.25
    assert decode_table(encoded, schema)["visits"].iloc[0] == 2.25


def test_a_csv_keeps_its_header_index_and_empty_cells(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(",age,sex\np1,34,m\np2,,f\np3,40,\n")
    frame = read_table(path)
    assert list(frame.columns) == ["age", "sex"] and list(frame.index) == ["p1", "p2", "p3"]
    assert math.isnan(frame["age"]["p2"]) and pd.isna(frame["sex"]["p3"])
    assert row_index(frame).name == "row"
    assert has_header(path)
    plain = tmp_path / "plain.csv"
    plain.write_text("1,2\n3,4\n")
    assert not has_header(plain)


def test_parquet_round_trip(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "t.parquet"
    _frame().to_parquet(path)
    assert has_header(path)
    assert [c.kind for c in infer_schema(path)] == [c.kind for c in infer_schema(_frame())]


def test_load_table_splits_and_keeps_the_schema(tmp_path):
    frame = pd.concat([_frame()] * 10)
    frame.index = range(40)
    path = tmp_path / "t.csv"
    frame.to_csv(path)
    dataset = load_dataset(str(path), table=True, seed=3)
    assert dataset.schema is not None and [c.name for c in dataset.schema] == list(frame.columns)
    assert dataset.train.shape == (36, 6) and dataset.test.shape == (4, 6)
    assert not torch.isnan(dataset.train).any()


@pytest.mark.parametrize("change, columns, missing, message", [
    (lambda f: f, {"height": "gaussian"}, False, "columns: got 'height', expected a column"),
    (lambda f: f, {"sex": "gaussian"}, False, "column 'sex': got \"'m' in row 'p1'\""),
    (lambda f: f.assign(visits=[2, -1, 5, 1]), {"visits": "poisson"}, False,
     "likelihood 'poisson'"),
    (lambda f: f.assign(age=[34.5, None, 29.25, 62.0]), None, False,
     "1 missing cells, the first in row 'p2', column 'age'.*--missing"),
    (lambda f: f.assign(age=[math.nan] * 4), None, True, "column 'age': got 'no value"),
    (lambda f: f.assign(sex=["m"] * 4), None, False, "single level 'm'"),
    (lambda f: f.assign(age=[math.nan] * 4, sex=[None, "m", "f", "m"], visits=[None, 1, 2, 3],
                        smoker=[None, 1, 0, 1], grade=[None, 1, 0, 1],
                        flag=[None, True, False, True]).drop(columns="age"), None, True,
     "row 0 missing in every column"),
])
def test_bad_tables_are_refused_naming_the_column(change, columns, missing, message):
    with pytest.raises(ValueError, match=message):
        load_table(change(_frame()), columns=columns, missing=missing, test_fraction=0.25)


def test_a_level_unseen_in_training_is_refused():
    schema = infer_schema(_frame())
    new = _frame().assign(sex=["m", "x", "f", "m"])
    with pytest.raises(ValueError, match=r"column 'sex': got \"level 'x' in row 'p2'\", "
                                         r"expected one of the levels seen in training"):
        encode_table(new, schema)
    with pytest.raises(ValueError, match=r"unknown \['extra'\]"):
        encode_table(_frame().assign(extra=1), schema)
    with pytest.raises(ValueError, match=r"missing \['age'\]"):
        encode_table(_frame().drop(columns="age"), schema)


def test_column_validates_its_fields():
    with pytest.raises(ValueError, match="one of"):
        Column("a", "laplace")
    with pytest.raises(ValueError, match="two or more levels"):
        Column("a", "categorical")
    with pytest.raises(ValueError, match="a number > 0"):
        Column("a", "gaussian", spread=0.0)
    assert Column.from_config(Column("a", "categorical", ("x", "y")).to_config()) == \
        Column("a", "categorical", ("x", "y"))

"""A table through the command line: the inferred schema is printed, and encode, sample and
impute answer in the table's own rows, columns and levels."""

import numpy as np
import pandas as pd
import pytest

from pyro_lvm.cli import main
from pyro_lvm.runs import load_run

FAST = ["--epochs", "3", "--hidden", "16", "--latent-dim", "2", "--eval-samples", "5",
        "--device", "cpu", "--batch-size", "32"]


def _table(n=120, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    frame = pd.DataFrame({
        "age": np.round(45 + 10 * z + 3 * rng.normal(size=n), 1),
        "sex": rng.choice(["f", "m"], n),
        "visits": rng.poisson(np.exp(0.5 + 0.5 * z)),
        "smoker": (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int),
        "group": rng.choice(["a", "b", "c"], n),
    }, index=pd.Index([f"p{i}" for i in range(n)], name="patient"))
    holes = rng.random(frame.shape) < 0.15
    holes[:, 0] &= ~holes.all(1)
    return frame.mask(holes)


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("table")
    frame = _table()
    frame.to_csv(root / "t.csv")
    return root, frame


def test_train_prints_the_schema_and_stores_it(table_run, capsys):
    root, frame = table_run
    assert main(["train", "--data", str(root / "t.csv"), "--missing", "--quiet", "--out",
                 str(root / "run"), "--columns", "visits:poisson", *FAST]) == 0
    out = capsys.readouterr().out
    assert "columns of" not in out  # --quiet
    assert main(["train", "--data", str(root / "t.csv"), "--missing", "--out",
                 str(root / "loud"), *FAST]) == 0
    out = capsys.readouterr().out
    for line in ["age     gaussian    mean", "sex     categorical 2 levels: f, m",
                 "visits  negbinom", "smoker  bernoulli", "group   categorical 3 levels"]:
        assert line in out
    missing = int(frame.isna().to_numpy().sum())
    assert f"missing: {missing} of {frame.size} cells" in out
    lvm, _, spec = load_run(root / "run", "cpu", test_only=True)
    assert [c.kind for c in lvm.likelihood.schema] == [
        "gaussian", "categorical", "poisson", "bernoulli", "categorical"]
    assert spec.likelihood == "table" and lvm.missing
    center = lvm.likelihood.schema[0].center
    assert center == pytest.approx(frame["age"].mean(), rel=1e-6)


def test_encode_writes_the_row_index_and_the_latents(table_run):
    root, frame = table_run
    assert main(["encode", str(root / "run"), "--data", str(root / "t.csv"), "--out",
                 str(root / "z.csv")]) == 0
    latents = pd.read_csv(root / "z.csv")
    assert list(latents.columns) == ["patient", "z0_mean", "z1_mean", "z0_sd", "z1_sd"]
    assert latents["patient"].tolist() == frame.index.tolist()


def test_sample_writes_rows_of_the_table(table_run):
    root, frame = table_run
    assert main(["sample", str(root / "run"), "-n", "30"]) == 0
    rows = pd.read_csv(root / "run" / "samples-30.csv")
    assert list(rows.columns) == list(frame.columns) and len(rows) == 30
    assert set(rows["sex"]) <= {"f", "m"} and set(rows["group"]) <= {"a", "b", "c"}
    assert set(rows["smoker"]) <= {0, 1}
    assert (rows["visits"] >= 0).all() and (rows["visits"] == rows["visits"].round()).all()


def test_impute_fills_only_the_missing_cells(table_run):
    root, frame = table_run
    assert main(["impute", str(root / "run"), "--data", str(root / "t.csv"), "--out",
                 str(root / "i.csv"), "-k", "50"]) == 0
    imputed = pd.read_csv(root / "i.csv", index_col="patient")
    assert list(imputed.columns) == list(frame.columns)
    assert not imputed.isna().any().any()
    observed = frame.notna()
    for name in frame.columns:
        kept = observed[name]
        if not pd.api.types.is_numeric_dtype(frame[name]):
            assert imputed[name][kept].tolist() == frame[name][kept].tolist()
        else:
            assert np.allclose(imputed[name][kept], frame[name][kept])
    assert set(imputed["sex"]) <= {"f", "m"}
    assert ((imputed["smoker"] >= 0) & (imputed["smoker"] <= 1)).all()


def test_impute_draws_multiple_imputations(table_run):
    root, frame = table_run
    assert main(["impute", str(root / "run"), "--data", str(root / "t.csv"), "--out",
                 str(root / "m.csv"), "--draws", "3", "-k", "20"]) == 0
    drawn = pd.read_csv(root / "m.csv")
    assert list(drawn.columns) == ["patient", "imputation", *frame.columns]
    assert drawn["imputation"].tolist() == [1] * 120 + [2] * 120 + [3] * 120
    counts = drawn["visits"]
    assert (counts == counts.round()).all()  # draws of a count are counts
    first = frame.index[frame["age"].isna()][0]
    ages = drawn.loc[drawn["patient"] == first, "age"]
    assert ages.nunique() == 3  # three different draws of one missing cell


def test_missing_without_holes_says_so(tmp_path, capsys):
    _table().fillna({"age": 40.0, "sex": "f", "visits": 1, "smoker": 0, "group": "a"}
                    ).to_csv(tmp_path / "full.csv")
    assert main(["train", "--data", str(tmp_path / "full.csv"), "--missing", "--out",
                 str(tmp_path / "run"), *FAST]) == 0
    assert "missing: none" in capsys.readouterr().out

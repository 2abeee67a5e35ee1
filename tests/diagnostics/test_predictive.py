"""Posterior predictive test statistics and their mid-p values (``diagnostics.predictive``)."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from pyro_lvm import VAE, load_table
from pyro_lvm.diagnostics import diagnose
from pyro_lvm.diagnostics.predictive import predictive_checks


def _by(checks):
    return {(c["feature"], c["statistic"]): c for c in checks}


def test_replicates_of_the_data_distribution_are_not_extreme():
    rng = np.random.default_rng(0)
    observed = rng.normal(3.0, 2.0, (300, 2))
    replicated = rng.normal(3.0, 2.0, (200, 300, 2))
    checks = predictive_checks(observed, replicated)
    assert [(c["feature"], c["statistic"]) for c in checks] == [
        ("x[0]", "mean"), ("x[0]", "sd"), ("x[1]", "mean"), ("x[1]", "sd")]
    for check in checks:
        assert 0.05 < check["p_value"] < 0.95 and not check["extreme"]
        assert check["replicated_low"] < check["observed"] < check["replicated_high"]
    mean = _by(checks)["x[0]", "mean"]
    assert mean["replicated_mean"] == pytest.approx(3.0, abs=0.05)
    assert mean["observed"] == pytest.approx(observed[:, 0].mean())
    assert mean["replicated_low"] == pytest.approx(np.quantile(replicated[..., 0].mean(1), 0.05))
    assert json.loads(json.dumps(checks)) == checks  # plain JSON types


def test_too_narrow_replicates_give_an_sd_p_value_near_zero():
    rng = np.random.default_rng(1)
    observed = rng.normal(0.0, 1.0, (300, 1))
    replicated = rng.normal(0.0, 0.5, (200, 300, 1))
    sd = _by(predictive_checks(observed, replicated))["x[0]", "sd"]
    assert sd["p_value"] == 0.0 and sd["extreme"]
    assert sd["observed"] > sd["replicated_high"]
    assert sd["observed"] == pytest.approx(observed.std())  # ddof 0


def test_excess_zeros_against_poisson_replicates_give_a_zeros_p_value_near_zero():
    rng = np.random.default_rng(2)
    rate = 3.0
    observed = np.where(rng.random((400, 1)) < 0.3, 0, rng.poisson(rate, (400, 1)))
    # replicates with the observed mean, but Poisson: far fewer zeros
    replicated = rng.poisson(observed.mean(), (200, 400, 1))
    checks = _by(predictive_checks(observed.astype(float), replicated.astype(float)))
    zeros = checks["x[0]", "zeros"]  # inferred a count: non-negative integers
    assert zeros["p_value"] < 0.01 and zeros["extreme"]
    assert zeros["observed"] == pytest.approx(np.mean(observed == 0))
    assert not checks["x[0]", "mean"]["extreme"]
    # the same with the kind given, and no zeros statistic for a gaussian kind
    assert _by(predictive_checks(observed, replicated, kinds=["zinb"]))["x[0]", "zeros"][
        "p_value"] == zeros["p_value"]
    assert ("x[0]", "zeros") not in _by(predictive_checks(observed, replicated,
                                                          kinds=["gaussian"]))


def test_binary_features_get_no_zeros_statistic():
    rng = np.random.default_rng(3)
    observed = rng.integers(0, 2, (100, 1)).astype(float)
    replicated = rng.integers(0, 2, (50, 100, 1)).astype(float)
    assert [c["statistic"] for c in predictive_checks(observed, replicated)] == ["mean", "sd"]


def test_a_shifted_categorical_level_is_flagged_with_its_name():
    rng = np.random.default_rng(4)
    observed = np.repeat([0.0, 1.0, 2.0], [250, 150, 100])[:, None]  # shares 0.5, 0.3, 0.2
    # the model moves mass from level 1 to level 2
    replicated = rng.choice(3, size=(200, 500, 1), p=[0.5, 0.1, 0.4]).astype(float)
    checks = predictive_checks(observed, replicated, kinds=["categorical"], names=["colour"],
                               levels=[("red", "green", "blue")])
    assert [(c["feature"], c["statistic"]) for c in checks] == [
        ("colour", "frequency of red"), ("colour", "frequency of green"),
        ("colour", "frequency of blue")]
    red, green, blue = checks
    assert not red["extreme"]
    assert green["extreme"] and green["p_value"] == 0.0  # observed share above all replicates
    assert blue["extreme"] and blue["p_value"] == 1.0  # below all
    assert green["observed"] == pytest.approx(np.mean(observed == 1))
    assert green["replicated_mean"] == pytest.approx(0.1, abs=0.01)


def test_ties_count_half_so_a_constant_statistic_has_p_one_half():
    observed = np.zeros((20, 1))
    replicated = np.zeros((30, 20, 1))
    checks = predictive_checks(observed, replicated, kinds=["poisson"])
    assert [c["statistic"] for c in checks] == ["mean", "sd", "zeros"]
    assert all(c["p_value"] == 0.5 and not c["extreme"] for c in checks)
    # half the draws tie, half lie above: p = ½ · ½ + ½ = 0.75
    replicated[15:] = 1.0
    assert _by(predictive_checks(observed, replicated))["x[0]", "mean"]["p_value"] == 0.75


def test_missing_cells_are_left_out_on_both_sides():
    rng = np.random.default_rng(5)
    replicated = rng.normal(0.0, 1.0, (200, 100, 1))
    replicated[:, 50:] += 10.0  # where the data are missing, the replicates are far off
    observed = rng.normal(0.0, 1.0, (100, 1))
    observed[50:] = np.nan
    checks = _by(predictive_checks(observed, replicated))
    assert checks["x[0]", "mean"]["observed"] == pytest.approx(np.nanmean(observed))
    assert not checks["x[0]", "mean"]["extreme"] and not checks["x[0]", "sd"]["extreme"]
    assert checks["x[0]", "mean"]["replicated_mean"] == pytest.approx(
        replicated[:, :50].mean(), abs=1e-12)
    # over every row, the replicates' mean and sd would lie far above the data's
    assert np.all(replicated.mean((1, 2)) > np.nanmean(observed) + 4)
    assert np.all(replicated.std((1, 2)) > 3 * np.nanstd(observed))


def test_rows_must_agree_and_all_missing_features_are_left_out():
    observed = np.ones((10, 2))
    observed[:, 1] = np.nan
    replicated = np.ones((5, 10, 2))
    assert [c["feature"] for c in predictive_checks(observed, replicated)] == ["x[0]", "x[0]"]
    with pytest.raises(ValueError, match="replicated: got \\(5, 10, 2\\), expected .*"
                                         "\\(draws >= 1, 9, 2\\)"):
        predictive_checks(observed[:9], replicated)
    with pytest.raises(ValueError, match="names: got .*one entry per feature \\(2\\)"):
        predictive_checks(observed, replicated, names=["a"])


def test_names_and_levels_come_back_as_given():
    rng = np.random.default_rng(6)
    observed = np.stack([rng.normal(size=50), rng.choice(2, 50)], -1)
    replicated = np.stack([rng.normal(size=(20, 50)), rng.choice(2, (20, 50))], -1)
    checks = predictive_checks(observed, replicated, kinds=[None, "categorical"],
                               names=["âge (years)", "sex"], levels=[None, ["f", "m"]])
    assert [(c["feature"], c["statistic"]) for c in checks] == [
        ("âge (years)", "mean"), ("âge (years)", "sd"), ("sex", "frequency of f"),
        ("sex", "frequency of m")]
    codes = predictive_checks(observed, replicated, kinds=[None, "categorical"])
    assert [c["statistic"] for c in codes][2:] == ["frequency of 0", "frequency of 1"]
    assert {"feature", "statistic", "observed", "replicated_mean", "replicated_low",
            "replicated_high", "p_value", "extreme"} == set(checks[0])


@pytest.mark.filterwarnings("ignore:num_samples")
def test_diagnose_reports_predictive_checks_in_the_tables_own_columns(tmp_path):
    rng = np.random.default_rng(7)
    n = 80
    frame = pd.DataFrame({"age": rng.normal(40, 10, n).round(1),
                          "group": rng.choice(["a", "b", "c"], n),
                          "visits": rng.poisson(2.0, n)})
    frame.loc[::9, "age"] = np.nan
    dataset = load_table(frame, missing=True, test_fraction=0.5)
    assert [column.kind for column in dataset.schema] == ["gaussian", "categorical",
                                                          "negbinom"]
    torch.manual_seed(0)
    vae = VAE(3, latent_dim=2, hidden=(8,), likelihood=list(dataset.schema),
              missing=True).eval()
    diagnose(vae, dataset, tmp_path, num_samples=200, quiet=True)
    record = json.loads((tmp_path / "diagnostics.json").read_text())
    checks = record["predictive_checks"]
    assert [(c["feature"], c["statistic"]) for c in checks] == [
        ("age", "mean"), ("age", "sd"), ("group", "frequency of a"),
        ("group", "frequency of b"), ("group", "frequency of c"), ("visits", "mean"),
        ("visits", "sd"), ("visits", "zeros")]
    x = dataset.test.numpy()
    assert checks[0]["observed"] == pytest.approx(np.nanmean(x[:, 0]), rel=1e-5)
    assert checks[2]["observed"] == pytest.approx(np.mean(x[:, 1] == 0))
    assert all(0 <= c["p_value"] <= 1 for c in checks)
    page = (tmp_path / "report.html").read_text()
    assert "<h2>Posterior predictive checks</h2>" in page
    section = page.split("<h2>Posterior predictive checks</h2>")[1].split("<h2>")[0]
    assert "not calibrated" in section and "<td>frequency of b</td>" in section
    assert "<td>visits</td><td>zeros</td>" in section
    assert "The first 3 of 3 features" in section

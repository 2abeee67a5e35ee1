"""Model comparison by held-out elpd: the paired standard error, the closed-form PPCA
difference recovered by importance sampling, the k̂ flag, and ``pyro-lvm compare``."""

import json

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn

from pyro_lvm import PPCA, data_plate, ppca_mle
from pyro_lvm.cli import main
from pyro_lvm.diagnostics import compare_elpd, pointwise_log_px
from pyro_lvm.infer import TrainConfig
from pyro_lvm.runs import RunSpec, train_run


def test_the_paired_se_is_the_spread_of_the_summed_differences_and_beats_the_unpaired():
    rng = np.random.default_rng(0)
    hard = rng.gamma(2.0, 10.0, size=400)  # rows both models find hard: strongly correlated
    a = -hard + rng.normal(0, 0.3, 400)
    b = -hard - 0.05 + rng.normal(0, 0.3, 400)
    best, other = compare_elpd({"a": a, "b": b})
    assert best["name"] == "a" and best["elpd_diff"] == 0 and best["se_diff"] == 0
    assert other["elpd_diff"] == pytest.approx((a - b).sum())
    assert other["se"] == pytest.approx(np.sqrt(400) * b.std())
    # Independently: the bootstrap spread of the summed paired differences.
    rows = rng.integers(0, 400, size=(4000, 400))
    bootstrap = (a - b)[rows].sum(1).std()
    assert other["se_diff"] == pytest.approx(bootstrap, rel=0.08)
    assert other["se_diff"] < other["se_diff_unpaired"] / 10
    assert best["warning"] is False and best["khat_bad"] is None


def test_models_are_ranked_by_elpd_and_a_high_khat_is_flagged():
    rows = np.arange(10.0)
    table = compare_elpd({"worse": -rows - 1, "best": -rows, "mid": -rows - 0.5},
                         khat={"mid": np.r_[np.zeros(9), 0.9]})
    assert [entry["name"] for entry in table] == ["best", "mid", "worse"]
    assert [entry["rank"] for entry in table] == [0, 1, 2]
    assert table[1]["warning"] and table[1]["khat_bad"] == 1 and table[1]["khat_max"] == 0.9
    assert table[2]["elpd_diff"] == pytest.approx(10.0) and table[2]["se_diff"] == 0


@pytest.mark.parametrize("log_px,expected", [
    ({"only": np.zeros(5)}, "at least 2 models"),
    ({"a": np.zeros(5), "b": np.zeros(4)}, "the same test rows"),
    ({"a": np.zeros(1), "b": np.zeros(1)}, "the same test rows")])
def test_bad_comparisons_are_refused(log_px, expected):
    with pytest.raises(ValueError, match=expected):
        compare_elpd(log_px)


class WidePosterior(nn.Module):
    """PPCA's exact posterior with its scale widened 1.5 times: a good importance proposal
    that is not the posterior."""

    def __init__(self, ppca):
        super().__init__()
        self.ppca = [ppca]

    def forward(self, x, indices=None, num_data=None):
        mean, cov = self.ppca[0].posterior(x)
        with data_plate(x, indices, num_data):
            pyro.sample("z", dist.MultivariateNormal(
                mean, scale_tril=1.5 * torch.linalg.cholesky(cov)))


class Sampled:
    """A PPCA seen only through its model and guide (no ``log_marginal``): importance sampled."""

    def __init__(self, ppca):
        self.model, self.guide = ppca.model, WidePosterior(ppca)


def test_on_two_ppca_models_the_sampled_difference_is_the_closed_form_one_within_its_se():
    torch.manual_seed(0)
    x = torch.randn(600, 2) @ torch.randn(2, 5) + 0.5 * torch.randn(600, 5)
    train, test = x[:400], x[400:]
    models = {k: PPCA(5, k).load_parameters(ppca_mle(train, k)) for k in (1, 2)}
    exact = {f"k={k}": pointwise_log_px(m, test)[0] for k, m in models.items()}
    sampled, khat = {}, {}
    for k, m in models.items():
        sampled[f"k={k}"], khat[f"k={k}"], method = pointwise_log_px(Sampled(m), test, 2500)
        assert method == "importance sampled, K=2500"
    assert pointwise_log_px(models[2], test)[1:] == (None, "exact")
    with torch.no_grad():
        assert exact["k=2"] == pytest.approx(models[2].log_marginal(test).numpy())
    closed = compare_elpd(exact)
    estimated = compare_elpd(sampled, khat)
    assert closed[0]["name"] == estimated[0]["name"] == "k=2"
    assert abs(estimated[1]["elpd_diff"] - closed[1]["elpd_diff"]) < estimated[1]["se_diff"]
    assert estimated[1]["elpd_diff"] > 3 * estimated[1]["se_diff"]  # k = 2 is really better
    assert not estimated[0]["warning"] and estimated[0]["khat_max"] < 0.7


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny VAE runs on the digits' test rows (seed 0) and one with another split."""
    root = tmp_path_factory.mktemp("runs")
    made = {}
    for name, guide, seed in (("meanfield", "meanfield", 0), ("fullrank", "fullrank", 0),
                              ("other-split", "meanfield", 1)):
        spec = RunSpec(guide=guide, latent_dim=2, hidden=(16,), eval_samples=10,
                       train=TrainConfig(epochs=2, batch_size=256, seed=seed))
        made[name] = train_run(spec, out=root / name, quiet=True)[0]
    return made


@pytest.mark.slow
def test_the_command_prints_the_ranking_and_writes_json_png_and_page(runs, tmp_path, capsys):
    out = tmp_path / "cmp"
    main(["compare", str(runs["meanfield"]), str(runs["fullrank"]), "-k", "300",
          "--out", str(out), "--quiet"])
    shown = capsys.readouterr().out
    assert shown.splitlines()[0].split()[:5] == ["run", "elpd", "se", "elpd_diff", "se_diff"]
    result = json.loads((out / "compare.json").read_text())
    assert {entry["name"] for entry in result["table"]} == {"meanfield", "fullrank"}
    assert result["num_rows"] == 359 and result["num_samples"] == 300
    best = result["table"][0]
    assert best["name"] in shown.splitlines()[1] and best["elpd_diff"] == 0
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "compare.html").read_text()
    assert "Model comparison" in page and "se_diff" in page and "data:image/png" in page


@pytest.mark.slow
def test_runs_on_other_test_rows_are_refused_before_anything_is_written(runs, tmp_path,
                                                                         capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["compare", str(runs["meanfield"]), str(runs["other-split"]),
              "--out", str(tmp_path / "cmp")])
    assert exit_.value.code == 2
    assert "other-split" in capsys.readouterr().err
    assert not (tmp_path / "cmp").exists()
    with pytest.raises(SystemExit) as exit_:
        main(["compare", str(runs["meanfield"])])
    assert exit_.value.code == 2

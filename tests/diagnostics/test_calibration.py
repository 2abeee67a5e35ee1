"""Simulation-based calibration: the exact PPCA posterior passes, distorted guides are caught
(too narrow, too wide, shifted), PSIS reweighting helps, and the bookkeeping is right."""

import html
import json

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn

from pyro_lvm import VAE
from pyro_lvm.diagnostics import pictures
from pyro_lvm.diagnostics.calibration import (NotCalibratable, calibrate, default_bins,
                                              rank_statistics)
from pyro_lvm.models.ppca import PPCA, PPCAParameters, ppca_mle
from pyro_lvm.plates import data_plate

D, K = 5, 2
PNG = b"\x89PNG\r\n\x1a\n"
#: The level of the tests that expect "calibrated": with 2 coordinates, a correct
#: implementation fails such a test with probability about 2 × 0.001, whatever the seed.
STRICT = 0.001


def _ppca(guide="exact"):
    """PPCA(5, 2) at the maximum-likelihood parameters of data simulated from a random W."""
    g = torch.Generator().manual_seed(0)
    truth = PPCAParameters(torch.randn(D, K, generator=g, dtype=torch.float64),
                           torch.randn(D, generator=g, dtype=torch.float64), 0.5)
    x = (torch.randn(300, K, generator=g, dtype=torch.float64) @ truth.weight.T + truth.loc
         + truth.noise_scale * torch.randn(300, D, generator=g, dtype=torch.float64))
    return PPCA(D, K, guide=guide).double().load_parameters(ppca_mle(x, K)), x


class DistortedPosterior(nn.Module):
    """q(z | x) = N(m + shift · sd, (scale L)(scale L)ᵀ) from the exact PPCA posterior
    N(m, L Lᵀ) (sd: its marginal standard deviations): ``scale < 1`` is over-confident,
    ``scale > 1`` under-confident, ``shift`` moves q by that many posterior sds."""

    def __init__(self, ppca, scale=1.0, shift=0.0):
        super().__init__()
        self._ppca, self.scale, self.shift = [ppca], scale, shift

    def forward(self, x, indices=None, num_data=None):
        mean, cov = self._ppca[0].posterior(x)
        sd = torch.diagonal(cov).sqrt()
        with data_plate(x, indices, num_data):
            pyro.sample("z", dist.MultivariateNormal(
                mean + self.shift * sd, scale_tril=self.scale * torch.linalg.cholesky(cov)))


def _run(guide, ppca, x, **options):
    return calibrate(ppca.model, guide, x, **{"num_simulations": 400, "num_draws": 49,
                                              **options})


def test_the_exact_posterior_gives_uniform_ranks():
    ppca, x = _ppca()
    result = _run(ppca.guide, ppca, x, level=STRICT)
    assert result["bins"] == 10 and result["site"] == ["z"]
    assert result["coordinates"] == ["z[0]", "z[1]"]
    assert (result["p_value"] >= STRICT).all(), result["p_value"]
    assert result["verdict"] == ["calibrated"] * K and result["overall"] == "calibrated"
    assert result["summary"].startswith("calibrated in 2 of 2 dimensions")
    assert np.allclose(result["mean_rank"], 0.5, atol=0.06)
    assert np.allclose(result["outer_share"], result["outer_expected"], atol=0.1)
    # q = p(z | x̃): the importance weights are all equal (k̂ = −∞) and the reweighted ranks
    # are the plain counts.
    reweighted = _run(ppca.guide, ppca, x, reweight=True, level=STRICT)
    assert reweighted["reweighted"] and np.isneginf(reweighted["khat"]).all()
    assert np.array_equal(reweighted["ranks"], result["ranks"])


@pytest.mark.parametrize("distortion, verdict, detail", [
    ({"scale": 0.5}, "over-confident", "q too narrow"),
    ({"scale": 2.0}, "under-confident", "q too wide"),
    ({"shift": 1.0}, "biased", "q too high"),
    ({"shift": -1.0}, "biased", "q too low"),
])
def test_a_distorted_posterior_is_caught(distortion, verdict, detail):
    ppca, x = _ppca()
    result = _run(DistortedPosterior(ppca, **distortion), ppca, x)
    assert result["verdict"] == [verdict] * K, (result["verdict"], result["z_outer"],
                                                result["z_mean"])
    assert all(text.startswith(detail) for text in result["detail"])
    assert result["overall"] == verdict
    assert result["summary"].startswith(f"{verdict} in 2 of 2 dimensions")
    assert (result["p_value"] < 1e-6).all()


def test_reweighting_corrects_an_over_confident_guide_partly():
    ppca, x = _ppca()
    narrow = DistortedPosterior(ppca, scale=0.5)
    plain, reweighted = _run(narrow, ppca, x), _run(narrow, ppca, x, reweight=True)
    assert reweighted["reweighted"] and reweighted["khat"].shape == (400,)
    assert (reweighted["chi2"] < 0.6 * plain["chi2"]).all(), (plain["chi2"], reweighted["chi2"])
    expected = plain["outer_expected"]  # 26 of the 50 ranks 0 … 49 are in the outer quarters
    assert expected == 0.52
    assert (abs(reweighted["outer_share"] - expected) < abs(plain["outer_share"] - expected)).all()


def test_ranks_counts_band_and_random_state():
    ppca, x = _ppca()
    guide = DistortedPosterior(ppca, scale=0.8)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    result = _run(guide, ppca, x, seed=3, num_simulations=120, num_draws=19, bins=4)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), numpy_state))
    ranks = result["ranks"]
    assert ranks.shape == (120, K) and ranks.dtype.kind == "i"
    assert ranks.min() >= 0 and ranks.max() <= 19 and len(np.unique(ranks)) > 10
    assert result["counts"].shape == (K, 4) and (result["counts"].sum(1) == 120).all()
    assert np.array_equal(result["edges"], [0, 5, 10, 15, 20])
    assert np.allclose(result["expected"], 30)
    low, high = result["band"]
    assert (low < result["expected"]).all() and (result["expected"] < high).all()
    again = _run(guide, ppca, x, seed=3, num_simulations=120, num_draws=19, bins=4)
    assert np.array_equal(again["ranks"], ranks)
    other = _run(guide, ppca, x, seed=4, num_simulations=120, num_draws=19, bins=4)
    assert not np.array_equal(other["ranks"], ranks)
    # In batches of 11 simulated rows (max_cells = 100 draws × rows), each row still meets its
    # own z̃: the exact posterior stays calibrated.
    batched = _run(ppca.guide, ppca, x, num_simulations=100, num_draws=9, max_cells=100,
                   level=STRICT)
    assert batched["verdict"] == ["calibrated"] * K, batched["p_value"]


def test_the_bins_and_the_verdict_rule():
    assert default_bins(99, 500) == 20 and default_bins(49, 400) == 10
    assert default_bins(99, 60) == 10  # each bin expects at least 5 ranks
    assert default_bins(100, 500) == 20  # 101 is prime: 20 bins of 5 or 6 ranks
    uniform = np.tile(np.arange(100), 5)[:, None]
    stats = rank_statistics(uniform, 99)
    assert stats["chi2"][0] == 0 and stats["p_value"][0] == 1 and stats["verdict"] == [
        "calibrated"]
    assert stats["mean_rank"][0] == pytest.approx(0.5) and stats["outer_share"][0] == 0.5
    unequal = rank_statistics(np.tile(np.arange(101), 5)[:, None], 100)
    assert unequal["chi2"][0] == pytest.approx(0) and unequal["counts"].sum() == 505
    cup = np.concatenate([np.zeros(150), np.full(150, 99), np.arange(100)]).astype(int)
    cap = np.concatenate([np.full(200, 49), np.full(200, 50)]).astype(int)
    high = np.concatenate([np.full(200, 99), np.arange(100), np.arange(100)]).astype(int)
    stats = rank_statistics(np.column_stack([cup, cap, high]), 99)
    assert stats["verdict"] == ["over-confident", "under-confident", "biased"]
    assert stats["detail"][2].startswith("q too low")


def test_the_level_holds_for_all_coordinates_together():
    """Counts 47, 3, then 25 in each of the 18 other bins (N = 500, L = 99): χ² = 38.7 on 19
    degrees of freedom, p = 0.005: flagged alone at level 0.01, not as one of 10 coordinates
    (Bonferroni: each is tested at 0.001)."""
    counts = np.r_[47, 3, np.full(18, 25)]
    column = np.repeat(5 * np.arange(20), counts)  # bin b holds the ranks 5b ... 5b + 4
    alone = rank_statistics(column[:, None], 99, level=0.01)
    assert alone["p_value"][0] == pytest.approx(0.0047, abs=3e-4)
    assert alone["verdict"] == ["biased"]
    among = rank_statistics(np.repeat(column[:, None], 10, 1), 99, level=0.01)
    assert among["verdict"] == ["calibrated"] * 10


def test_a_vae_runs_on_the_bernoulli_simulations():
    torch.manual_seed(0)
    x = (torch.rand(16, 64) > 0.5).float()
    for options in ({}, {"arch": "conv", "image_shape": (1, 8, 8), "channels": (4, 8)}):
        vae = VAE(64, latent_dim=2, hidden=(16,), **options)
        seen = []

        def guide(rows, indices=None, num_data=None):
            seen.append(rows)
            return vae.guide(rows, indices, num_data)

        result = calibrate(vae.model, guide, x, num_simulations=50, num_draws=9, reweight=True)
        assert result["ranks"].shape == (50, 2) and result["counts"].shape == (2, 10)
        assert result["coordinates"] == ["z[0]", "z[1]"] and len(result["verdict"]) == 2
        simulated = seen[-1]
        assert simulated.shape == (50, 64) and simulated.dtype == x.dtype
        assert set(simulated.unique().tolist()) == {0.0, 1.0}
        assert len(torch.unique(simulated, dim=0)) > 40  # fresh x̃, not the template x[:1]


def _two_observations(x, indices=None, num_data=None):
    with data_plate(x, indices, num_data):
        z = pyro.sample("z", dist.Normal(x.new_zeros(2), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z[..., :1] + x.new_zeros(x.shape), 1.0).to_event(1), obs=x)
        pyro.sample("y", dist.Normal(z[..., 1], 1.0), obs=x[..., 0])


def _global_latent(x, indices=None, num_data=None):
    w = pyro.sample("w", dist.Normal(0.0, 1.0))
    with data_plate(x, indices, num_data):
        z = pyro.sample("z", dist.Normal(x.new_zeros(2), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z[..., :1] + w.unsqueeze(-1), 1.0).expand(
            z.shape[:-1] + x.shape[1:]).to_event(1), obs=x)


def _z_guide(x, indices=None, num_data=None):
    with data_plate(x, indices, num_data):
        pyro.sample("z", dist.Normal(x.new_zeros(2), 1.0).to_event(1))


def _wrong_guide(x, indices=None, num_data=None):
    with data_plate(x, indices, num_data):
        pyro.sample("u", dist.Normal(x.new_zeros(2), 1.0).to_event(1))


@pytest.mark.parametrize("model, guide, options, argument", [
    (None, None, {"num_draws": 0}, "num_draws"),
    (None, None, {"num_simulations": 1}, "num_simulations"),
    (None, None, {"bins": 1}, "bins"),
    (None, None, {"num_draws": 9, "bins": 11}, "bins"),
    (None, None, {"level": 1.5}, "level"),
    (_two_observations, _z_guide, {}, "model"),
    (_global_latent, _z_guide, {}, "model"),
    (None, _wrong_guide, {}, "guide"),
])
def test_bad_arguments_are_named(model, guide, options, argument):
    ppca, x = _ppca()
    model = ppca.model if model is None else model
    guide = ppca.guide if guide is None else guide
    with pytest.raises(ValueError, match=f"^{argument}: got ") as error:
        calibrate(model, guide, x, **{"num_simulations": 20, "num_draws": 9, **options})
    # what diagnose reports as "not available" is a pair SBC does not apply to, not a bad value
    assert isinstance(error.value, NotCalibratable) == (argument in ("model", "guide"))


def test_rank_histograms_writes_a_png(tmp_path):
    ppca, x = _ppca()
    result = _run(DistortedPosterior(ppca, scale=0.5), ppca, x)
    path = pictures.rank_histograms(result, tmp_path / "sbc.png")
    data = (tmp_path / "sbc.png").read_bytes()
    assert str(path).endswith("sbc.png") and data.startswith(PNG) and len(data) > 10_000


@pytest.mark.slow
def test_the_command_prints_a_verdict_per_coordinate_and_writes_json_and_png(tmp_path, capsys):
    from pyro_lvm.cli import main
    from pyro_lvm.infer import TrainConfig
    from pyro_lvm.run_reports import diagnose_run
    from pyro_lvm.runs import RunSpec, train_run

    spec = RunSpec(latent_dim=2, hidden=(16,), eval_samples=10,
                   train=TrainConfig(epochs=2, batch_size=256))
    run_dir = train_run(spec, out=tmp_path / "run", quiet=True)[0]
    with pytest.warns(UserWarning, match="2155"):
        diagnose_run(run_dir, quiet=True, num_samples=100)
    report = run_dir / "diagnostics" / "report.html"
    assert "PSIS-reweighted ranks" not in report.read_text()
    main(["calibrate", str(run_dir), "--simulations", "100", "--draws", "19", "--reweight"])
    shown = capsys.readouterr().out.splitlines()
    assert shown[0].split()[:2] == ["coordinate", "verdict"]
    assert [line.split()[0] for line in shown[1:3]] == ["z[0]", "z[1]"]
    record = json.loads((run_dir / "diagnostics" / "calibration.json").read_text())
    assert record["num_simulations"] == 100 and record["num_draws"] == 19
    assert record["reweighted"] and len(record["khat"]) == 100
    assert [sum(counts) for counts in record["counts"]] == [100, 100]
    assert record["summary"] in shown
    assert (run_dir / "diagnostics" / "calibration.png").read_bytes()[:4] == b"\x89PNG"
    page = report.read_text()  # the report diagnose wrote now says what calibrate found
    assert html.escape(record["summary"]) in page
    assert f"<td>calibration (SBC)</td><td>{html.escape(record['summary'].split(' (SBC')[0])}" \
        in page
    diagnosed = json.loads((run_dir / "diagnostics" / "diagnostics.json").read_text())
    assert diagnosed["calibration"]["reweighted"] and diagnosed["calibration"]["num_draws"] == 19
    with pytest.raises(SystemExit) as exit_:
        main(["calibrate", str(run_dir), "--draws", "0"])
    assert exit_.value.code == 2

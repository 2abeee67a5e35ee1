"""diagnose_run and encode_run on a small trained run: files, report, verdict, errors."""

import base64
import json
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
import torch

from pyro_lvm import VAE, DataSplit
from pyro_lvm.diagnostics import diagnose, encode, verdict_rows
from pyro_lvm.run_reports import diagnose_run, encode_run
from pyro_lvm.infer import TrainConfig
from pyro_lvm.runs import RunSpec, load_run, train_run

PNG = b"\x89PNG\r\n\x1a\n"
VOID = {"meta", "img", "br", "hr", "link", "input"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A VAE with 3 latent dimensions trained for 3 epochs on the digits (359 test rows)."""
    spec = RunSpec(latent_dim=3, hidden=(32,), eval_samples=20,
                   train=TrainConfig(epochs=3, batch_size=128))
    return train_run(spec, out=tmp_path_factory.mktemp("runs") / "vae", quiet=True)[0]


class Page(HTMLParser):
    """Headings, table cells and image sources of a page; fails on unbalanced tags."""

    def __init__(self, text):
        super().__init__()
        self.open, self.headings, self.cells, self.images, self.tables = [], [], [], [], 0
        self.feed(text)
        self.close()
        assert self.open == [], f"unclosed tags {self.open}"

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        self.tables += tag == "table"
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open.pop() == tag, f"</{tag}> closes nothing"

    def handle_data(self, data):
        if self.open and self.open[-1] in ("h1", "h2"):
            self.headings.append(data)
        elif self.open and self.open[-1] in ("td", "th"):
            self.cells.append(data)


@pytest.mark.slow
def test_diagnose_run_writes_a_self_contained_report(run_dir):
    with pytest.warns(UserWarning, match="needs at least 2155 draws"):
        verdict = diagnose_run(run_dir, device="cpu", quiet=True, num_samples=400)
    out = run_dir / "diagnostics"
    pngs = {"elbo.png", "khat.png", "kl.png", "embedding.png", "pair.png", "traversals.png",
            "interpolations.png", "calibration.png"}
    assert {path.name for path in out.iterdir()} == pngs | {"report.html", "diagnostics.json"}
    assert verdict["num_observations"] == 359 and verdict["num_draws"] == 400
    assert verdict["khat_good"] + verdict["khat_ok"] + verdict["khat_bad"] == 359
    assert verdict["share_khat_bad"] == pytest.approx(verdict["khat_bad"] / 359)
    assert 1 <= verdict["ess_min"] <= verdict["ess_median"] <= 400
    assert verdict["latent_dim"] == 3 and 0 <= verdict["active_units"] <= 3
    assert verdict["gap"] == pytest.approx(verdict["log_px"] - verdict["elbo"], abs=1e-4)
    assert verdict["gap"] >= 0 and verdict["converged"] in (True, False)
    assert verdict["report"] == str(out / "report.html")

    record = json.loads((out / "diagnostics.json").read_text())
    assert record["verdict"] == {k: v for k, v in verdict.items() if k != "report"}
    assert len(record["khat"]) == len(record["ess"]) == 359
    assert len(record["kl_per_dim"]) == len(record["active"]) == 3
    assert sum(record["active"]) == verdict["active_units"]
    assert len(record["summary"]) == 5 * 3  # 5 observations × 3 latent dimensions
    assert set(record["summary"]["z[0, 0]"]) >= {"mean", "sd", "hdi_3%", "hdi_97%", "psis_mean"}
    calibration = record["calibration"]
    assert calibration["coordinates"] == ["z[0]", "z[1]", "z[2]"]
    assert calibration["num_simulations"] == 500 and calibration["num_draws"] == 99
    assert [sum(counts) for counts in calibration["counts"]] == [500] * 3
    assert verdict["calibration"] in calibration["summary"]

    page = Page((out / "report.html").read_text())
    assert page.headings[0] == "Did the variational fit work?"
    assert [h.split(" (")[0] for h in page.headings[1:]] == [
        "This report", "Verdict", "How to read it", "Posterior collapse", "Posterior summaries",
        "Convergence", "Calibration of q(z | x)", "Pictures"]
    assert page.tables == 6
    from pyro_lvm import __version__
    from pyro_lvm.runs import stored_spec
    spec = stored_spec(run_dir)
    for cell in (str(run_dir), "vae", spec.data, spec.guide, __version__, "400", "359",
                 str(len(json.loads((run_dir / "history.json").read_text())))):
        assert cell in page.cells, cell
    text = (out / "report.html").read_text()
    assert "≤ 0.5 good" in text and "z[i, j]" in text and "2155 draws" in text
    for what, value in verdict_rows(verdict):
        assert what in page.cells and value in page.cells
    embedded = [base64.b64decode(src.split(",", 1)[1]) for src in page.images]
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert sorted(embedded) == sorted((out / name).read_bytes() for name in pngs)
    assert all(image.startswith(PNG) for image in embedded)


def test_verdict_rows_read_as_a_short_table():
    verdict = {"num_observations": 200, "num_draws": 2500, "khat_good": 150, "khat_ok": 40,
               "khat_bad": 10, "ess_median": 812.4, "ess_min": 45.2, "active_units": 5,
               "latent_dim": 8, "elbo": -20.1234, "log_px": -19.5, "gap": 0.6234,
               "converged": True, "final_relative_change": 3.2e-4}
    assert verdict_rows(verdict) == [
        ("khat <= 0.5 (good)", "150 of 200 (75.0%)"),
        ("khat 0.5-0.7 (ok)", "40 of 200 (20.0%)"),
        ("khat > 0.7 (unreliable)", "10 of 200 (5.0%)"),
        ("IS-ESS median (min)", "812 (45) of 2500 draws"),
        ("active units", "5 of 8"),
        ("ELBO, log p(x) (nats)", "-20.123, -19.500"),
        ("gap log p(x) - ELBO", "0.623"),
        ("ELBO converged", "yes (relative change 3.2e-04 < 0.001)")]


@pytest.mark.filterwarnings("ignore:num_samples")
@pytest.mark.slow
def test_tabular_data_get_a_posterior_predictive_check_and_no_images(tmp_path):
    torch.manual_seed(0)
    dataset = DataSplit.from_array(torch.randn(80, 3), name="table", test_fraction=0.5)
    vae = VAE(3, latent_dim=2, hidden=(8,), likelihood="gaussian").eval()
    verdict = diagnose(vae, dataset, tmp_path, num_samples=300, quiet=True)
    assert {path.name for path in tmp_path.iterdir()} == {
        "khat.png", "kl.png", "embedding.png", "pair.png", "ppc.png", "calibration.png",
        "report.html", "diagnostics.json"}
    assert verdict["num_observations"] == 40 and verdict["converged"] is None
    assert "unknown (no history.json)" in Page((tmp_path / "report.html").read_text()).cells


def test_a_guide_without_latents_is_refused_before_any_work(tmp_path):
    dataset = DataSplit.from_array(torch.rand(20, 3), name="table", test_fraction=0.5)
    vae = VAE(3, latent_dim=2, hidden=(8,), guide=lambda x, indices=None, num_data=None: None)
    with pytest.raises(ValueError, match=r"site: got 'z', .*one of \[\] \(a guide with none"):
        diagnose(vae, dataset, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_encode_run_writes_csv_and_npy_with_named_dimensions(run_dir, tmp_path):
    lvm, dataset, _ = load_run(run_dir, "cpu")
    rows = dataset.test[:50]
    data = tmp_path / "rows.csv"
    np.savetxt(data, rows.numpy(), delimiter=",", fmt="%g")
    csv = encode_run(run_dir, data, tmp_path / "latents.csv", batch_size=16, device="cpu")
    table = pd.read_csv(csv)
    assert list(table.columns) == ["z0_mean", "z1_mean", "z2_mean", "z0_sd", "z1_sd", "z2_sd"]
    loc, scale = lvm.guide.encode(rows)  # the mean-field encoder's own (μ(x), σ(x))
    np.testing.assert_allclose(table.values, torch.cat([loc, scale], -1).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    npy = encode_run(run_dir, data, tmp_path / "latents.npy", batch_size=1000, device="cpu")
    records = np.load(npy, allow_pickle=False)
    assert records.dtype.names == tuple(table.columns) and records.shape == (50,)
    np.testing.assert_allclose(records["z1_sd"], table["z1_sd"], rtol=1e-6)
    drawn = pd.read_csv(encode_run(run_dir, data, tmp_path / "draws.csv", sample=True,
                                   device="cpu"))
    assert list(drawn.columns) == ["z0", "z1", "z2"] and len(drawn) == 50
    z = (drawn.values - table.values[:, :3]) / table.values[:, 3:]
    assert np.abs(z).max() < 6 and not np.allclose(drawn.values, table.values[:, :3])
    pd.testing.assert_frame_equal(encode(lvm.guide, rows, batch_size=7), encode(lvm.guide, rows))


def test_run_errors_are_clear(run_dir, tmp_path):
    with pytest.raises(ValueError, match="run_dir: got .*expected a run directory holding "
                                         "checkpoint.pt"):
        diagnose_run(tmp_path, device="cpu")
    with pytest.raises(ValueError, match="run_dir: got .*checkpoint.pt"):
        encode_run(tmp_path, tmp_path / "rows.csv", tmp_path / "out.csv", device="cpu")
    data = tmp_path / "narrow.csv"
    np.savetxt(data, np.zeros((4, 10)), delimiter=",")
    with pytest.raises(ValueError, match="out: got .*latents.txt.*'.csv', '.npy'"):
        encode_run(run_dir, data, tmp_path / "latents.txt", device="cpu")
    with pytest.raises(ValueError, match="x: got .*shape \\(4, 10\\).*the guide can be "
                                         "evaluated on"):
        encode_run(run_dir, data, tmp_path / "latents.csv", device="cpu")
    assert not (tmp_path / "latents.csv").exists()


def test_counts_get_frequency_bars_and_reals_get_densities(tmp_path, monkeypatch):
    from matplotlib.figure import Figure
    import xarray as xr

    from pyro_lvm.diagnostics import pictures
    seen = {}
    original = Figure.savefig

    def keep(fig, *args, **kwargs):
        seen["bars"] = [len(ax.patches) for ax in fig.axes]
        seen["ylabels"] = [ax.get_ylabel() for ax in fig.axes]
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    rng = np.random.default_rng(0)
    observed = np.stack([rng.poisson(2.0, 300), rng.normal(size=300)], -1).astype(float)
    predicted = np.stack([rng.poisson(2.0, (1, 20, 300)), rng.normal(size=(1, 20, 300))], -1)

    class Groups(dict):
        pass

    idata = Groups(observed_data=xr.Dataset({"x": (("obs", "f"), observed)}),
                   posterior_predictive=xr.Dataset({"x": (("chain", "draw", "obs", "f"),
                                                          predicted.astype(float))}))
    pictures.posterior_predictive(idata, tmp_path / "ppc.png")
    assert seen["bars"][0] > 0 and seen["bars"][1] == 0
    assert seen["ylabels"][:2] == ["frequency", "density"]


def test_the_predictive_picture_leaves_missing_cells_out_of_the_draws_and_names_levels(
        tmp_path, monkeypatch):
    import xarray as xr

    from pyro_lvm.diagnostics import pictures
    seen = {}
    monkeypatch.setattr(pictures, "_densities", lambda ax, data, drawn: seen.update(
        data=data, drawn=drawn))
    original = pictures._frequencies
    monkeypatch.setattr(pictures, "_frequencies", lambda ax, data, drawn, levels=None: (
        seen.update(levels=levels), original(ax, data, drawn, levels),
        seen.update(ticks=[tick.get_text() for tick in ax.get_xticklabels()])))
    rng = np.random.default_rng(0)
    observed = np.stack([rng.normal(size=50), rng.integers(0, 3, 50)], -1).astype(float)
    observed[:10, 0] = np.nan  # missing: the draws there are far off and must not be drawn
    predicted = np.stack([rng.normal(size=(1, 8, 50)), rng.integers(0, 3, (1, 8, 50))], -1)
    predicted[..., :10, 0] = 1000.0
    idata = {"observed_data": xr.Dataset({"x": (("obs", "f"), observed)}),
             "posterior_predictive": xr.Dataset({"x": (("chain", "draw", "obs", "f"),
                                                       predicted.astype(float))})}
    pictures.posterior_predictive(idata, tmp_path / "ppc.png",
                                  levels=[None, ("low", "mid", "high")])
    assert seen["data"].shape == (40,) and seen["drawn"].shape == (8, 40)
    assert seen["drawn"].max() < 100
    assert seen["levels"] == ("low", "mid", "high")
    assert seen["ticks"] == ["low", "mid", "high"]

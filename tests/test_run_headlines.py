"""What ``train`` prints and plots for each kind of model: the numbers that apply to it."""

import json

import pytest
import torch

from pyro_lvm.cli import main


def _train(tmp_path, capsys, *args):
    out = tmp_path / "run"
    assert main(["train", *args, "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    return capsys.readouterr().out, out


@pytest.mark.parametrize("model", ["flow", "gmm"])
def test_an_exact_model_prints_its_log_likelihood_and_nothing_looser(model, tmp_path, capsys):
    printed, out = _train(tmp_path, capsys, model, "--data", "moons", "--epochs", "2")
    assert "test log p(x), exact" in printed and "bits per dimension (exact)" in printed
    for looser in ("ELBO", "gap", "naive", "K="):
        assert looser not in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert "test_elbo" not in metrics and "test_naive_log_px" not in metrics
    history = json.loads((out / "history.json").read_text())
    assert all(record["exact"] for record in history)


def test_the_mixtures_test_curve_is_its_exact_log_likelihood(tmp_path, capsys):
    """The per-epoch test value of a mixture is log p(x) with the component summed out, as in
    training, not an ELBO with z drawn from the prior."""
    from pyro_lvm.runs import load_run
    _, out = _train(tmp_path, capsys, "gmm", "--data", "moons", "--epochs", "3")
    history = json.loads((out / "history.json").read_text())
    lvm, dataset, _ = load_run(out, device="cpu", test_only=True)
    with torch.no_grad():
        exact = float(lvm.log_marginal(dataset.test).mean())
    assert history[-1]["test_elbo"] == pytest.approx(exact, abs=1e-4)
    assert json.loads((out / "metrics.json").read_text())["test_exact_log_px"] == \
        pytest.approx(exact, abs=1e-4)


def test_a_vae_prints_its_bounds_and_no_exact_value(tmp_path, capsys):
    printed, out = _train(tmp_path, capsys, "--epochs", "1", "--eval-samples", "20")
    assert "test ELBO" in printed and "importance sampled, K=20" in printed
    assert "exact" not in printed
    history = json.loads((out / "history.json").read_text())
    assert not any(record.get("exact") for record in history)


def test_loss_curve_names_what_it_plots(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from pyro_lvm import plots
    drawn, original = {}, Figure.savefig

    def keep(fig, *args, **kwargs):
        ax = fig.axes[0]
        drawn.update(labels=[line.get_label() for line in ax.get_lines()], ylabel=ax.get_ylabel())
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    history = [{"epoch": 1, "train_elbo": -3.0, "test_elbo": -3.1, "objective": "trace",
                "exact": True}]
    plots.loss_curve(history, tmp_path / "loss.png")
    assert drawn["labels"] == ["train log p(x)", "test log p(x)"]
    assert drawn["ylabel"].startswith("log p(x)")
    history[0].pop("exact")
    plots.loss_curve(history, tmp_path / "loss.png")
    assert drawn["labels"] == ["train ELBO", "test ELBO"]

"""The ``pyro-lvm`` command end to end, on small settings."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from pyro_lvm.checkpoint import load_checkpoint
from pyro_lvm.cli import main

FAST = ["--epochs", "2", "--hidden", "32", "--latent-dim", "2", "--eval-samples", "20",
        "--quiet", "--device", "cpu"]


def _snapshot(directory):
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "vae"
    assert main(["train", "--out", str(out), *FAST]) == 0
    return out


@pytest.mark.slow
def test_train_writes_a_complete_run(run_dir, capsys):
    names = {p.name for p in run_dir.iterdir()}
    assert {"checkpoint.pt", "metrics.json", "history.json", "samples.png",
            "reconstructions.png", "loss.png"} <= names
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_elbo"] <= metrics["test_log_px"] < 0
    assert metrics["gap"] == pytest.approx(metrics["test_log_px"] - metrics["test_elbo"], abs=1e-4)
    assert metrics["bits_per_dim"] == pytest.approx(-metrics["test_log_px"] / (64 * np.log(2)),
                                                    rel=1e-4)
    assert metrics["num_samples"] == 20 and metrics["epochs"] == 2
    history = json.loads((run_dir / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    samples = imread(run_dir / "samples.png")
    assert samples.ndim == 3 and samples.shape[0] > 100 and samples.shape[1] > 100
    state = load_checkpoint(run_dir / "checkpoint.pt")
    assert state["kind"] == "vae" and state["epoch"] == 2 and "optimizer" in state


def test_evaluate_and_sample(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "-k", "30", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "test log p(x), importance sampled, K=30" in printed
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert evaluation["num_samples"] == 30 and evaluation["test_elbo"] <= evaluation["test_log_px"]
    assert main(["sample", str(run_dir), "-n", "12", "--device", "cpu"]) == 0
    samples = np.load(run_dir / "samples-12.npy")
    assert samples.shape == (12, 64) and samples.min() >= 0 and samples.max() <= 1
    assert imread(run_dir / "samples-12.png").ndim == 3


@pytest.mark.slow
def test_full_rank_guide_and_gaps(tmp_path, capsys):
    out = tmp_path / "fullrank"
    assert main(["train", "--out", str(out), "--guide", "fullrank", *FAST]) == 0
    assert load_checkpoint(out / "checkpoint.pt")["model_config"]["guide"] == "fullrank"
    assert main(["evaluate", str(out), "-k", "50", "--gaps", "--gap-steps", "60",
                 "--device", "cpu"]) == 0
    evaluation = json.loads((out / "evaluation.json").read_text())
    printed = capsys.readouterr().out
    assert "approximation gap" in printed and "their sum" in printed
    # the split is of its own estimates, printed beside it: those add up exactly
    assert evaluation["split_log_px"] - evaluation["split_elbo"] == pytest.approx(
        evaluation["approximation_gap"] + evaluation["amortization_gap"], abs=1e-5)
    gap = evaluation["test_log_px"] - evaluation["test_elbo"]
    parts = evaluation["approximation_gap"] + evaluation["amortization_gap"]
    # The two parts add up to log p(x) − ELBO, log p(x) here being estimated with the local
    # guide's draws rather than the amortized guide's: equal within Monte Carlo error.
    assert parts == pytest.approx(gap, abs=0.5)
    assert evaluation["amortization_gap"] > -0.1


@pytest.mark.slow
def test_resume_continues_the_run(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *FAST]) == 0
    four = ["--epochs", "4", *FAST[2:]]
    copy = (out / "data" / "test.npz").read_bytes()
    assert main(["train", "--out", str(out), "--resume", *four]) == 0
    assert (out / "data" / "test.npz").read_bytes() == copy  # written once, by the fresh run
    straight = tmp_path / "straight"
    assert main(["train", "--out", str(straight), *four]) == 0
    resumed, direct = load_checkpoint(out / "checkpoint.pt"), load_checkpoint(
        straight / "checkpoint.pt")
    assert resumed["epoch"] == direct["epoch"] == 4
    for name, value in direct["model"].items():
        assert torch.equal(value, resumed["model"][name]), name


@pytest.mark.parametrize("argv,message", [
    (["--epochs", "0"], "epochs: got 0"),
    (["--lr", "-1"], "learning_rate: got -1.0"),
    (["--latent-dim", "0"], "latent_dim: got 0"),
    (["--data", "/no/such/file.csv"], "/no/such/file.csv"),
    (["--data", "moons"], "in [0, 1]"),
    (["--batch-size", "100000"], "batch_size: got 100000"),
    (["--device", "tpu"], "device: got 'tpu'"),
    (["--memmap"], "source: got 'digits', expected a .npy file"),
])
def test_bad_arguments_exit_2_with_one_line_and_write_nothing(tmp_path, argv, message, capsys):
    out = tmp_path / "new-run"
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--out", str(out), *FAST, *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyro-lvm: error:") and message in err and "\n" not in err
    assert not out.exists()


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--device", "tpu"], ["--seed", "-1"]])
def test_a_bad_resume_leaves_the_run_alone(run_dir, argv, capsys):
    before = _snapshot(run_dir)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--out", str(run_dir), "--resume", *FAST, *argv])
    assert exit_info.value.code == 2
    assert _snapshot(run_dir) == before


def test_fresh_run_into_an_existing_run_is_refused(run_dir, capsys):
    before = _snapshot(run_dir)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--out", str(run_dir), *FAST])
    assert exit_info.value.code == 2
    assert "pass --resume" in capsys.readouterr().err
    assert _snapshot(run_dir) == before


def test_bad_data_file_is_refused_before_anything_is_written(tmp_path, capsys):
    data = tmp_path / "bad.csv"
    data.write_text("1,2\n3,nan\n" * 20)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", str(data), "--likelihood", "gaussian", "--out", str(out), *FAST])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"file {data}: got '20 NaN" in err  # the user's file, not the run's conversion
    assert not out.exists()


def test_missing_run_directory(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(tmp_path / "nothing"), "--device", "cpu"])
    assert exit_info.value.code == 2
    assert "run_dir: got" in capsys.readouterr().err


@pytest.mark.slow
def test_console_script_help():
    result = subprocess.run([sys.executable, "-m", "pyro_lvm", "train", "--help"],
                            capture_output=True, text=True, check=True)
    assert "--resume" in result.stdout and "--elbo" in result.stdout


def _write_csv(path, rows):
    path.write_text("a,b,c,d\n" + "\n".join(",".join(f"{v:.6f}" for v in row) for row in rows))
    return path


@pytest.mark.slow
def test_ppca_from_a_csv_reaches_the_closed_form_solution(tmp_path, capsys):
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(4, 2, generator=g)
    x = torch.randn(600, 2, generator=g) @ weight.T + 0.3 * torch.randn(600, 4, generator=g)
    data = _write_csv(tmp_path / "pca.csv", x.tolist())
    out = tmp_path / "ppca"
    assert main(["train", "ppca", "--data", str(data), "--latent-dim", "2", "--epochs", "40",
                 "--eval-samples", "200", "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "test log p(x), exact" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    from pyro_lvm.models import PPCA, ppca_mle
    from pyro_lvm.runs import load_run
    lvm, dataset, _ = load_run(out, device="cpu")  # the training rows, from the source
    best = PPCA(4, 2).load_parameters(ppca_mle(dataset.train, 2))
    reference = float(best.log_marginal(dataset.test).mean())
    assert metrics["test_exact_log_px"] == pytest.approx(reference, abs=0.05)
    assert metrics["test_log_px"] == pytest.approx(metrics["test_exact_log_px"], abs=0.05)


@pytest.mark.slow
def test_gmm_from_a_csv(tmp_path):
    g = torch.Generator().manual_seed(1)
    centres = torch.tensor([[0.0, 0, 0, 0], [6, 6, 0, 0], [0, 6, 6, 6]])
    labels = torch.randint(0, 3, (450,), generator=g)
    x = centres[labels] + 0.5 * torch.randn(450, 4, generator=g)
    data = _write_csv(tmp_path / "blobs.csv", x.tolist())
    out = tmp_path / "gmm"
    assert main(["train", "gmm", "--data", str(data), "--components", "3", "--epochs", "30",
                 "--eval-samples", "50", "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["train_config"]["elbo"] == "enum"
    assert state["model_config"] == {"data_dim": 4, "num_components": 3}
    # Four independent N(·, 0.5²) coordinates and one of three equally likely clusters:
    # E log p(x) = −4 · ½ log(2π e · 0.25) − log 3 ≈ −4.0.
    assert -4.5 < metrics["test_exact_log_px"] < -3.7
    assert (out / "clusters.png").exists()


@pytest.mark.slow
def test_flow_on_a_toy_density(tmp_path, capsys):
    out = tmp_path / "flow"
    assert main(["train", "flow", "--data", "moons", "--flow", "lu,coupling,lu,coupling",
                 "--hidden", "32,32", "--epochs", "2", "--eval-samples", "4", "--out", str(out),
                 "--quiet", "--device", "cpu"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    # No latent variable: the ELBO is the exact log p(x), so that alone is reported.
    history = json.loads((out / "history.json").read_text())
    assert history[-1]["test_elbo"] == pytest.approx(metrics["test_exact_log_px"], abs=1e-4)
    assert "test_elbo" not in metrics and "test_log_px" not in metrics
    assert imread(out / "density.png").ndim == 3
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["model_config"]["spec"] == "lu,coupling,lu,coupling"
    assert main(["sample", str(out), "-n", "50", "--device", "cpu"]) == 0
    assert np.load(out / "samples-50.npy").shape == (50, 2)


def test_unknown_flow_layer_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "flow", "--data", "moons", "--flow", "maf,glow", "--out",
              str(tmp_path / "f"), "--epochs", "2", "--quiet"])
    assert exit_info.value.code == 2
    assert "glow" in capsys.readouterr().err and not (tmp_path / "f").exists()


@pytest.mark.slow
def test_encode_and_diagnose(run_dir, tmp_path, capsys):
    data = tmp_path / "rows.npy"
    np.save(data, (np.random.default_rng(0).random((30, 64)) > 0.5).astype("float32"))
    out = tmp_path / "latents.csv"
    assert main(["encode", str(run_dir), "--data", str(data), "--out", str(out),
                 "--device", "cpu"]) == 0
    header, *lines = out.read_text().splitlines()
    assert header.split(",") == [f"z{j}_mean" for j in range(2)] + [f"z{j}_sd" for j in range(2)]
    assert len(lines) == 30
    assert main(["diagnose", str(run_dir), "--num-samples", "300", "--quiet",
                 "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "khat > 0.7" in printed and "active units" in printed
    assert (run_dir / "diagnostics" / "report.html").is_file()
    assert json.loads((run_dir / "diagnostics" / "diagnostics.json").read_text())


@pytest.mark.slow
def test_a_run_evaluates_when_moved_and_its_source_is_gone(tmp_path, capsys, monkeypatch):
    rows = tmp_path / "rows.npy"
    np.save(rows, (np.random.default_rng(0).random((120, 6)) < 0.4).astype(np.float32))
    out = tmp_path / "run"
    monkeypatch.chdir(tmp_path)  # a relative --data, as typed
    assert main(["train", "--data", "rows.npy", "--memmap", "--out", "run", *FAST]) == 0
    assert load_checkpoint(out / "checkpoint.pt")["spec"]["memmap"] is True
    capsys.readouterr()
    assert main(["evaluate", "run", "-k", "10", "--device", "cpu"]) == 0
    here = capsys.readouterr().out
    moved = tmp_path / "elsewhere" / "run"
    moved.parent.mkdir()
    out.rename(moved)
    rows.unlink()
    monkeypatch.chdir(moved.parent.parent.parent)
    assert main(["evaluate", str(moved), "-k", "10", "--device", "cpu"]) == 0
    assert capsys.readouterr().out == here  # the same numbers, from the run's own copy
    assert main(["sample", str(moved), "-n", "5", "--device", "cpu"]) == 0
    assert main(["diagnose", str(moved), "--num-samples", "20", "--quiet", "--device",
                 "cpu"]) == 0
    with pytest.raises(SystemExit) as exit_:  # resuming needs the training rows
        main(["train", "--out", str(moved), "--resume", "--epochs", "3", "--quiet"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "rows.npy: got 'file not found'" in err


@pytest.mark.slow
def test_an_edited_source_is_refused_on_resume(tmp_path, capsys):
    data = _write_csv(tmp_path / "t.csv", np.random.default_rng(1).random((80, 4)).tolist())
    out = tmp_path / "run"
    assert main(["train", "ppca", "--data", str(data), "--latent-dim", "2", "--epochs", "1",
                 "--eval-samples", "5", "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    before = _snapshot(out)
    data.write_text(data.read_text().replace("0.", "0.1", 1))
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--out", str(out), "--resume", "--epochs", "2", "--quiet"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "SHA-256 differs" in err and err.count("\n") == 1
    assert _snapshot(out) == before


@pytest.mark.slow
def test_resuming_from_a_crafted_checkpoint_exits_2_in_one_line_and_keeps_it(tmp_path, capsys):
    from pyro_lvm.checkpoint import save_checkpoint
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *FAST]) == 0
    state = load_checkpoint(out / "checkpoint.pt")
    state["optimizer"]["state"] = {0: {"step": torch.tensor(1.0), "exp_avg": torch.zeros(2),
                                       "exp_avg_sq": torch.zeros(2)}}
    save_checkpoint({k: v for k, v in state.items() if k != "format_version"},
                    out / "checkpoint.pt")
    before = _snapshot(out)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--out", str(out), "--resume", "--epochs", "4", *FAST[2:]])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1
    assert err.startswith("pyro-lvm: error: checkpoint: got \"optimizer 'exp_avg' of ")
    assert _snapshot(out) == before

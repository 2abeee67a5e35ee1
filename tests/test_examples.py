"""Every example has a fast mode and runs in it here, printing the numbers it promises (the
diagnostics demo runs in full in test_documented_outputs instead)."""

import importlib.util
import re
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(name, argv, capsys):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--fast", *argv])
    return capsys.readouterr().out


def _numbers(line):
    return [float(v) for v in re.findall(r"-?\d+\.\d+", line)]


@pytest.mark.slow
def test_vae_digits(tmp_path, capsys):
    out = _run("vae_digits", ["--out", str(tmp_path)], capsys)
    elbo = _numbers(next(l for l in out.splitlines() if l.startswith("test ELBO")))[0]
    log_px = _numbers(next(l for l in out.splitlines() if l.startswith("test log p(x)")))[-1]
    assert elbo <= log_px < 0
    assert (tmp_path / "samples.png").stat().st_size > 1000


@pytest.mark.slow
def test_custom_guide(capsys):
    out = _run("custom_guide", [], capsys)
    lines = {l.split()[0]: _numbers(l) for l in out.splitlines()}
    for name in ("student-t", "meanfield"):
        elbo, log_px, gap = lines[name]
        assert elbo <= log_px and gap >= 0


@pytest.mark.parametrize("name", sorted(p.stem for p in EXAMPLES.glob("*.py")))
def test_every_example_has_a_fast_mode(name):
    assert "--fast" in (EXAMPLES / f"{name}.py").read_text()


def _line(out, start):
    return _numbers(next(l for l in out.splitlines() if l.startswith(start)))


def test_ppca_example_reaches_the_closed_form(capsys):
    out = _run("ppca", [], capsys)
    assert 0 <= _line(out, "gap to the MLE")[0] < 0.1


def test_gmm_example_recovers_the_clusters(capsys):
    out = _run("gmm", [], capsys)
    assert _line(out, "adjusted Rand index SVI vs EM")[0] == pytest.approx(1.0)


@pytest.mark.slow
def test_gradient_variance_example(capsys):
    out = _run("gradient_variance", [], capsys)
    assert _line(out, "score / reparam variance ratio")[0] > 10


@pytest.mark.slow
def test_flow_guide_example(capsys):
    out = _run("flow_guide_vae", [], capsys)
    for name in ("meanfield", "flow:iaf*2"):
        elbo, log_px, gap = _line(out, name)
        assert elbo <= log_px and gap >= 0


@pytest.mark.slow
def test_missing_table(capsys):
    out = _run("missing_table", [], capsys)
    value = {l[:34].strip(): _numbers(l[34:])[0] for l in out.splitlines() if l[:4] in
             ("RMSE", "accu")}
    assert "diagnosis  categorical 2 levels: benign, malignant" in out
    assert value["RMSE, real cells, VAE"] < 0.8 * value["RMSE, real cells, column means"]
    assert value["accuracy, diagnosis, VAE"] > value["accuracy, diagnosis, the mode"] + 0.2


@pytest.mark.slow
def test_diagnostics_demo_refuses_runs_made_with_other_settings(tmp_path):
    """A 2-epoch run where the demo's full settings (100 epochs) look for theirs is refused,
    not diagnosed as if it were the documented one (the full demo itself runs in
    test_documented_outputs)."""
    from pyro_lvm.infer import TrainConfig
    from pyro_lvm.runs import RunSpec, train_run

    train_run(RunSpec(guide="meanfield", eval_samples=100,
                      train=TrainConfig(epochs=2, batch_size=64)), out=tmp_path / "meanfield",
              quiet=True)
    spec = importlib.util.spec_from_file_location("demo", EXAMPLES / "diagnostics_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit, match="other settings .2 epochs"):
        module.main(["--out", str(tmp_path)])

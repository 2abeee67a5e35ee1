"""What a user installs: the licence, the version, the typing marker, the optimizer on an
older torch."""

import configparser
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pyro_lvm
from pyro_lvm import TrainConfig, Trainer, VAE
from pyro_lvm.infer import trainer as trainer_module

ROOT = Path(__file__).resolve().parents[1]


def _setup_cfg():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def test_the_licence_file_is_the_licence_setup_cfg_names():
    config = _setup_cfg()
    assert config["metadata"]["license"] == "MIT"
    assert (ROOT / config["metadata"]["license_files"]).read_text().startswith("MIT License")


@pytest.mark.slow
def test_the_package_is_typed_and_its_version_is_the_metadata_version():
    config = _setup_cfg()
    assert "py.typed" in config["options.package_data"]["pyro_lvm"]
    assert (ROOT / "pyro_lvm" / "py.typed").is_file()
    assert pyro_lvm.__version__ == config["metadata"]["version"]
    shown = subprocess.run([sys.executable, "-m", "pyro_lvm", "--version"], capture_output=True,
                           text=True, check=True).stdout
    assert shown.strip() == f"pyro-lvm {pyro_lvm.__version__}"


def test_arviz_is_capped_below_the_release_whose_api_changed():
    requires = _setup_cfg()["options"]["install_requires"]
    assert "arviz>=0.23,<1" in requires.split()


def _trained(monkeypatch, fused):
    monkeypatch.setattr(trainer_module, "has_fused_adam", lambda device_type: fused)
    torch.manual_seed(0)
    trainer = Trainer(VAE(10, latent_dim=2, hidden=(8,)),
                      TrainConfig(epochs=2, batch_size=16, jit=False), device="cpu")
    trainer.fit((torch.rand(64, 10, generator=torch.Generator().manual_seed(0)) < 0.3).float())
    return trainer


def test_adam_is_fused_where_torch_has_the_kernel_and_multi_tensor_where_not(monkeypatch):
    assert trainer_module.has_fused_adam.__wrapped__("cpu")  # torch >= 2.4
    fused = _trained(monkeypatch, True)
    fallback = _trained(monkeypatch, False)  # what torch < 2.4 gets on the CPU
    assert fused.optimizer.param_groups[0]["fused"]
    group = fallback.optimizer.param_groups[0]
    assert not group["fused"] and group["foreach"]
    for name, p in fused.parameters.items():  # the same algorithm: equal up to rounding
        assert torch.allclose(p, fallback.parameters[name], atol=1e-5), name


@pytest.mark.parametrize("module,old,new", [
    ("pyro_lvm", "Dataset", "DataSplit"), ("pyro_lvm.data", "Dataset", "DataSplit"),
    ("pyro_lvm", "TraceELBO", "DeviceTraceELBO"),
    ("pyro_lvm.infer", "TraceMeanFieldELBO", "DeviceTraceMeanFieldELBO"),
    ("pyro_lvm.diagnostics", "compare_runs", "elbo_rhat")])
def test_renamed_classes_keep_their_old_names_for_one_release(module, old, new):
    namespace = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated .* use {new}"):
        assert getattr(namespace, old) is getattr(namespace, new)
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        namespace.Nothing

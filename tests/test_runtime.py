"""Devices: what ``device=None`` resolves to, a bad name, training on CUDA when there is one."""

import math

import pytest
import torch

from pyro_lvm.runtime import resolve_device


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected
    with pytest.raises(ValueError, match="device: got 'gpu7'"):
        resolve_device("gpu7")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_vae_trains_on_cuda():
    from pyro_lvm import VAE, TrainConfig, Trainer
    x = (torch.rand(64, 10) < 0.3).float()
    trainer = Trainer(VAE(10, latent_dim=2, hidden=(8,)), TrainConfig(epochs=2, batch_size=16),
                      device="cuda")
    history = trainer.fit(x, x[:16])
    assert next(trainer.lvm.parameters()).is_cuda and math.isfinite(history[-1]["test_elbo"])


@pytest.mark.parametrize("kind, config", [
    ("vae", {"data_dim": 9, "latent_dim": 3, "hidden": [7], "likelihood": "gaussian",
             "scale": None, "guide": guide}) for guide in ("meanfield", "fullrank",
                                                           "flow:iaf,coupling,lu,qr,shuffle")
] + [
    ("flow", {"dim": 3, "spec": "lu,qr,maf,iaf,coupling,shuffle,reverse", "hidden": [5],
              "seed": 0}),
    ("ppca", {"data_dim": 6, "latent_dim": 2}),
    ("gmm", {"data_dim": 4, "num_components": 3}),
])
def test_the_memory_check_counts_every_parameter_without_allocating(kind, config):
    from pyro_lvm.runs.recipes import build_model, training_bytes
    built = build_model(kind, config)
    # parameter, gradient and Adam's two moments, float32
    assert training_bytes(kind, config) == 4 * 4 * sum(p.numel() for p in built.parameters())

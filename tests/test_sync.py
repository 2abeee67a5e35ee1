"""At most one device-to-host synchronisation per training step (the NaN check).

Every tensor method that copies a value to the host is counted while a few steps run on the
CPU, except where the tensor lives on the host by design whatever the device: the step counter
of ``torch.optim.Adam`` (kept on the CPU unless ``capturable``) and the saved RNG state.
"""

import os
import sys

import pytest
import torch

from pyro_lvm import runtime
from pyro_lvm.infer import TrainConfig, Trainer
from pyro_lvm.models import VAE

#: Tensor methods that copy a value to the host and so wait for the device.
SYNCING = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__", "__index__")
#: Callers whose tensors are host tensors on every device.
HOST_SIDE = (os.path.dirname(torch.optim.__file__), runtime.__file__)


@pytest.fixture
def syncs(monkeypatch):
    """``(calls, state)``: ``calls`` collects ``(method, caller file)`` while ``state["on"]``."""
    calls, state = [], {"on": False}

    def counted(name, original):
        def method(self, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if state["on"] and not caller.startswith(HOST_SIDE):
                calls.append((name, os.path.basename(caller)))
            return original(self, *args, **kwargs)
        return method

    for name in SYNCING:
        monkeypatch.setattr(torch.Tensor, name, counted(name, getattr(torch.Tensor, name)))
    return calls, state


def _count(syncs, jit, elbo="trace"):
    calls, state = syncs
    x = (torch.rand(256, 12, generator=torch.Generator().manual_seed(0)) < 0.4).float()
    trainer = Trainer(VAE(12, latent_dim=2, hidden=(8,)),
                      TrainConfig(epochs=1, batch_size=32, jit=jit, elbo=elbo), device="cpu")
    trainer.fit(x, quiet=True)  # first epoch: contract check, validation, tracing
    trainer.config.epochs = 3
    state["on"] = True
    trainer.fit(x, quiet=True)
    state["on"] = False
    return calls, 2 * (256 // 32)


def test_a_compiled_training_step_synchronises_once(syncs):
    calls, steps = _count(syncs, jit=True)
    assert calls == [("__float__", "trainer.py")] * steps


@pytest.mark.parametrize("elbo", ["trace", "meanfield"])
def test_an_eager_training_step_synchronises_once(syncs, elbo):
    calls, steps = _count(syncs, jit=False, elbo=elbo)
    assert calls == [("__float__", "trainer.py")] * steps

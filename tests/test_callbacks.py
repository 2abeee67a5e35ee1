"""Epoch-end callbacks: learning-rate schedules (exact on resume), early stopping with the
best epoch kept, progress lines without a terminal, and a user's own callback."""

import math
import types

import pytest
import torch

from pyro_lvm import VAE, TrainConfig, Trainer, load_checkpoint
from pyro_lvm.infer.callbacks import EarlyStopping, LearningRateSchedule
from pyro_lvm.runtime import set_seed


def _data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=g) @ torch.randn(2, 6, generator=g)


def _trainer(epochs, **config):
    set_seed(0)
    vae = VAE(6, latent_dim=2, hidden=(8,), likelihood="gaussian")
    return Trainer(vae, TrainConfig(epochs=epochs, batch_size=32, learning_rate=0.01, seed=3,
                                    **config), device="cpu")


def test_cosine_and_step_schedules_follow_their_formulas():
    history = _trainer(6, lr_schedule="cosine").fit(_data(), quiet=True)
    expected = [0.01 * (1 + math.cos(math.pi * e / 6)) / 2 for e in range(6)]
    assert [h["learning_rate"] for h in history] == pytest.approx(expected)
    history = _trainer(5, lr_schedule="step:2:0.5").fit(_data(), quiet=True)
    assert [h["learning_rate"] for h in history] == pytest.approx(
        [0.01, 0.01, 0.005, 0.005, 0.0025])


def test_a_plateau_schedule_lowers_the_rate_after_its_patience():
    parameter = torch.zeros(1, requires_grad=True)
    trainer = types.SimpleNamespace(optimizer=torch.optim.Adam([parameter], lr=1.0), history=[])
    schedule = LearningRateSchedule("plateau:1:0.5", epochs=10)
    rates = []
    for score in (1.0, 2.0, 1.5, 1.4, 1.3):
        record = {"test_elbo": score}
        schedule.on_epoch_end(trainer, record)
        rates.append(record["learning_rate"])
    assert rates == [1.0, 1.0, 1.0, 1.0, 0.5]  # two epochs below the best: halved
    with pytest.raises(ValueError, match="a test set for a plateau schedule"):
        LearningRateSchedule("plateau:1:0.5", 10).on_epoch_end(trainer, {})


@pytest.mark.parametrize("schedule", ["cosine", "plateau:1:0.5"])
def test_a_schedule_resumes_exactly(tmp_path, schedule):
    x, test = _data(), _data(32, seed=1)
    straight = _trainer(4, lr_schedule=schedule)
    straight.fit(x, test, quiet=True)
    first = _trainer(4, lr_schedule=schedule)  # interrupted after two epochs
    first.fit(x, test, checkpoint=tmp_path / "c.pt", quiet=True,
              callbacks=[types.SimpleNamespace(on_epoch_end=lambda t, r: r["epoch"] == 2)])
    resumed = _trainer(4, lr_schedule=schedule).resume(tmp_path / "c.pt")
    resumed.fit(x, test, quiet=True)
    for name, value in straight.lvm.state_dict().items():
        assert torch.equal(value, resumed.lvm.state_dict()[name]), name
    assert [h["learning_rate"] for h in resumed.history] == \
        [h["learning_rate"] for h in straight.history]


def test_early_stopping_counts_epochs_since_the_best():
    stopper = EarlyStopping(patience=2)
    trainer = types.SimpleNamespace(history=[])
    decisions, best = [], []
    for score in (1.0, 2.0, 1.5, 2.0, 1.4):
        record = {"test_elbo": score}
        decisions.append(stopper.on_epoch_end(trainer, record))
        best.append(record["best"])
        trainer.history.append(record)
    assert best == [True, True, False, False, False]  # a tie is not better
    assert decisions == [False, False, False, True, True]


def test_the_best_epoch_is_kept_beside_the_checkpoint(tmp_path):
    x, test = _data(), _data(32, seed=1)
    trainer = _trainer(6, early_stop=10)
    history = trainer.fit(x, test, checkpoint=tmp_path / "c.pt", quiet=True)
    best = max(history, key=lambda h: h["test_elbo"])
    saved = load_checkpoint(tmp_path / "best.pt")
    assert saved["epoch"] == best["epoch"]
    assert load_checkpoint(tmp_path / "c.pt")["epoch"] == 6
    with pytest.raises(ValueError, match="early stopping watches the test ELBO"):
        _trainer(2, early_stop=1).fit(x, quiet=True)


def test_a_callback_sees_every_epoch_adds_to_it_and_can_stop():
    class Logger:
        def __init__(self):
            self.seen = []

        def on_epoch_end(self, trainer, record):
            self.seen.append((record["epoch"], trainer.epoch))
            record["logged"] = True
            return record["epoch"] == 3

    logger = Logger()
    trainer = _trainer(10)
    history = trainer.fit(_data(), quiet=True, callbacks=[logger])
    assert logger.seen == [(1, 0), (2, 1), (3, 2)]  # before the epoch is counted
    assert trainer.epoch == 3 and all(h["logged"] for h in history)


def test_progress_lines_without_a_terminal(capsys):
    _trainer(3).fit(_data(), _data(32, seed=1))  # quiet=None; pytest's stderr is no terminal
    lines = capsys.readouterr().err.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert "train ELBO -" in lines[0] and "test ELBO -" in lines[0] and lines[0].endswith(" s")
    _trainer(2).fit(_data(), quiet=True)
    assert capsys.readouterr().err == ""
    _trainer(1, kl_warmup=2).fit(_data())
    assert "train objective (trace, KL weight 0) -" in capsys.readouterr().err


def test_bad_schedules_are_refused():
    for bad in ("linear", "step:0:0.5", "step:2:1.5", "plateau:x:0.5", "cosine:3", 3):
        with pytest.raises((ValueError, TypeError), match="lr_schedule"):
            TrainConfig(lr_schedule=bad)
    with pytest.raises(ValueError, match="early_stop"):
        TrainConfig(early_stop=-1)

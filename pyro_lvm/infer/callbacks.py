"""What runs at the end of every epoch: the trainer's callbacks.

A callback is any object with ``on_epoch_end(trainer, record)``, called after each epoch with
the trainer and the epoch's history record (which it may add keys to), before the epoch's
checkpoint is written; returning ``True`` ends training after that epoch.  ``Trainer.fit(...,
callbacks=[...])`` takes a user's own (a logger, say); the learning-rate schedule, early
stopping and the progress lines are built from ``TrainConfig`` and run the same way, in that
order, before the user's.  Each decides from the trainer's history and state alone, so a
resumed run decides as the uninterrupted one would.
"""

import sys
import warnings

import torch

from ..errors import bad_type, bad_value

#: The learning-rate schedules by name.
SCHEDULES = ("cosine", "step:EPOCHS:GAMMA", "plateau:PATIENCE:FACTOR")


def _numbers(text, count, argument):
    parts = text.split(":")[1:]
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(values) != count:
        raise bad_value(argument, text, f"one of {list(SCHEDULES)}")
    return values


def check_schedule(text):
    """``text`` when it names a schedule of ``SCHEDULES`` with valid numbers (or is ``None``)."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise bad_type("lr_schedule", text, f"None or one of {list(SCHEDULES)}")
    kind = text.split(":", 1)[0]
    if kind == "cosine" and text == "cosine":
        return text
    if kind in ("step", "plateau"):
        every, factor = _numbers(text, 2, "lr_schedule")
        if every >= 1 and every == int(every) and 0 < factor < 1:
            return text
    raise bad_value("lr_schedule", text, f"one of {list(SCHEDULES)} (EPOCHS and PATIENCE "
                    "whole numbers >= 1, GAMMA and FACTOR in (0, 1))")


class LearningRateSchedule:
    """A PyTorch scheduler over the trainer's Adam, stepped once an epoch: ``"cosine"``
    (``CosineAnnealingLR`` to 0 over the run's epochs), ``"step:S:G"`` (``StepLR``: × G every
    S epochs) or ``"plateau:P:F"`` (``ReduceLROnPlateau`` on the test ELBO: × F after P epochs
    without a better one).  Its state is part of the trainer's checkpoint."""

    def __init__(self, text, epochs):
        self.text, self.epochs = check_schedule(text), epochs
        self.scheduler, self.pending = None, None

    def _make(self, optimizer):
        kind = self.text.split(":", 1)[0]
        if kind == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.epochs)
        every, factor = _numbers(self.text, 2, "lr_schedule")
        if kind == "step":
            return torch.optim.lr_scheduler.StepLR(optimizer, int(every), factor)
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max",
                                                          patience=int(every), factor=factor)

    def on_epoch_end(self, trainer, record):
        if self.scheduler is None:  # the optimizer is complete after the first step
            self.scheduler = self._make(trainer.optimizer)
            if self.pending is not None:
                self.scheduler.load_state_dict(self.pending)
        record["learning_rate"] = trainer.optimizer.param_groups[0]["lr"]
        plateau = isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
        if plateau and "test_elbo" not in record:
            raise bad_value("lr_schedule", self.text, "a test set for a plateau schedule (it "
                            "watches the test ELBO)")
        with warnings.catch_warnings():
            # made after the epoch's optimizer steps, so "step() before optimizer.step()" is
            # PyTorch's guess, not the case: the first epoch did run at the initial rate
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            if plateau:
                self.scheduler.step(record["test_elbo"])
            else:
                self.scheduler.step()

    def state_dict(self):
        return None if self.scheduler is None else self.scheduler.state_dict()

    def load_state_dict(self, state):
        self.scheduler, self.pending = None, state


class EarlyStopping:
    """Stop when the test ELBO has not improved for ``patience`` epochs; marks the epoch of
    the best test ELBO so far with ``record["best"] = True`` (the trainer then keeps its state
    as ``best.pt`` beside the checkpoint)."""

    def __init__(self, patience):
        self.patience = patience

    def on_epoch_end(self, trainer, record):
        if "test_elbo" not in record:
            raise bad_value("early_stop", self.patience, "a test set (early stopping watches "
                            "the test ELBO)")
        scores = [h["test_elbo"] for h in trainer.history] + [record["test_elbo"]]
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        record["best"] = best == len(scores) - 1
        return len(scores) - 1 - best >= self.patience


def objective_label(record, weight=True):
    """How a history record's ``train_elbo`` is named: ``log p(x)`` when the ELBO was the
    log-likelihood itself (``exact``: a flow, a mixture summed out), ``ELBO`` when the objective
    was the plain ELBO, else ``objective (NAME[, KL weight W])`` (the weight when ``weight``)."""
    if record.get("exact"):
        return "log p(x)"
    if record.get("objective", "trace") in ("trace", "meanfield", "enum") \
            and "kl_weight" not in record:
        return "ELBO"
    shown = f", KL weight {record['kl_weight']:.3g}" if weight and "kl_weight" in record \
        else " with a KL weight" if "kl_weight" in record else ""
    return f"objective ({record['objective']}{shown})"


def test_label(record):
    """How a history record's ``test_elbo`` is named: ``log p(x)`` where it is exact, else
    ``ELBO``."""
    return "log p(x)" if record.get("exact") else "ELBO"


class ProgressLines:
    """One line per epoch on ``stream`` (stderr): for a run whose stderr is not a terminal,
    where a progress bar would not show."""

    def __init__(self, epochs, stream=None):
        self.epochs, self.stream = epochs, stream

    def on_epoch_end(self, trainer, record):
        test = record.get("test_elbo")
        print(f"epoch {record['epoch']}/{self.epochs}: train {objective_label(record)} "
              f"{record['train_elbo']:.4f}" + ("" if test is None else
                                               f", test {test_label(record)} {test:.4f}")
              + f", {record['seconds']:.1f} s", file=self.stream or sys.stderr, flush=True)


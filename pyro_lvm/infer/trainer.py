"""Stochastic variational inference for any contract-following model/guide pair.

Each step is SVI's: draw a minibatch (an index slice of a seeded permutation of data already on
the device), take the reparametrized gradient of the negative ELBO with respect to every
parameter of the model and the guide, and apply one Adam update.  The parameters are those of
the ``lvm`` module (``lvm.parameters()``) and every entry of Pyro's parameter store that the
model and guide read while they run (``pyro.param``, autoguides), found as ``pyro.infer.SVI``
finds them, including ones created after the first step.  See docs/training.md for why this is
not a ``pyro.infer.SVI`` object and what it costs against a hand-written PyTorch step.  Under a
``torch.distributed`` process group the same loop runs data-parallel (``.distributed``,
docs/scaling.md).
"""

import dataclasses
import functools
import math
import sys
import time
import warnings
from pathlib import Path

import pyro
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from ..checkpoint import load_checkpoint, save_checkpoint
from ..checks import check_int, check_positive
from ..data.dataset import drop_mapped_pages
from ..errors import bad_type, bad_value
from ..params import ParamCollector, without_registration
from ..plates import declared_nesting
from ..runtime import get_rng_state, resolve_device, set_rng_state, set_seed
from . import distributed
from .contract import check_pair
from .bounds import ImportanceWeightedELBO
from .callbacks import EarlyStopping, LearningRateSchedule, ProgressLines, check_schedule
from .evaluation import elbo_per_datapoint
from .objectives import CompiledNegativeELBO, NegativeELBO, is_builtin, make_elbo
from .traces import exact_likelihood
from .state_checks import check_training_state


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left as it was."""


@dataclasses.dataclass
class TrainConfig:
    """Everything that decides a training run besides the model and the data.

    Attributes:
        epochs: epochs in all (a resumed trainer continues up to this number).
        batch_size: minibatch size; the ragged tail of each permutation is skipped.
        learning_rate: Adam's step size.
        elbo: the objective: ``"trace"`` (``DeviceTraceELBO``), ``"meanfield"``
            (``DeviceTraceMeanFieldELBO``, the KL in closed form where PyTorch has it),
            ``"enum"`` (``TraceEnum_ELBO``), ``"iwae"`` (the importance-weighted bound with
            K = ``num_particles``) or ``"renyi:ALPHA"`` (Rényi's bound, 0 ≤ α < 1):
            ``bounds.ImportanceWeightedELBO``.
        jit: compile the loss with ``torch.jit.trace`` (``None``: for the built-in models).
        num_particles: Monte Carlo particles per step, vectorized (K of ``iwae`` and
            ``renyi``).
        clip_norm: gradient-norm clipping (``None``: none).
        seed: seeds every draw of the run.
        test_particles: particles of the per-epoch test ELBO.
        beta: β of the β-VAE: the latent sites' terms (the KL) weigh β in the training
            objective, E_q log p(x | z) − β KL(q(z | x) ‖ p(z)).
        kl_warmup: epochs of KL warm-up: epoch e (from 1) weighs the KL by
            β · min(1, (e − 1) / kl_warmup), rising linearly from 0 (0: no warm-up).
        free_bits: λ, a floor in nats on the minibatch-average KL of each latent dimension
            (``free_bits.FreeBitsELBO``; 0: none).
        lr_schedule: ``None`` (a constant rate), ``"cosine"``, ``"step:EPOCHS:GAMMA"`` or
            ``"plateau:PATIENCE:FACTOR"`` (``callbacks.LearningRateSchedule``).
        early_stop: stop after this many epochs without a better test ELBO, keeping the best
            epoch's state as ``best.pt`` beside the checkpoint (0: never).
    """

    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 1e-3
    elbo: str = "trace"
    jit: bool | None = None
    num_particles: int = 1
    clip_norm: float | None = None
    seed: int = 0
    test_particles: int = 8
    beta: float = 1.0
    kl_warmup: int = 0
    free_bits: float = 0.0
    lr_schedule: str | None = None
    early_stop: int = 0

    def __post_init__(self):
        for name in ("epochs", "batch_size", "num_particles", "test_particles"):
            check_int(name, getattr(self, name))
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate < 10):
            raise bad_value("learning_rate", self.learning_rate, "a number in (0, 10)")
        if self.jit not in (None, True, False):
            raise bad_value("jit", self.jit, "True, False or None (compile the built-in models)")
        if self.clip_norm is not None and not (
                isinstance(self.clip_norm, (int, float)) and 0 < self.clip_norm < math.inf):
            raise bad_value("clip_norm", self.clip_norm, "a finite positive number or None")
        check_int("seed", self.seed, 0)
        if self.free_bits != 0.0:
            check_positive("free_bits", self.free_bits)
        objective = make_elbo(self.elbo, self.num_particles, free_bits=self.free_bits)
        check_positive("beta", self.beta)
        check_int("kl_warmup", self.kl_warmup, 0)
        check_schedule(self.lr_schedule)
        check_int("early_stop", self.early_stop, 0)
        if self.weighted and isinstance(objective, ImportanceWeightedELBO):
            raise bad_value("elbo", self.elbo, "an ELBO ('trace', 'meanfield' or 'enum') with "
                            "beta or kl_warmup (an importance-weighted bound has no KL term)")

    @property
    def weighted(self):
        """Whether the KL term of the objective is weighted (``beta`` or ``kl_warmup``)."""
        return self.beta != 1.0 or self.kl_warmup > 0

    def kl_weight(self, epoch):
        """The weight of the KL term in epoch ``epoch`` (counted from 1)."""
        if self.kl_warmup == 0:
            return self.beta
        return self.beta * min(1.0, (epoch - 1) / self.kl_warmup)


@functools.cache
def has_fused_adam(device_type):
    """Whether this torch has a fused Adam kernel for ``device_type``: CUDA's since torch 2.0,
    the CPU's since 2.4 (pytorch#123074).  Found by asking for one, not by version."""
    try:
        torch.optim.Adam([torch.zeros(1, device=device_type, requires_grad=True)], fused=True)
    except (RuntimeError, ValueError, TypeError):
        return False
    return True


def adam(tensors, learning_rate, device):
    """``torch.optim.Adam`` over ``tensors``: the fused kernel (one call updates every tensor;
    benchmarks/svi_step.py: the per-parameter loop makes a plain PyTorch VAE step 1.16x-1.20x
    slower) where this torch has it for ``device``, else the multi-tensor (``foreach``) one."""
    fused = has_fused_adam(device.type)
    return torch.optim.Adam(tensors, lr=learning_rate, fused=fused or None,
                            foreach=None if fused else True)


#: The file beside the checkpoint that holds the state of the best epoch (``early_stop``).
BEST = "best.pt"
#: How the trainer names a parameter-store entry that is not a module parameter.
STORE_PREFIX = "param_store."


def _store_entries(named):
    """``{store name: tensor}`` of the parameter-store entries among ``named`` (trainer name
    -> tensor)."""
    return {n[len(STORE_PREFIX):]: p for n, p in named.items() if n.startswith(STORE_PREFIX)}


def _as_data(x, argument):
    if not isinstance(x, torch.Tensor):
        raise bad_type(argument, x, "a torch.Tensor of shape (n, *event_shape)")
    if x.dim() < 2 or x.shape[0] == 0:
        raise bad_value(argument, tuple(x.shape), "a non-empty tensor of shape (n, *event_shape)")
    return x


def _minibatch(data, indices, device):
    """Rows ``indices`` of ``data`` (indices on ``data``'s device) and the indices, both moved
    to ``device``: no-op moves for preloaded data; from a memory map only these rows are read,
    then unmapped again (``drop_mapped_pages``: an epoch would otherwise leave the whole file
    resident), and only host-to-device copies are made (no device-to-host synchronisation)."""
    rows = data[indices]
    drop_mapped_pages(data)
    return rows.to(device, non_blocking=True), indices.to(device, non_blocking=True)


def epoch_order(num_data, seed, epoch):
    """The permutation of the rows in ``epoch``: a CPU generator seeded from ``(seed, epoch)``,
    so that every process of a distributed job draws the same one without communicating."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(num_data, generator=generator)


class Trainer:
    """Trains ``lvm`` (a module with ``model`` and ``guide``) by maximizing the ELBO.

    >>> trainer = Trainer(VAE(64), TrainConfig(epochs=5), device="cpu")
    >>> history = trainer.fit(train, test)        # one dict per epoch, ELBO in nats/example

    Args:
        lvm: a module with ``model`` and ``guide`` (see docs/contract.md).
        config: a ``TrainConfig`` (``None``: the defaults).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (``None``: CUDA when available).
    """

    def __init__(self, lvm: nn.Module, config: TrainConfig | None = None,
                 device: str | torch.device | None = None):
        if not (hasattr(lvm, "model") and hasattr(lvm, "guide") and hasattr(lvm, "parameters")):
            raise bad_type("lvm", lvm, "a torch module with `model` and `guide` attributes")
        self.config = config if config is not None else TrainConfig()
        self.device = resolve_device(device)
        self.lvm = lvm.to(self.device)
        elbo = make_elbo(self.config.elbo, self.config.num_particles, declared_nesting(lvm),
                         self.config.free_bits)
        self.objective = NegativeELBO(lvm, elbo, weighted=self.config.weighted)
        self.loss = self.objective
        self.compiled = is_builtin(lvm) if self.config.jit is None else self.config.jit
        if self.compiled:
            self.loss = CompiledNegativeELBO(self.loss, warn=self.config.jit is True)
        self.optimizer = None  # Adam over every tensor in `parameters`, one group per arrival
        self.parameters = {}  # name -> tensor, in the optimizer's order
        self._known = set()  # their ids
        self._unchecked = []  # names of those that have not had a step yet
        self._before = (set(pyro.get_param_store().keys()),
                        {id(p) for p in lvm.parameters()})
        self._pending = None  # a loaded state waiting for its parameters to exist
        self._prepared = False  # whether the pair has been checked (and lazy parameters made)
        initial = {name: p for name, p in lvm.named_parameters() if p.requires_grad}
        if initial:  # more may come at the first step: an autoguide's, pyro.param sites
            self._add_group(initial)
        self.schedule = None if self.config.lr_schedule is None else \
            LearningRateSchedule(self.config.lr_schedule, self.config.epochs)
        self.history = []
        self.epoch = 0
        self._rng = None  # RNG state after the last finished epoch; None: start from the seed
        self._checked = False  # whether a step has run with Pyro's validation on

    # -- parameters -----------------------------------------------------------------------
    def _adopt(self, seen):
        """Add to the optimizer the trainable tensors not yet in it: the module's (some are
        created on the first call, as an autoguide's) and the parameter-store entries ``seen``
        (name -> unconstrained tensor).  Returns the names of the new ones."""
        new = {name: p for name, p in self.lvm.named_parameters()
               if p.requires_grad and id(p) not in self._known}
        new_ids = {id(p) for p in new.values()}
        shared = []
        for name, p in seen.items():
            if id(p) in self._known:
                continue
            if name in self._before[0] and id(p) not in self._before[1]:
                shared.append(name)
            if id(p) not in new_ids:
                new[STORE_PREFIX + name] = p
                new_ids.add(id(p))
        if shared:
            warnings.warn(
                f"parameters {sorted(shared)} were already in Pyro's parameter store before "
                f"this trainer first ran {type(self.lvm).__name__}: they are shared with "
                "whatever else uses these names (another model?), and training changes them "
                "there too. Call pyro.clear_param_store() before building a model, or give its "
                "parameters names of their own.", stacklevel=4)
        if new:
            self._add_group(new)
        return list(new)

    def _add_group(self, named):
        """Optimize the tensors ``named`` (name -> tensor) as one more group of Adam."""
        not_leaves = sorted(n for n, p in named.items() if not p.is_leaf)
        if not_leaves:
            raise bad_value("lvm", f"parameters {not_leaves}", "leaf tensors (a parameter "
                            "computed from another tensor cannot be optimized)")
        tensors = list(named.values())
        if self.optimizer is None:
            self.optimizer = adam(tensors, self.config.learning_rate, self.device)
        else:
            self.optimizer.add_param_group({"params": tensors})
        self.parameters.update(named)
        self._unchecked.extend(named)
        self._known.update(id(p) for p in tensors)

    def _check_gradients(self):
        """Warn, naming them, about parameters that the loss did not reach in their first
        step."""
        unused = [name for name in self._unchecked if self.parameters[name].grad is None]
        self._unchecked = []
        if unused:
            warnings.warn(f"parameters {unused} of {type(self.lvm).__name__} received no "
                          "gradient in their first training step: the ELBO does not depend on "
                          "them, so they will not be trained", stacklevel=3)

    def _prepare(self, x, indices, num_data):
        """Before the first step: check the pair on a minibatch (``check_pair``), which also
        creates the parameters that a model or guide makes on its first call (an autoguide's),
        on a forked random stream; then apply a state loaded before they existed."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            check_pair(self.lvm.model, self.lvm.guide, x, indices, num_data)
        self._prepared = True
        if self._pending is not None:
            self._apply_pending(self._resolve(self._pending))

    # -- one step -------------------------------------------------------------------------
    def step(self, x, indices, num_data):
        """One SVI step on the minibatch ``x`` (rows ``indices`` of ``num_data``); returns the
        minibatch loss (a scalar tensor, an estimate of −ELBO of the whole data set).

        The first step checks the model and guide with Pyro's validation (shapes, supports,
        sites); later steps skip those checks.  Parameters that appear in a step (module or
        parameter store) join the optimizer then; one that gets no gradient is named in a
        warning.
        """
        if not self._prepared:
            self._prepare(x, indices, num_data)
        with pyro.validation_enabled(not self._checked), without_registration(), \
                ParamCollector() as collector:
            loss = self.loss(x, indices, num_data)
        self._checked = True
        new = self._adopt(collector.seen) if self.optimizer is None or any(
            id(p) not in self._known for p in collector.seen.values()) else []
        if self.optimizer is None:
            raise bad_value("lvm", type(self.lvm).__name__,
                            "a model and guide with trainable parameters: none in the module "
                            "and no pyro.param site in a step of the model and guide")
        if new and distributed.active() and _store_entries(self.parameters):
            raise bad_value("lvm", f"parameter-store entries "
                            f"{sorted(_store_entries(self.parameters))}",
                            "parameters held by the module under torch.distributed (DDP "
                            "averages module gradients only)")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self._unchecked:
            self._check_gradients()
        if self.config.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(list(self.parameters.values()), self.config.clip_norm)
        self.optimizer.step()
        return loss.detach()

    def _data_parallel_loss(self):
        """The eager loss wrapped in DDP, which averages the gradients over the processes (a
        ``torch.jit`` trace cannot be wrapped, so a compiled loss gives way to its eager one)."""
        eager = self.loss.loss if self.compiled else self.loss
        return DistributedDataParallel(
            eager, device_ids=[self.device] if self.device.type == "cuda" else None)

    # -- epochs ---------------------------------------------------------------------------
    def fit(self, train, test=None, checkpoint=None, quiet=None, extra_state=None,
            preload=True, callbacks=()):
        """Train until ``config.epochs`` epochs are done (or a callback, early stopping
        included, ends it); returns the history.

        ``train`` and ``test`` are tensors of shape ``(n, *event_shape)``; they are moved to the
        device once.  With ``preload=False``, ``train`` stays where it is (e.g. a memory-mapped
        file, ``pyro_lvm.data.files.open_npy``) and each minibatch is gathered from it and
        moved to the device: the same numbers as preloading.  After every epoch the state is
        written atomically to ``checkpoint`` (if given).  A NaN or infinite loss raises
        ``TrainingDiverged`` and leaves the last good checkpoint untouched.

        Under a ``torch.distributed`` process group (see ``.distributed``) ``batch_size`` is
        the global batch, each process trains on its shard, only rank 0 writes ``checkpoint``
        and the test ELBO is averaged over the shards of all ranks.

        Progress: a bar on a terminal; one line per epoch on stderr when it is not one
        (``quiet=None``); nothing with ``quiet=True``.  ``callbacks`` are objects with
        ``on_epoch_end(trainer, record)`` (see ``callbacks``).
        """
        train, test, local_batch = self._checked_data(train, test, preload)
        self._start(train, local_batch)
        return self._epochs(train, test, checkpoint, quiet, extra_state, list(callbacks))

    def _checked_data(self, train, test, preload):
        """``train`` and ``test`` checked and moved to the device (``train`` left where it is
        without ``preload``), and the per-process batch size."""
        train = _as_data(train, "train")
        train = train.to(self.device) if preload else train
        test = None if test is None else _as_data(test, "test").to(self.device)
        if train.shape[0] < self.config.batch_size:
            raise bad_value("batch_size", self.config.batch_size,
                            f"at most the number of training rows ({train.shape[0]})")
        local_batch = distributed.check_batch(self.config.batch_size)
        if test is not None and test.shape[0] < distributed.world_size():
            raise bad_value("test", tuple(test.shape), f"at least one row per process "
                            f"({distributed.world_size()})")
        return train, test, local_batch

    def _start(self, train, local_batch):
        """What a fit does to the trainer before its epochs: take the global RNG (which Pyro
        draws from) for the whole fit, seeded on the first fit and restored on later ones, so
        that other work between fits cannot change its numbers; make the first call of the
        model and guide (``_prepare``: lazily created parameters draw from the seeded
        stream); and, under a process group, replace ``self.loss`` by its DDP-wrapped eager
        version (``self.compiled`` becomes ``False``)."""
        if self._rng is None:
            set_seed(self.config.seed)
        if not self._prepared:
            x, head = _minibatch(train, torch.arange(local_batch, device=train.device),
                                 self.device)
            self._prepare(x, head, train.shape[0])
        if self._rng is not None:
            set_rng_state(self._rng)
        if distributed.active() and not isinstance(self.loss, DistributedDataParallel):
            self.loss, self.compiled = self._data_parallel_loss(), False

    def _callbacks(self, quiet, user):
        """The epoch-end callbacks of a fit: the schedule, early stopping, progress lines
        (``quiet=None`` without a terminal), then the user's."""
        built = [self.schedule] if self.schedule is not None else []
        if self.config.early_stop:
            built.append(EarlyStopping(self.config.early_stop))
        if quiet is None and not sys.stderr.isatty():
            built.append(ProgressLines(self.config.epochs))
        return built + user

    def _epochs(self, train, test, checkpoint, quiet, extra_state, callbacks):
        """The epochs still to go, each followed by its callbacks and its checkpoint; returns
        the history."""
        steps = train.shape[0] // self.config.batch_size  # the ragged tail is dropped
        remaining = self.config.epochs - self.epoch
        head, indices = _minibatch(train, torch.arange(min(2, train.shape[0]), device=train.device),
                                   self.device)
        self._exact = not self.config.weighted and exact_likelihood(
            self.lvm.model, self.lvm.guide, head, self.config.elbo, indices, train.shape[0])
        callbacks = self._callbacks(quiet, callbacks)
        bar_off = (not sys.stderr.isatty()) if quiet is None else quiet
        bar = tqdm(total=remaining * steps, disable=bar_off, unit="step", leave=False)
        self.lvm.train()
        try:
            with distributed.translated_failures():
                for _ in range(remaining):
                    if distributed.active():  # per-rank draws, reproducible on resume
                        set_seed(distributed.rank_seed(self.config.seed, self.epoch + 1))
                    record = self._run_epoch(train, test, steps, bar)
                    stop = [callback.on_epoch_end(self, record) for callback in callbacks]
                    self.history.append(record)
                    self.epoch = record["epoch"]
                    self._rng = get_rng_state()
                    if checkpoint is not None and distributed.is_main():
                        state = self.state_dict(extra_state)
                        save_checkpoint(state, checkpoint)
                        if record.get("best"):
                            save_checkpoint(state, Path(checkpoint).with_name(BEST))
                    if any(stop):
                        break
        finally:
            bar.close()
        return self.history

    def _run_epoch(self, train, test, steps, bar):
        epoch = self.epoch + 1
        num_data, batch_size = train.shape[0], self.config.batch_size
        start = time.perf_counter()
        order = epoch_order(num_data, self.config.seed, epoch).to(train.device)
        self.objective.kl_weight.fill_(self.config.kl_weight(epoch))
        total = 0.0
        for s in range(steps):
            x, indices = _minibatch(
                train, distributed.shard(order[s * batch_size:(s + 1) * batch_size]),
                self.device)
            loss = self.step(x, indices, num_data)
            value = float(distributed.all_sum(loss)) / distributed.world_size()
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"training diverged: the loss was {value} at epoch {epoch}, step {s + 1}; "
                    "the last good checkpoint was kept. Try a lower learning rate "
                    "or gradient clipping (clip_norm).")
            total += value
            bar.update()
        record = {"epoch": epoch, "train_elbo": -total / (steps * num_data),
                  "objective": self.config.elbo, "seconds": time.perf_counter() - start}
        if self.config.weighted:
            record["kl_weight"] = self.config.kl_weight(epoch)
        if self._exact:
            record["exact"] = True  # the ELBO is log p(x) itself
        if test is not None:
            self.lvm.eval()
            rows = test[distributed.rank()::distributed.world_size()]
            total = self._test_total(rows)
            sums = distributed.all_sum(torch.stack([total, total.new_tensor(len(rows))]))
            record["test_elbo"] = float(sums[0] / sums[1])
            self.lvm.train()
        bar.set_postfix(epoch=epoch, elbo=f"{record['train_elbo']:.2f}")
        return record

    def _test_total(self, rows):
        """Σ over ``rows`` of the test ELBO: summed out exactly as in training under
        ``"enum"``, else the Monte Carlo ELBO with ``test_particles`` draws."""
        if self.config.elbo == "enum":
            with torch.no_grad():
                loss = make_elbo("enum", max_plate_nesting=declared_nesting(self.lvm)).loss(
                    self.lvm.model, self.lvm.guide, rows)
            return rows.new_tensor(-loss)
        return elbo_per_datapoint(self.lvm.model, self.lvm.guide, rows,
                                  self.config.test_particles).sum()

    # -- state ----------------------------------------------------------------------------
    def state_dict(self, extra=None):
        """Model, optimizer, config, history, epoch and RNG state: all a resume needs.

        ``param_store`` holds the unconstrained values of the parameter-store entries that are
        not module parameters, and ``parameters`` the names of the optimizer's tensors, group
        by group (module parameter names, or ``param_store.<name>``).
        """
        if self.optimizer is None:
            raise bad_value("trainer", "a trainer that has not taken a step",
                            "a trainer after fit() or step(): its parameters are made then")
        names = {id(p): name for name, p in self.parameters.items()}
        groups = [[names[id(p)] for p in group["params"]] for group in self.optimizer.param_groups]
        return {"model": self.lvm.state_dict(), "optimizer": self.optimizer.state_dict(),
                "param_store": {name: p.detach()
                                for name, p in _store_entries(self.parameters).items()},
                "parameters": groups,
                "train_config": dataclasses.asdict(self.config), "history": list(self.history),
                "epoch": self.epoch, "rng": self._rng,
                **({} if self.schedule is None else {"lr_scheduler": self.schedule.state_dict()}),
                **(extra or {})}

    def load_state_dict(self, state):
        """Continue from ``state_dict``: training 2 + 2 epochs equals 4 straight.

        Parameters that the model or guide makes on its first call do not exist yet in a new
        trainer: their values are applied before the first step, once they do.
        """
        self._pending = state
        groups = self._resolve(state)
        if groups is not None:
            self._apply_pending(groups)

    def _resolve(self, state):
        """The optimizer's groups of ``state`` as lists of this trainer's tensors, or ``None``
        while some do not exist."""
        module = dict(self.lvm.named_parameters())
        store = pyro.get_param_store()
        resolved = []
        for group in self._group_names(state):
            tensors = []
            for name in group:
                if name.startswith(STORE_PREFIX):
                    key = name[len(STORE_PREFIX):]
                    if key not in store:
                        return None
                    tensors.append(store[key].unconstrained())
                elif name in module:
                    tensors.append(module[name])
                else:
                    return None
            resolved.append(tensors)
        return resolved

    def _group_names(self, state):
        """The names of the optimizer's tensors in ``state``, group by group."""
        if "parameters" in state:
            names = state["parameters"]
            if not (isinstance(names, list) and all(
                    isinstance(group, list) and all(isinstance(n, str) for n in group)
                    for group in names)):
                raise bad_value("checkpoint", "optimizer tensor names of the wrong form",
                                "lists of parameter names, one per optimizer group")
            return names
        # A checkpoint from before the parameter store was supported: one group, the module's.
        return [[n for n, p in self.lvm.named_parameters() if p.requires_grad]]

    def _apply_pending(self, groups):
        """Check the pending state against this trainer, then load it; ``groups`` are its
        optimizer groups resolved to this trainer's tensors (``None``: some do not exist)."""
        state, self._pending = self._pending, None
        if groups is None:
            raise bad_value("checkpoint", "parameters the model and guide did not make",
                            "a checkpoint of this model and guide")
        names = self._group_names(state)
        store_values = _store_entries({n: t for group, tensors in zip(names, groups)
                                       for n, t in zip(group, tensors)})
        check_training_state(state, self.lvm.state_dict(), store_values, groups, names)
        self.history, self.epoch, self._rng = list(state["history"]), state["epoch"], state["rng"]
        self.lvm.load_state_dict(state["model"])
        store = pyro.get_param_store()
        with torch.no_grad():
            for name, value in state.get("param_store", {}).items():
                store[name].unconstrained().copy_(value)
        self.optimizer, self.parameters, self._known = None, {}, set()
        self._unchecked = []
        for names, tensors in zip(self._group_names(state), groups):
            self._add_group(dict(zip(names, tensors)))
        self.optimizer.load_state_dict(state["optimizer"])
        if self.schedule is not None and state.get("lr_scheduler") is not None:
            self.schedule.load_state_dict(state["lr_scheduler"])

    def resume(self, path):
        """Load the checkpoint at ``path`` into this trainer."""
        self.load_state_dict(load_checkpoint(path, map_location=self.device))
        return self

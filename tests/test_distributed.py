"""Data-parallel training with torch.distributed (gloo, 2 CPU processes on this machine)."""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from pyro_lvm.checkpoint import load_checkpoint
from pyro_lvm.data.files import open_npy
from pyro_lvm.infer import TrainConfig, Trainer, distributed
from pyro_lvm.models import VAE
from pyro_lvm.runtime import set_seed

WORLD = 2
CONFIG = dict(epochs=3, batch_size=64, learning_rate=3e-3, seed=3, jit=False)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data():
    generator = torch.Generator().manual_seed(0)
    means = torch.rand(4, 16, generator=generator)
    rows = means[torch.randint(4, (512,), generator=generator)]
    return (torch.rand(512, 16, generator=generator) < rows).float()


def _fit(config, checkpoint=None, resume=None, record=None, data=None):
    set_seed(config.seed)
    trainer = Trainer(VAE(16, latent_dim=2, hidden=(16,)), config, device="cpu")
    if resume is not None:
        trainer.resume(resume)
    if record is not None:  # the row indices each step trains on
        step = trainer.step

        def recorded(x, indices, num_data):
            record.append(indices.clone())
            return step(x, indices, num_data)

        trainer.step = recorded
    x = _data() if data is None else data  # data: a memory map, gathered a minibatch at a time
    trainer.fit(x[:448], x[448:], checkpoint=checkpoint, quiet=True, preload=data is None)
    return trainer


def _worker(rank, port, job, out):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                      **{distributed.TIMEOUT_VARIABLE: "20"})
    torch.set_num_threads(1)
    _, created = distributed.setup(torch.device("cpu"))
    assert created and distributed.world_size() == WORLD
    try:
        result = JOBS[job](rank, out)
    except Exception as error:
        result = {"error": type(error).__name__, "message": str(error)}
        if job != "crash":
            raise
    torch.save(result, os.path.join(out, f"rank{rank}.pt"))
    if job != "crash":
        distributed.teardown()


def _train_job(rank, out):
    record = []
    trainer = _fit(TrainConfig(**CONFIG), record=record)
    mapped = _fit(TrainConfig(**CONFIG), data=open_npy(os.path.join(out, "rows.npy")))
    return {"params": {k: v.clone() for k, v in trainer.lvm.state_dict().items()},
            "mapped": mapped.lvm.state_dict(), "history": trainer.history, "indices": record}


def _resume_job(rank, out):
    straight = _fit(TrainConfig(**CONFIG))
    path = os.path.join(out, "checkpoint.pt")
    _fit(TrainConfig(**{**CONFIG, "epochs": 2}), checkpoint=path)
    torch.distributed.barrier()  # rank 0 has written the checkpoint
    resumed = _fit(TrainConfig(**CONFIG), resume=path)
    return {"straight": straight.lvm.state_dict(), "resumed": resumed.lvm.state_dict(),
            "epochs": [r["epoch"] for r in resumed.history]}


def _crash_job(rank, out):
    config = TrainConfig(**CONFIG)
    set_seed(config.seed)
    trainer = Trainer(VAE(16, latent_dim=2, hidden=(16,)), config, device="cpu")
    if rank == 1:
        def die(*args):
            raise RuntimeError("injected failure of rank 1")
        trainer.step = die
    x = _data()
    trainer.fit(x[:448], quiet=True)
    return {"error": None}


JOBS = {"train": _train_job, "resume": _resume_job, "crash": _crash_job}


#: Bounds on a spawned job, generous for a loaded machine (a job takes about 10 s on a quiet
#: one; on a busy 2-core machine several times that), yet a real hang still fails in bounded
#: time.
JOB_LIMIT = 300
#: A failed rank must end the job, not hang it (the failure reaches the survivor through gloo
#: in a few seconds on a quiet machine; the workers' collective timeout is 20 s).
CRASH_LIMIT = 120


def _spawn(job, tmp_path, limit=JOB_LIMIT):
    context = mp.spawn(_worker, args=(_free_port(), job, str(tmp_path)), nprocs=WORLD,
                       join=False)
    start = time.monotonic()
    for process in context.processes:
        process.join(max(1.0, limit - (time.monotonic() - start)))
    alive = [p for p in context.processes if p.is_alive()]
    for process in alive:
        process.kill()
    assert not alive, f"{job}: a process hung for more than {limit} s"
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    np.save(out / "rows.npy", _data().numpy())
    return _spawn("train", out)


@pytest.mark.slow
def test_every_rank_ends_with_identical_parameters(trained):
    first, second = trained
    assert first["params"].keys() == second["params"].keys()
    for name, value in first["params"].items():
        assert torch.equal(value, second["params"][name]), name
    # one history for the job: the losses are reduced across ranks
    def losses(result):
        return [(r["train_elbo"], r["test_elbo"]) for r in result["history"]]

    assert losses(first) == losses(second)


def test_a_memory_mapped_train_set_gives_the_in_memory_parameters(trained):
    for result in trained:
        for name, value in result["params"].items():
            assert torch.equal(value, result["mapped"][name]), name


def test_ranks_take_disjoint_shards_of_the_one_process_batches(trained):
    single = []
    _fit(TrainConfig(**CONFIG), record=single)
    first, second = (result["indices"] for result in trained)
    assert len(first) == len(second) == len(single) == 3 * (448 // 64)
    for a, b, whole in zip(first, second, single):
        assert len(a) == len(b) == 32
        assert torch.equal(torch.cat([a, b]), whole)


def test_two_process_elbo_matches_one_process_within_monte_carlo_noise(trained):
    single = _fit(TrainConfig(**CONFIG)).history
    double = trained[0]["history"]
    for one, two in zip(single, double):
        for key in ("train_elbo", "test_elbo"):
            # a wrong num_data scaling (e.g. N / B instead of N / (B/W)) is off by ~50%
            assert two[key] == pytest.approx(one[key], rel=0.015), (key, one, two)


@pytest.mark.slow
def test_resuming_a_distributed_checkpoint_equals_the_straight_run(tmp_path):
    for result in _spawn("resume", tmp_path):
        assert result["epochs"] == [1, 2, 3]
        for name, value in result["straight"].items():
            assert torch.equal(value, result["resumed"][name]), name
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2  # only rank 0 wrote it


@pytest.mark.slow
def test_a_crashing_rank_ends_the_job_with_an_error_not_a_hang(tmp_path):
    start = time.monotonic()
    survivor, crashed = _spawn("crash", tmp_path, limit=CRASH_LIMIT)
    assert crashed["message"] == "injected failure of rank 1"
    assert survivor["error"] == "DistributedError"
    assert "another process of the job failed" in survivor["message"]
    assert time.monotonic() - start < CRASH_LIMIT


def test_batch_not_divisible_by_world_size_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(distributed, "world_size", lambda: 3)
    with pytest.raises(ValueError, match=r"batch_size: got 64, expected a multiple of the "
                                         r"number of processes \(3\)"):
        distributed.check_batch(64)


def test_torchrun_without_rendezvous_address_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    with pytest.raises(ValueError, match="environment: got .*without MASTER_ADDR, MASTER_PORT"):
        distributed.setup(torch.device("cpu"))


def test_the_timeout_is_short_on_cpus_and_can_be_set(monkeypatch):
    monkeypatch.delenv(distributed.TIMEOUT_VARIABLE, raising=False)
    assert distributed.timeout_seconds("cpu") == distributed.CPU_TIMEOUT == 120.0
    assert distributed.timeout_seconds("cuda") == distributed.DEFAULT_TIMEOUT == 600.0
    assert distributed.timeout_seconds("cpu", 7) == 7.0
    monkeypatch.setenv(distributed.TIMEOUT_VARIABLE, "30")
    assert distributed.timeout_seconds("cpu") == 30.0 and distributed.timeout_seconds(
        "cpu", 5) == 5.0
    for bad in (0, -1, float("inf"), float("nan"), "soon"):
        with pytest.raises(ValueError, match="timeout: got"):
            distributed.timeout_seconds("cpu", bad)
    with pytest.raises(ValueError, match="timeout: got"):  # checked without a group too
        distributed.setup(torch.device("cpu"), timeout=-3)


@pytest.mark.slow
def test_an_unreachable_rendezvous_is_an_error_after_the_timeout(monkeypatch):
    for name, value in dict(WORLD_SIZE="2", RANK="1", LOCAL_RANK="1", MASTER_ADDR="127.0.0.1",
                            MASTER_PORT=str(_free_port())).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(distributed.TIMEOUT_VARIABLE, "2")
    start = time.monotonic()
    with pytest.raises(distributed.DistributedError,
                       match=r"rank 1: could not join the process group at 127\.0\.0\.1:\d+ "
                             r"within 2 s"):
        distributed.setup(torch.device("cpu"))
    assert time.monotonic() - start < 20


@pytest.mark.slow
def test_torchrun_cli_trains_and_resumes(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", distributed.TIMEOUT_VARIABLE: "60"}

    def torchrun(epochs, *extra):
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                   f"--master_port={_free_port()}", "-m", "pyro_lvm", "train", "vae",
                   "--data", "digits", "--hidden", "32", "--latent-dim", "2",
                   "--epochs", str(epochs), "--batch-size", "64", "--eval-samples", "4",
                   "--device", "cpu", "--out", str(out), "--quiet", *extra]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    first = torchrun(1)
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.count("run directory:") == 1  # only rank 0 reports
    resumed = torchrun(2, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2]

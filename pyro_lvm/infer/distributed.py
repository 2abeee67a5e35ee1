"""Multi-process data-parallel training on PyTorch's own engine (``torch.distributed`` + DDP).

Launch any entry point with ``torchrun --nproc_per_node=N ...``: torchrun sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``, ``setup`` joins the
process group (``nccl`` on GPUs, ``gloo`` on CPUs, with a timeout) and the
``Trainer`` notices the group by itself.

With W processes and a global batch B, each step every rank r takes the rows
``order[s B + r B/W : s B + (r + 1) B/W]`` of the epoch's permutation (the same on every rank)
and computes its own minibatch loss (N / (B/W)) Σ_{i in shard r} ℓ_i.  DDP averages the
gradients, so the step follows the gradient of

    (1/W) Σ_r (N W / B) Σ_{i in shard r} ℓ_i = (N / B) Σ_{i in the global batch} ℓ_i,

the one-process estimator with batch B (the Monte Carlo draws differ per rank).
"""

import contextlib
import datetime
import math
import os

import torch
import torch.distributed as dist

from ..errors import bad_value

#: Seconds a collective (or the rendezvous) may wait before the job fails instead of hanging:
#: on GPUs (NCCL), and on CPUs (gloo), where a step is short and a hung peer should end the job
#: soon.
DEFAULT_TIMEOUT = 600.0
CPU_TIMEOUT = 120.0
#: Environment variable that overrides the default timeout (seconds).
TIMEOUT_VARIABLE = "PYRO_LVM_DIST_TIMEOUT"
#: Seconds the other processes wait at the end for rank 0's evaluation and pictures (gloo).
FINAL_WAIT = 3600.0
_LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class DistributedError(RuntimeError):
    """Another process of the job failed or stopped answering; this one stops too."""


def active():
    """Whether a process group of more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank():
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if active() else 0


def world_size():
    """The number of processes (1 without a process group)."""
    return dist.get_world_size() if active() else 1


def is_main():
    """Whether this process writes files: rank 0, or the only process."""
    return rank() == 0


def launched():
    """Whether this process was started by torchrun (or the like) with ``WORLD_SIZE > 1``."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


_timeout = None  # the group's timeout, once joined


def timeout_seconds(device_type="cuda", timeout=None):
    """The collective timeout: ``timeout`` if given, else ``$PYRO_LVM_DIST_TIMEOUT``, else
    ``DEFAULT_TIMEOUT`` on CUDA and ``CPU_TIMEOUT`` on the CPU; in a joined group, the
    group's."""
    if timeout is None and _timeout is not None:
        return _timeout
    default = DEFAULT_TIMEOUT if device_type == "cuda" else CPU_TIMEOUT
    argument = "timeout" if timeout is not None else TIMEOUT_VARIABLE
    text = timeout if timeout is not None else os.environ.get(TIMEOUT_VARIABLE, str(default))
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = -1.0
    if not 0 < value < math.inf:
        raise bad_value(argument, text, "a positive number of seconds")
    return value


def setup(device, timeout=None):
    """Join the process group torchrun described; returns ``(device, created)``.

    Does nothing (``(device, False)``) unless ``WORLD_SIZE > 1`` or when a group exists.  On
    CUDA each process takes ``cuda:$LOCAL_RANK`` and the backend is ``nccl``; on the CPU it is
    ``gloo``.  ``timeout`` (seconds; ``timeout_seconds``) bounds every collective.
    ``created`` says whether the caller should ``teardown`` the group.
    """
    global _timeout
    seconds = timeout_seconds(device.type, timeout)  # checked with or without a group
    if not launched() or dist.is_initialized():
        return device, False
    missing = [name for name in _LAUNCH_VARIABLES if name not in os.environ]
    if missing:
        raise bad_value("environment", f"WORLD_SIZE={os.environ['WORLD_SIZE']} without "
                        f"{', '.join(missing)}",
                        "all of RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (use torchrun)")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    timeout = datetime.timedelta(seconds=seconds)
    try:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timeout,
                                **({"device_id": device} if device.type == "cuda" else {}))
    except (RuntimeError, ValueError) as error:
        raise DistributedError(
            f"rank {os.environ['RANK']}: could not join the process group at "
            f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']} within "
            f"{timeout.total_seconds():g} s ({type(error).__name__}: {error})") from None
    _timeout = seconds
    return device, True


def teardown(finished=True):
    """Leave the process group.  After a run that ``finished``, first wait for every rank (rank 0
    is still evaluating and writing when the others are done), so that no process tears its
    connections down while a peer still holds them; after a failure, leave at once."""
    global _timeout
    if dist.is_initialized():
        if finished and dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=datetime.timedelta(
                seconds=max(FINAL_WAIT, timeout_seconds())))
        elif finished:
            dist.barrier()
        dist.destroy_process_group()
    _timeout = None


def check_batch(batch_size):
    """The per-process batch ``batch_size / W``; an error when W does not divide it."""
    world = world_size()
    if batch_size % world:
        raise bad_value("batch_size", batch_size,
                        f"a multiple of the number of processes ({world})")
    return batch_size // world


def shard(indices):
    """This rank's contiguous part of the global minibatch ``indices``."""
    size = indices.shape[0] // world_size()
    return indices[rank() * size:(rank() + 1) * size]


def rank_seed(seed, epoch):
    """The seed of this rank's Monte Carlo draws in ``epoch``: distinct per rank and epoch,
    below 2**32 (NumPy's limit), so a resumed run redraws exactly what it would have."""
    return (seed * 1_000_003 + epoch * 7_919 + rank() * 104_729) % 2**32


def all_sum(tensor):
    """Σ over processes of ``tensor`` (identity with one process); raises
    ``DistributedError`` when another process is gone."""
    if active():
        with translated_failures():
            dist.all_reduce(tensor)
    return tensor


def agree(value):
    """Rank 0's ``value`` (a picklable object) on every rank."""
    if not active():
        return value
    box = [value]
    with translated_failures():
        dist.broadcast_object_list(box, src=0)
    return box[0]


@contextlib.contextmanager
def translated_failures():
    """Turn a failed collective (a peer died, a timeout) into a ``DistributedError``."""
    try:
        yield
    except RuntimeError as error:
        if not active() or isinstance(error, DistributedError) or not _is_collective_failure(
                error):
            raise
        raise DistributedError(
            f"rank {rank()}: another process of the job failed or stopped answering "
            f"(timeout {timeout_seconds():g} s: --dist-timeout or ${TIMEOUT_VARIABLE}); "
            f"stopping. Cause: {type(error).__name__}: {error}") from None


def _is_collective_failure(error):
    backend_error = getattr(dist, "DistBackendError", ())
    text = str(error).lower()
    return isinstance(error, backend_error) or any(
        word in text for word in ("gloo", "nccl", "connection", "timed out", "timeout", "peer"))

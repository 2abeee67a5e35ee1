"""Safe checkpoints: tensors, numbers, strings and containers of them, nothing else.

A checkpoint is written to a temporary file in the target directory and renamed over the
target, so a crash mid-write never leaves a truncated file and never damages the previous one.
It is read with ``torch.load(..., weights_only=True)``: it is never unpickled as arbitrary
objects.
"""

import functools
import hashlib
import json
import math
import os
import socket
import tempfile
from pathlib import Path

import torch

from .errors import bad_value

FORMAT_VERSION = 1


@functools.cache
def host_tag():
    """Eight hex digits naming this host, in the names of temporary files."""
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _umask():
    """The process's umask.  Linux shows it in /proc/self/status; elsewhere reading it means
    setting it and putting it straight back, which another thread creating a file in between
    would see."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomically(path, write):
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it to ``path``.

    Readers see either the old file or the complete new one, never a partial write.  The file
    gets the mode that ``open(path, "w")`` gives a new file, 0o666 & ~umask (not ``mkstemp``'s
    0o600); it is a new file, so the mode of one it replaces is not kept.  The temporary's name
    carries this process's pid and host, so that one left by a kill can be recognized
    (``pyro_lvm.runs.directory.remove_stale_temporaries``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-{host_tag()}.",
                               suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # the mode open() would give, not mkstemp's 0600
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write ``state`` (a dict of tensors, numbers, strings, lists, dicts) to ``path``.

    Args:
        state: the dict to write.
        path: where, written atomically (a temporary file beside it, then a rename).

    Returns:
        The path written.
    """
    return write_atomically(
        path, lambda handle: torch.save({"format_version": FORMAT_VERSION, **state}, handle))


def finite_or_none(value):
    """``value`` with every infinite or NaN float (in lists, tuples and dicts too) as ``None``:
    JSON has no infinities or NaN."""
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def write_json(obj, path):
    """Write ``obj`` as indented JSON to ``path`` atomically; ±∞ and NaN become ``null``
    (``finite_or_none``), so that any JSON reader can read the file."""
    text = json.dumps(finite_or_none(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"
    return write_atomically(path, lambda handle: handle.write(text.encode()))


def _reason(error):
    """The first sentence of torch's error that says what is wrong with the file, without
    its advice on loading untrusted files as arbitrary objects (never to be followed here)."""
    lines = [line.strip() for line in str(error).splitlines()
             if line.strip() and "weights_only" not in line and "documentation" not in line]
    first = lines[0].split(". ")[0].rstrip(".") if lines else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def load_checkpoint(path: str | os.PathLike,
                    map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by ``save_checkpoint`` (``weights_only=True``).

    Args:
        path: the checkpoint file.
        map_location: the device its tensors go to.

    Returns:
        The dict that ``save_checkpoint`` wrote, with its ``format_version``.
    """
    path = Path(path)
    if not path.is_file():
        raise bad_value("checkpoint", str(path), "an existing checkpoint file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several kinds for corrupt or foreign files
        raise bad_value("checkpoint", str(path),
                        f"a readable pyro_lvm checkpoint ({_reason(error)})") from None
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise bad_value("checkpoint", str(path),
                        f"a pyro_lvm checkpoint of format version {FORMAT_VERSION}")
    return state

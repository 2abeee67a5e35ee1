"""A run directory as a place on disk: who may train into it, what a failed fresh run leaves
behind (nothing), and the temporary files a killed writer left.

One ``train`` at a time holds a run: it takes an exclusive ``flock`` on ``RUN/.lock`` (released
by the system when the process ends, however it ends) and writes its pid, host and start time
there, which a second ``train`` names when it is refused; it empties the file when it lets go.  Files are written through
``checkpoint.write_atomically``, whose temporary names carry the writer's pid and host
(``.NAME.PID-HOST.XXXX.tmp``): a temporary whose writer is no longer running on this host
was left by a kill and is removed by the next command that opens the run.
"""

import contextlib
import fcntl
import os
import re
import shutil
import socket
import time
from pathlib import Path

from ..checkpoint import host_tag
from ..errors import bad_value
from .spec import CHECKPOINT

LOCK = ".lock"
#: Temporaries without a pid (written before 0.2.1) older than this many seconds are stale.
LEGACY_TEMPORARY_AGE = 3600.0
_TEMPORARY = re.compile(r"^\..+?\.(?:(?P<pid>\d+)-(?P<host>[0-9a-f]{8})\.)?[^.]+\.tmp$")


def check_out(run_dir):
    """Refuse a ``--out`` that cannot become a run directory: empty, an existing file, or
    inside a directory this process cannot write."""
    if not str(run_dir).strip():
        raise bad_value("out", str(run_dir), "a directory path for the run (e.g. runs/mine)")
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise bad_value("out", str(run_dir), "a directory (or a path to create), not a file")
    return check_writable("out", run_dir)


def check_writable(argument, directory):
    """Refuse ``directory`` (where a command will write) when it, or the nearest folder above
    it that exists, is a file or cannot be written by this user: before the work, not after."""
    directory = Path(directory)
    existing = next(p for p in (directory, *directory.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise bad_value(argument, str(directory), f"a path under a directory ({existing} is a "
                        "file)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise bad_value(argument, str(directory), f"a place this user can write ({existing} is "
                        "read-only)")
    return directory


def _holder(lock_file):
    try:
        return lock_file.read_text().strip() or "another process"
    except OSError:
        return "another process"


@contextlib.contextmanager
def claimed(run_dir, fresh):
    """Hold ``run_dir`` for one ``train`` (created if need be).  A ``fresh`` run that fails,
    or is interrupted, before its first checkpoint leaves nothing: the directory if it made
    it, else the entries it added."""
    run_dir = Path(run_dir)
    made = not run_dir.exists()
    before = set() if made else set(run_dir.iterdir())
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = open(run_dir / LOCK, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise bad_value("out", str(run_dir), "a run directory no other command is "
                            f"training into ({_holder(run_dir / LOCK)} holds it)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pyro-lvm train, pid {os.getpid()} on {socket.gethostname()} since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        remove_stale_temporaries(run_dir)
        try:
            yield run_dir
        except BaseException:
            if fresh and not (run_dir / CHECKPOINT).exists():
                _remove_new(run_dir, made, before)
            raise
    finally:
        handle.truncate(0)  # at rest the lock file is empty: a run's files are as they were
        handle.close()  # releases the lock


def _remove_new(run_dir, made, before):
    if made:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for path in set(run_dir.iterdir()) - before:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it runs
        pass
    return True


def _stale(path):
    match = _TEMPORARY.match(path.name)
    if match is None:
        return False
    if match["pid"] is None:
        return time.time() - path.stat().st_mtime > LEGACY_TEMPORARY_AGE
    return match["host"] == host_tag() and not _running(int(match["pid"]))


def remove_stale_temporaries(run_dir):
    """Remove the temporaries in ``run_dir`` (and its subfolders) whose writer was killed;
    returns the paths removed."""
    removed = []
    for path in Path(run_dir).rglob(".*.tmp"):
        with contextlib.suppress(OSError):
            if path.is_file() and _stale(path):
                path.unlink()
                removed.append(path)
    return removed

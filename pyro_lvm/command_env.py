"""What the ``pyro-lvm`` command sets before torch loads: OpenMP's wait policy.

OpenMP threads that finish a parallel region spin, waiting for the next one, unless
``OMP_WAIT_POLICY=PASSIVE``; on a machine where another process is busy, that spinning makes
small operations wait for the busy core (``benchmarks/contention.py``).  The policy is read
once, when torch's OpenMP runtime loads, so it must be in the environment before ``import
torch``: the package calls ``set_command_defaults`` before anything else, for the command only (the
``pyro-lvm`` script, ``python -m pyro_lvm``, torchrun's ``-m pyro_lvm``), never over a value the
user set.  The library imported into a user's own program changes nothing.
"""

import os
import sys

#: The default for the command; ``OMP_WAIT_POLICY=ACTIVE pyro-lvm ...`` keeps spinning.
WAIT_POLICY = "PASSIVE"


def is_command(argv=None, orig_argv=None):
    """Whether this process is the ``pyro-lvm`` command."""
    argv = sys.argv if argv is None else argv
    orig_argv = getattr(sys, "orig_argv", []) if orig_argv is None else orig_argv
    if argv and os.path.basename(argv[0]) in ("pyro-lvm", "pyro-lvm.exe"):
        return True
    return any(flag == "-m" and module == "pyro_lvm"
               for flag, module in zip(orig_argv, orig_argv[1:]))



def set_command_defaults():
    """``OMP_WAIT_POLICY=PASSIVE`` when this process is the command and the user set none."""
    if is_command():
        os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)

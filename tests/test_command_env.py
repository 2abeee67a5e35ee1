"""The ``pyro-lvm`` command's OpenMP wait policy (set before torch loads, never over the user's
value) and its ``--threads`` option."""

import os
import subprocess
import sys

import pytest
import torch

from pyro_lvm.cli import main
from pyro_lvm.command_env import is_command

PROBE = ("import sys; sys.argv = [{argv!r}]; import pyro_lvm, os; "
         "print(os.environ.get('OMP_WAIT_POLICY'))")


@pytest.mark.parametrize("argv,orig_argv,expected", [
    (["/usr/local/bin/pyro-lvm", "train"], ["python", "/usr/local/bin/pyro-lvm"], True),
    (["-m"], ["python", "-u", "-m", "pyro_lvm", "train"], True),
    (["-m"], ["python", "-m", "pytest", "-q"], False),
    (["script.py"], ["python", "script.py", "pyro_lvm"], False),
])
def test_the_command_is_recognized_and_nothing_else(argv, orig_argv, expected):
    assert is_command(argv, orig_argv) is expected


def _policy(argv, **env):
    environment = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], env=environment,
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.slow
def test_the_command_waits_passively_unless_the_user_said_otherwise():
    assert _policy("/somewhere/bin/pyro-lvm") == "PASSIVE"
    assert _policy("/somewhere/bin/pyro-lvm", OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"
    assert _policy("my_script.py") == "None"  # the library in a user's program sets nothing


def test_threads_option_sets_torch_threads_and_is_checked(monkeypatch, tmp_path, capsys):
    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    with pytest.raises(SystemExit) as exit_:
        main(["sample", str(tmp_path), "--threads", "1"])
    assert exit_.value.code == 2 and seen == [1]  # set before the command ran (and failed)
    with pytest.raises(SystemExit):
        main(["sample", str(tmp_path), "--threads", "0"])
    assert "threads: got 0, expected an integer >= 1" in capsys.readouterr().err

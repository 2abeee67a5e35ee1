"""How long the ``pyro-lvm`` command takes to start, against Python itself and ``import torch``.

Each line is a fresh interpreter, timed wall-clock; the median of ``--rounds`` runs, and its
ratio to ``python -c pass`` measured in the same run.  The machine's load is printed first:
start-up is mostly reading files, and a busy disk or CPU stretches every line alike.

    python benchmarks/cli_start.py [--rounds 7]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
    "pyro-lvm --version": [sys.executable, "-m", "pyro_lvm", "--version"],
    "pyro-lvm --help": [sys.executable, "-m", "pyro_lvm", "--help"],
    "pyro-lvm train --help": [sys.executable, "-m", "pyro_lvm", "train", "--help"],
    "pyro-lvm train --epochs three": [sys.executable, "-m", "pyro_lvm", "train", "--epochs",
                                      "three"],
    "python -c 'import pyro_lvm; pyro_lvm.VAE'": [sys.executable, "-c",
                                                  "import pyro_lvm; pyro_lvm.VAE"],
}


def wall_seconds(argv):
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}, "
          f"{os.cpu_count()} CPUs, median of {args.rounds} runs")
    medians = {}
    for name, command in COMMANDS.items():
        wall_seconds(command)  # the files in the page cache
        medians[name] = statistics.median(wall_seconds(command) for _ in range(args.rounds))
    base = medians["python -c pass"]
    for name, seconds in medians.items():
        print(f"{name:<44} {seconds:7.3f} s  {seconds / base:6.1f}x python")


if __name__ == "__main__":
    main()

"""The ``pyro-lvm`` command on a quiet and on a shared machine, with each OpenMP wait policy.

Times ``pyro-lvm train --epochs 5 --eval-samples 50`` (the default VAE on the embedded
digits) as a subprocess, wall clock, with ``OMP_WAIT_POLICY`` left to the command (which sets
``PASSIVE``) and with ``OMP_WAIT_POLICY=ACTIVE`` (what torch does by default), alternating the
two, on a quiet machine and with one competing process that keeps a core busy.  Reports the
median seconds of each and the ratio ACTIVE / PASSIVE in each condition.

    python benchmarks/contention.py [--repeats 3] [--epochs 5]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

BUSY = "import time\nend = time.time() + 600\nwhile time.time() < end:\n    pass\n"


def run_once(epochs, policy, out):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    command = [sys.executable, "-m", "pyro_lvm", "train", "--epochs", str(epochs),
               "--eval-samples", "50", "--quiet", "--device", "cpu", "--out", out]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    policies = {"command default (PASSIVE)": None, "OMP_WAIT_POLICY=ACTIVE": "ACTIVE"}
    results = {}
    with tempfile.TemporaryDirectory() as root:
        for condition in ("quiet", "one busy process"):
            busy = subprocess.Popen([sys.executable, "-c", BUSY]) \
                if condition != "quiet" else None
            try:
                times = {name: [] for name in policies}
                for r in range(args.repeats):
                    for name, policy in policies.items():
                        out = os.path.join(root, f"{len(results)}-{r}-{policy}")
                        times[name].append(run_once(args.epochs, policy, out))
                results[condition] = times
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()
    print(f"`pyro-lvm train --epochs {args.epochs} --eval-samples 50`, wall seconds, "
          f"median of {args.repeats} alternated runs\n")
    print("| condition | command default (PASSIVE) | ACTIVE | ACTIVE / PASSIVE |")
    print("|---|---|---|---|")
    for condition, times in results.items():
        passive = statistics.median(times["command default (PASSIVE)"])
        active = statistics.median(times["OMP_WAIT_POLICY=ACTIVE"])
        print(f"| {condition} | {passive:.1f} | {active:.1f} | {active / passive:.2f}x |")


if __name__ == "__main__":
    main()

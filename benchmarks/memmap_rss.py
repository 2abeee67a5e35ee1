"""Peak resident memory of ``pyro-lvm train --memmap`` against the file size.

Writes a float32 ``.npy`` of Gaussian values into a temporary directory, then runs three
processes under ``/usr/bin/time -v`` and reads their "Maximum resident set size":

  baseline   python -c "import torch, pyro_lvm"   (the interpreter, torch and the package)
  memmap     python -m pyro_lvm train vae --data FILE --memmap --likelihood gaussian ...
  in memory  the same run without --memmap

and prints each peak, its ratio to the file size and the peak minus the baseline.  Linux only
(``/usr/bin/time`` from GNU time).

    python benchmarks/memmap_rss.py                      # 153000 x 1024: a 598 MiB file
    python benchmarks/memmap_rss.py --rows 20000         # a quick check (78 MiB)
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

MIB = 1 << 20


def write_npy(path, rows, columns, seed=0, block=8192):
    """A float32 ``(rows, columns)`` ``.npy`` of N(0, 1) values, written a block at a time."""
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, columns))
    for start in range(0, rows, block):
        stop = min(rows, start + block)
        out[start:stop] = rng.standard_normal((stop - start, columns), dtype=np.float32)
    out.flush()
    del out


def peak_rss(command, env):
    """``(peak RSS in MiB, seconds)`` of ``command`` run under ``/usr/bin/time -v``."""
    result = subprocess.run(["/usr/bin/time", "-v", *command], env=env, capture_output=True,
                            text=True)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-4000:]}")
    kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
    clock = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)",
                      result.stderr)
    hours, minutes, seconds = clock.groups()
    return kib / 1024, int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=153_000)
    parser.add_argument("--columns", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--skip-in-memory", action="store_true",
                        help="run only the baseline and the --memmap run")
    args = parser.parse_args()

    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "big.npy"
        write_npy(data, args.rows, args.columns)
        size = data.stat().st_size / MIB
        train = [sys.executable, "-m", "pyro_lvm", "train", "vae", "--data", str(data),
                 "--likelihood", "gaussian", "--epochs", str(args.epochs), "--latent-dim", "2",
                 "--hidden", "32", "--batch-size", str(args.batch_size), "--eval-samples", "2",
                 "--quiet"]
        runs = [("baseline (import)", [sys.executable, "-c", "import torch, pyro_lvm"]),
                ("--memmap", [*train, "--memmap", "--out", str(Path(tmp) / "run-memmap")])]
        if not args.skip_in_memory:
            runs.append(("in memory", [*train, "--out", str(Path(tmp) / "run-memory")]))
        measured = [(name, *peak_rss(command, env)) for name, command in runs]

    baseline = measured[0][1]
    print(f"file: {args.rows} x {args.columns} float32, {size:.0f} MiB; "
          f"{args.epochs} epoch(s), batch {args.batch_size}; {os.cpu_count()} CPUs")
    print(f"{'process':<20}{'peak RSS MiB':>14}{'/ file':>9}{'- baseline MiB':>16}"
          f"{'seconds':>9}")
    for name, peak, seconds in measured:
        print(f"{name:<20}{peak:>14.0f}{peak / size:>9.2f}{peak - baseline:>16.0f}"
              f"{seconds:>9.1f}")


if __name__ == "__main__":
    main()

"""How the cost grows with the work: epoch time against n and latent dimension, importance-
sampled evaluation against K (time and peak memory), and 2-process gloo against 1 process.

Each sweep fits log t = a + b log x by least squares and prints the exponent b: b ≈ 1 is
linear growth, b ≈ 0 flat.  Data: synthetic binary rows of dimension 784; VAE 784-256-z,
batch 128, the default (traced) trainer.

    python benchmarks/scaling.py            # n = 1k ... 64k  (about 2-3 minutes on 2 cores)
    python benchmarks/scaling.py --quick    # n = 1k ... 8k, smaller sweeps (< 1 minute)
"""

import argparse
import os
import resource
import socket
import tempfile
import time

import numpy as np
import torch
import torch.multiprocessing as mp

from pyro_lvm import VAE, TrainConfig, Trainer
from pyro_lvm.infer import distributed, importance_log_likelihood
from pyro_lvm.runtime import set_seed

D, B = 784, 128


def synthetic(n, seed=0):
    """``n`` binary rows of dimension 784 from a 10-prototype mixture."""
    generator = torch.Generator().manual_seed(seed)
    prototypes = torch.rand(10, D, generator=generator)
    rows = prototypes[torch.randint(10, (n,), generator=generator)]
    return (torch.rand(n, D, generator=generator) < rows).float()


def epoch_seconds(n, latent_dim=16, epochs=2, device="cpu", jit=None):
    """Seconds of the last of ``epochs`` epochs (the first traces the loss)."""
    set_seed(0)
    trainer = Trainer(VAE(D, latent_dim=latent_dim, hidden=(256,)),
                      TrainConfig(epochs=epochs, batch_size=B, jit=jit), device=device)
    return trainer.fit(synthetic(n), quiet=True)[-1]["seconds"]


def evaluation_cost(num_samples, rows=16, device="cpu"):
    """(seconds, peak resident memory in MiB so far) of log p(x) with K = ``num_samples``
    (host memory: on a GPU the second figure says nothing about device memory)."""
    set_seed(0)
    vae = VAE(D, latent_dim=16, hidden=(256,)).to(device).eval()
    x = synthetic(rows).to(device)
    start = time.perf_counter()
    with torch.no_grad():
        importance_log_likelihood(vae.model, vae.guide, x, num_samples)
    seconds = time.perf_counter() - start
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def exponent(xs, ys):
    """The slope b of the least-squares fit log y = a + b log x."""
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def sweep(title, name, xs, measure):
    print(f"\n{title}\n{name:>8}  seconds")
    times = []
    for x in xs:
        times.append(measure(x))
        print(f"{x:>8}  {times[-1]:.3f}")
    print(f"fitted exponent: {exponent(xs, times):.2f} (1 = linear, 0 = flat)")
    return times


def _worker(rank, world, port, n, out):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    distributed.setup(torch.device("cpu"))
    seconds = epoch_seconds(n)
    if rank == 0:
        np.save(out, seconds)
    distributed.teardown()


def parallel_ratio(n):
    """Seconds per epoch of 1 process (2 threads; traced, then eager as under DDP) and of 2
    gloo processes (1 thread each)."""
    torch.set_num_threads(2)
    one, eager = epoch_seconds(n), epoch_seconds(n, jit=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "seconds.npy")
        mp.spawn(_worker, args=(2, port, n, out), nprocs=2)
        two = float(np.load(out))
    return one, eager, two


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sweeps (< 1 minute)")
    parser.add_argument("--device", default="cpu",
                        help="device of the sweeps (the 2-process comparison is gloo on CPU)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    device = args.device
    sizes = [1000 * 2 ** i for i in range(4 if args.quick else 7)]
    epoch_seconds(1000, device=device)  # warm-up: first-call costs of torch and Pyro
    sweep(f"epoch time against dataset size n (latent 16, {device})", "n", sizes,
          lambda n: epoch_seconds(n, device=device))
    sweep(f"epoch time against latent dimension (n = 4000, {device})", "latent",
          [2, 8, 32, 128], lambda z: epoch_seconds(4000, latent_dim=z, device=device))
    # 16 rows: from K = 4096 on, a chunk holds max_cells = 2**16 (particle, row) cells
    ks = [256, 1024, 4096, 16384] + ([] if args.quick else [65536])
    print("\nimportance-sampled log p(x) of 16 rows against K")
    print(f"{'K':>8}  seconds  peak RSS so far (MiB)")
    costs = [evaluation_cost(k, device=device) for k in ks]
    for k, (seconds, peak) in zip(ks, costs):
        print(f"{k:>8}  {seconds:7.3f}  {peak:8.0f}")
    print(f"fitted exponent of time: {exponent(ks, [c[0] for c in costs]):.2f}; peak memory "
          f"grew {costs[-1][1] - costs[2][1]:.0f} MiB from K={ks[2]} (one full chunk) to "
          f"K={ks[-1]}")
    n = 8000 if args.quick else 16000
    one, eager, two = parallel_ratio(n)
    print(f"\nn = {n}, global batch {B}, seconds per epoch: 1 process x 2 threads "
          f"{one:.2f} (traced loss), {eager:.2f} (eager loss, as under DDP); 2 gloo processes "
          f"x 1 thread {two:.2f}.\nThroughput ratio 2 processes / 1 process: {one / two:.2f} "
          f"(against the eager loss: {eager / two:.2f}); on 2 cores this measures overhead, "
          "not a speed-up")


if __name__ == "__main__":
    main()

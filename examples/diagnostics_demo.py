"""Did the variational fit work, and which guide is better?  Three VAEs on the digits.

Trains the default VAE (latent 8) with the mean-field, the full-rank and an inverse
autoregressive flow guide (``flow:iaf*2``), writes ``RUN/diagnostics/`` (report.html,
diagnostics.json, pictures) for each, prints their verdicts side by side, compares them by
held-out elpd with paired standard errors (``OUT/compare/``) and projects the test set into
the latent space (``latents.csv``).

    python examples/diagnostics_demo.py [--fast] [--out runs/diagnostics-demo] [--seed 0]

An existing run in ``OUT/<guide>`` made with the same settings is diagnosed as it is, not
trained again; one made with other settings (``--fast``'s runs go to
``runs/diagnostics-demo-fast`` by default) is refused.
"""

import argparse
from pathlib import Path

import numpy as np

from pyro_lvm.diagnostics import comparison_rows, verdict_rows
from pyro_lvm.run_reports import compare_runs, diagnose_run, encode_run
from pyro_lvm.infer import TrainConfig
from pyro_lvm.runs import CHECKPOINT, RunSpec, load_run, stored_spec, train_run

#: The guides, by the directory of their run.
GUIDES = {"meanfield": "meanfield", "fullrank": "fullrank", "iaf2": "flow:iaf*2"}


def print_table(rows):
    """Rows of text cells in left-aligned columns."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="2 epochs: a smoke test, not the documented figures")
    parser.add_argument("--out", default=None,
                        help="runs/diagnostics-demo (with --fast: runs/diagnostics-demo-fast)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.out or ("runs/diagnostics-demo-fast" if args.fast else "runs/diagnostics-demo"))
    verdicts = {}
    for name, guide in GUIDES.items():
        run_dir = out / name
        spec = RunSpec(guide=guide, eval_samples=100 if args.fast else 1000,
                       train=TrainConfig(epochs=2 if args.fast else 100, batch_size=64,
                                         seed=args.seed))
        if not (run_dir / CHECKPOINT).is_file():
            train_run(spec, out=run_dir, quiet=True)
        elif stored_spec(run_dir) != spec:
            stored = stored_spec(run_dir)
            raise SystemExit(f"{run_dir} holds a run made with other settings ({stored.train.epochs} "
                             f"epochs, seed {stored.train.seed}, K = {stored.eval_samples}); "
                             "pass another --out or remove it")
        verdicts[name] = diagnose_run(run_dir, quiet=True, seed=args.seed)
    lines = zip(*(verdict_rows(verdicts[name]) for name in GUIDES))
    print_table([("", *GUIDES.values())]
                + [(cells[0][0], *(value for _, value in cells)) for cells in lines])
    for name in GUIDES:
        print(f"{name}: report {verdicts[name]['report']} ({verdicts[name]['seconds']:.1f} s)")

    comparison = compare_runs([out / name for name in GUIDES], out / "compare", quiet=True,
                              seed=args.seed)
    print()
    print_table(comparison_rows(comparison["table"], comparison["num_rows"]))
    print(f"comparison: {comparison['page']} ({comparison['seconds']:.1f} s)")

    first = next(iter(GUIDES))
    _, dataset, _ = load_run(out / first, "cpu")
    rows_file = out / "test-rows.csv"
    np.savetxt(rows_file, dataset.test.numpy(), delimiter=",", fmt="%g")
    latents = encode_run(out / first, rows_file, out / "latents.csv", device="cpu")
    print(f"latent projection of the test set: {latents}")


if __name__ == "__main__":
    main()

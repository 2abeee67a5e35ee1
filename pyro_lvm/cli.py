"""The ``pyro-lvm`` command: ``train``, ``evaluate``, ``sample``, ``encode``, ``impute``,
``diagnose`` and ``compare``.

Bad arguments or bad data print one line (``pyro-lvm: error: ...``) and exit with status 2,
before anything is written; a diverged training run exits with status 1 and keeps its last good
checkpoint; so does a distributed run (``torchrun ... -m pyro_lvm train``) when one of its
processes fails, after the others stop.

The parser is built without torch (its choices come from ``vocabulary``); what a command needs
is imported when it runs, so ``--help`` and a bad argument answer at once.
"""

import argparse
import contextlib
import dataclasses
import signal
import sys

from . import __version__
from .vocabulary import GUIDE_NAMES, LIKELIHOOD_NAMES, MODEL_KINDS


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and a pointer to ``--help``."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _hidden(text):
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"got {text!r}, expected comma-separated integers")
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"got {text!r}, expected positive integers, e.g. 256,256")
    return sizes


def _add_common(parser, seed=0):
    parser.add_argument("--device", default=None,
                        help="'cpu', 'cuda' or 'cuda:N' (default: CUDA when available)")
    parser.add_argument("--seed", type=int, default=seed, help="random seed (default 0)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's choice, one per core); "
                             "OpenMP waits passively unless OMP_WAIT_POLICY says otherwise")


def build_parser():
    parser = _Parser(prog="pyro-lvm", description="Latent variable models, VAEs and normalizing "
                     "flows as Pyro model/guide pairs: train, evaluate, sample, encode, impute, "
                     "diagnose and compare runs.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser(  # options not given stay unset: see _train
        "train", help="train a model and write a run directory",
        argument_default=argparse.SUPPRESS)
    train.add_argument("model", nargs="?", default=None, choices=MODEL_KINDS,
                       help="what to train: vae (default), flow (a normalizing flow), "
                            "ppca (probabilistic PCA), gmm (Gaussian mixture)")
    train.add_argument("--data",
                       help="'digits' (embedded, default), 'digits-binary', 'mnist5k' (5000 "
                            "MNIST images, extra [images]), 'mnist:DIR', "
                            "a toy density name, a .csv/.npy/.npz file, or a table (a .csv "
                            "with a header, or .parquet)")
    train.add_argument("--memmap", action="store_true",
                       help="keep the training rows of a .npy file (or of a CSV's .npy "
                            "conversion) on disk, memory-mapped, for data larger than memory; "
                            "the test set is the last 10%% of the rows")
    train.add_argument("--likelihood", choices=[*LIKELIHOOD_NAMES, "table"],
                       help="the VAE's p(x|z) (default: bernoulli; for a table: 'table', a "
                            "kind per column inferred from its values)")
    train.add_argument("--columns",
                       help="a table's column kinds by name, e.g. 'age:gaussian,"
                            "visits:negbinom,sex:categorical', or a file of name:kind lines")
    train.add_argument("--missing", action="store_true",
                       help="NaN values and empty cells are missing: the VAE's likelihood "
                            "counts the observed cells only")
    train.add_argument("--scale", type=float,
                       help="the VAE's fixed Gaussian scale (default: learned per feature)")
    train.add_argument("--latent-dim", type=int, help="latent dimensions (default 8)")
    train.add_argument("--guide", help=f"the VAE's amortized guide q(z|x): {GUIDE_NAMES} "
                                       "(default: meanfield)")
    train.add_argument("--prior", help="the VAE's p(z): standard (N(0, I), default), vamp:K, "
                                       "the VampPrior of K learned pseudo-inputs, or flow:SPEC, "
                                       "N(0, I) through the flow SPEC (e.g. flow:maf*2)")
    train.add_argument("--components", type=int, help="mixture components of gmm (default 3)")
    train.add_argument("--flow", help="layers of a flow, e.g. 'maf*5' (default), 'nsf*4' or "
                                      "'lu,coupling,lu,coupling'")
    train.add_argument("--hidden", type=_hidden,
                       help="hidden layer sizes of the networks, comma separated (default: 256)")
    train.add_argument("--arch", choices=("mlp", "conv"),
                       help="the VAE's networks: mlp (fully connected, default) or conv (a "
                            "convolutional encoder and decoder over images: digits, mnist5k, "
                            "mnist:DIR)")
    train.add_argument("--channels", type=_hidden,
                       help="channels of the stride-2 convolutions with --arch conv, comma "
                            "separated (default: 32,64)")
    train.add_argument("--epochs", type=int, help="epochs in all (default: 200; 40 for flow)")
    train.add_argument("--batch-size", type=int,
                       help="minibatch size (default: 64; 256 for flow); under torchrun the "
                            "global batch, a multiple of the number of processes")
    train.add_argument("--lr", type=float, help="Adam learning rate (default: 1e-3 for vae, "
                                                "3e-3 for flow, 0.05 for ppca and gmm)")
    train.add_argument("--elbo",
                       help="trace (default): Trace_ELBO; meanfield: TraceMeanField_ELBO "
                            "(closed-form KL); enum: TraceEnum_ELBO (always used for gmm); "
                            "iwae: the importance-weighted bound with K = --particles; "
                            "iwae-dreg: the same with the doubly-reparametrized guide gradient; "
                            "renyi:ALPHA: Renyi's bound, 0 <= ALPHA < 1")
    train.add_argument("--jit", action=argparse.BooleanOptionalAction,
                       help="compile the loss with torch.jit.trace (default: yes for the "
                            "built-in models that can be traced)")
    train.add_argument("--particles", type=int,
                       help="Monte Carlo particles per step, K of the iwae and renyi bounds "
                            "(default 1)")
    train.add_argument("--beta", type=float,
                       help="beta-VAE: weigh the KL term by BETA in the training objective "
                            "(default 1; the reported ELBO and log p(x) are always the true ones)")
    train.add_argument("--kl-warmup", type=int,
                       help="KL warm-up: the KL weight rises linearly from 0 to beta over the "
                            "first EPOCHS epochs (default 0: none)")
    train.add_argument("--lr-schedule",
                       help="cosine, step:EPOCHS:GAMMA or plateau:PATIENCE:FACTOR (on the test "
                            "ELBO); default: a constant learning rate")
    train.add_argument("--early-stop", type=int,
                       help="stop after PATIENCE epochs without a better test ELBO; the best "
                            "epoch is kept as RUN/best.pt (default 0: never)")
    train.add_argument("--free-bits", type=float,
                       help="free bits: a floor of LAMBDA nats on the batch-average KL of each "
                            "latent dimension (default 0: none)")
    train.add_argument("--clip-norm", type=float, help="gradient norm clipping (default: none)")
    train.add_argument("--eval-samples", type=int,
                       help="importance samples K for the test log p(x) (default 1000)")
    train.add_argument("--out", default=None, help="run directory (default: runs/<model>-...)")
    train.add_argument("--resume", action="store_true", default=False,
                       help="continue the run in --out up to --epochs epochs in all (default: "
                            "the epochs it was started with); other options must be the run's")
    train.add_argument("--quiet", action="store_true", default=False, help="no progress bar")
    train.add_argument("--dist-timeout", type=float, default=None,
                       help="under torchrun, seconds a process waits for the others before "
                            "the job fails (default 120 on CPUs, 600 on GPUs)")
    _add_common(train, seed=argparse.SUPPRESS)

    evaluate = commands.add_parser("evaluate", help="ELBO and log p(x) of a run on its test set")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--num-samples", "-k", type=int, default=1000,
                          help="importance samples K per test row (default 1000)")
    evaluate.add_argument("--gaps", action="store_true",
                          help="split the gap into approximation and amortization gaps")
    evaluate.add_argument("--gap-steps", type=int, default=300,
                          help="optimization steps of the per-datapoint guide (default 300)")
    evaluate.add_argument("--quiet", action="store_true",
                          help="no progress bar or progress lines")
    _add_common(evaluate)

    encode = commands.add_parser(
        "encode", help="project rows into the latent space: posterior means and sds per row")
    encode.add_argument("run_dir")
    encode.add_argument("--data", required=True, help="a .csv, .npy or .npz file of rows")
    encode.add_argument("--out", required=True, help="latents.csv or latents.npy")
    encode.add_argument("--sample", action="store_true",
                        help="write draws z ~ q(z|x) instead of means and sds")
    encode.add_argument("--num-samples", type=int, default=64,
                        help="draws per row (with --sample, or for guides without closed-form "
                             "moments)")
    encode.add_argument("--batch-size", type=int, default=1024,
                        help="rows encoded at a time (default 1024)")
    _add_common(encode)

    diagnose = commands.add_parser(
        "diagnose", help="did the fit work? PSIS k-hat, ESS, collapse, convergence; HTML report")
    diagnose.add_argument("run_dir")
    diagnose.add_argument("--num-samples", type=int, default=2500,
                          help="importance draws per test row (default 2500)")
    diagnose.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_common(diagnose)

    calibrate = commands.add_parser(
        "calibrate", help="is the amortized posterior calibrated? simulation-based calibration")
    calibrate.add_argument("run_dir")
    calibrate.add_argument("--simulations", type=int, default=500,
                           help="draws (z, x) of the model whose z is ranked (default 500)")
    calibrate.add_argument("--draws", type=int, default=99,
                           help="draws of q(z|x) per simulation; ranks lie in 0..DRAWS "
                                "(default 99)")
    calibrate.add_argument("--reweight", action="store_true",
                           help="rank among PSIS-reweighted draws of q (towards p(z|x))")
    _add_common(calibrate)

    compare = commands.add_parser(
        "compare", help="which run is better? held-out elpd with paired standard errors")
    compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                         help="two or more runs tested on the same rows")
    compare.add_argument("--num-samples", "-k", type=int, default=2500,
                         help="importance draws per test row for a model without a closed "
                              "form (default 2500, enough for PSIS k-hat up to 0.7)")
    compare.add_argument("--out", default="compare",
                         help="directory for compare.json, compare.png and compare.html "
                              "(default: ./compare)")
    compare.add_argument("--quiet", action="store_true", help="no progress bar or lines")
    _add_common(compare)

    sample = commands.add_parser("sample", help="draw samples from a trained run")
    sample.add_argument("run_dir")
    sample.add_argument("-n", "--num-samples", type=int, default=100,
                        help="rows to draw (default 100)")
    sample.add_argument("--means", action="store_true",
                        help="decoder means E[x|z] at z ~ p(z) instead of draws x ~ p(x|z) "
                             "(a VAE or PPCA run)")
    sample.add_argument("--out", default=None, help="PNG path (default: RUN_DIR/samples-N.png); "
                                                     "for a run on a table, a CSV path")
    _add_common(sample)

    impute = commands.add_parser(
        "impute", help="fill in missing cells with a run trained with --missing")
    impute.add_argument("run_dir")
    impute.add_argument("--data", required=True,
                        help="the rows: a table with the run's columns, or a .csv/.npy file")
    impute.add_argument("--out", required=True, help="imputed.csv or imputed.npy")
    impute.add_argument("--draws", type=int, default=0,
                        help="M multiple imputations, numbered by an 'imputation' column "
                             "(default 0: the conditional means)")
    impute.add_argument("--num-samples", "-k", type=int, default=1000,
                        help="importance draws z ~ q(z|x) per row (default 1000)")
    impute.add_argument("--batch-size", type=int, default=256,
                        help="rows imputed at a time (default 256)")
    _add_common(impute)
    return parser


def _table(rows):
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _columns(rows):
    """Rows of text cells as aligned columns: the first to the left, numbers to the right."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(width) if column else cell.ljust(width)
                               for column, (cell, width) in enumerate(zip(row, widths))).rstrip()
                     for row in rows)


def _metric_rows(metrics):
    """The rows that apply to the run's model: the exact log p(x) first where there is one;
    the bounds and estimates only for a model whose guide has latents."""
    rows = []
    if "test_exact_log_px" in metrics:
        rows.append(("test log p(x), exact (nats/example)", f"{metrics['test_exact_log_px']:.3f}"))
    if "test_elbo" in metrics:
        rows += [("test ELBO (nats/example)", f"{metrics['test_elbo']:.3f}"),
                 (f"test log p(x), importance sampled, K={metrics['num_samples']}",
                  f"{metrics['test_log_px']:.3f}"),
                 ("gap log p(x) - ELBO", f"{metrics['gap']:.3f}"),
                 (f"naive log p(x), z ~ p(z), K={metrics['num_samples']}",
                  f"{metrics['test_naive_log_px']:.3f}")]
    rows.append(("bits per dimension" + (" (exact)" if "test_exact_log_px" in metrics else ""),
                 f"{metrics['bits_per_dim']:.4f}"))
    if "approximation_gap" in metrics:
        split = metrics["approximation_gap"] + metrics["amortization_gap"]
        rows += [("gap split: log p(x), per-datapoint proposal", f"{metrics['split_log_px']:.3f}"),
                 ("gap split: ELBO, fresh draws", f"{metrics['split_elbo']:.3f}"),
                 ("  approximation gap", f"{metrics['approximation_gap']:.3f}"),
                 ("  amortization gap", f"{metrics['amortization_gap']:.3f}"),
                 ("  their sum (that log p(x) - that ELBO)", f"{split:.3f}")]
    if "train_seconds" in metrics:
        rows.append(("training time (s)", f"{metrics['train_seconds']:.1f}"))
    return rows


#: ``train``'s options that set a field of its training config (the others set the run spec's).
_TRAIN_OPTIONS = {"epochs": "epochs", "batch_size": "batch_size", "lr": "learning_rate",
                  "elbo": "elbo", "jit": "jit", "particles": "num_particles",
                  "clip_norm": "clip_norm", "seed": "seed", "beta": "beta",
                  "kl_warmup": "kl_warmup", "free_bits": "free_bits",
                  "lr_schedule": "lr_schedule", "early_stop": "early_stop"}


def _option(name):
    return f"--{name.replace('_', '-')}"


def _spec_from_options(args):
    """The run's spec: the options given on the command line, over the run's own spec with
    ``--resume``, else over the defaults of the model.  An option the model does not read is
    refused, not ignored."""
    from .errors import bad_value
    from .runs import RECIPES, RunSpec, stored_spec
    from .runs.recipes import MODEL_OPTIONS, default_spec, reads_table, recipe_for

    given = {field.name: getattr(args, field.name) for field in dataclasses.fields(RunSpec)
             if field.name != "train" and getattr(args, field.name, None) is not None}
    train = {field: getattr(args, name) for name, field in _TRAIN_OPTIONS.items()
             if hasattr(args, name)}
    if args.resume:
        if args.out is None:
            raise bad_value("--out", None, "the run directory to continue when --resume is given")
        base = stored_spec(args.out)
    else:
        base = default_spec(given.get("model", "vae"))
        if "likelihood" not in given and reads_table(dataclasses.replace(base, **given)):
            given["likelihood"] = "table"  # a table's kinds come from its columns
    model = given.get("model", base.model)
    recipe = recipe_for(model)
    for name in set(MODEL_OPTIONS) & set(given) - set(recipe.options):
        users = ", ".join(kind for kind in MODEL_KINDS if name in RECIPES[kind].options)
        raise bad_value(_option(name), given[name],
                        f"no {_option(name)} for {model} (it applies to {users})")
    if recipe.elbo is not None and train.get("elbo", recipe.elbo) != recipe.elbo:
        raise bad_value("--elbo", train["elbo"], f"{recipe.elbo!r}, the only one for {model}")
    return dataclasses.replace(base, **given, train=dataclasses.replace(base.train, **train))


def _train(args):
    from .runs import train_run

    spec = _spec_from_options(args)
    run_dir, metrics = train_run(spec, out=args.out, resume=args.resume, device=args.device,
                                 quiet=True if args.quiet else None,
                                 dist_timeout=args.dist_timeout)
    if metrics is None:  # a distributed run's rank > 0: rank 0 reports
        return
    print(_table(_metric_rows(metrics)))
    print(f"run directory: {run_dir}")


def _evaluate(args):
    from .runs import evaluate_run

    metrics = evaluate_run(args.run_dir, args.num_samples, device=args.device, seed=args.seed,
                           gaps=args.gaps, gap_steps=args.gap_steps,
                           quiet=True if args.quiet else None)
    print(_table(_metric_rows(metrics)))


def _sample(args):
    from .runs import sample_run

    image, array = sample_run(args.run_dir, args.num_samples, device=args.device,
                              seed=args.seed, out=args.out, means=args.means)
    print(f"samples: {image} (rows of the table)" if array is None else
          f"samples: {image} (picture), {array} (array)")


def _encode(args):
    from .run_reports import encode_run

    path = encode_run(args.run_dir, args.data, args.out, sample=args.sample,
                      batch_size=args.batch_size, device=args.device, seed=args.seed,
                      num_samples=args.num_samples)
    print(f"latents: {path}")


def _impute(args):
    from .run_reports import impute_run

    path = impute_run(args.run_dir, args.data, args.out, draws=args.draws,
                      num_samples=args.num_samples, batch_size=args.batch_size,
                      device=args.device, seed=args.seed)
    print(f"imputed: {path}")


def _diagnose(args):
    from .diagnostics import verdict_rows
    from .run_reports import diagnose_run

    verdict = diagnose_run(args.run_dir, device=args.device, quiet=True if args.quiet else None,
                           num_samples=args.num_samples, seed=args.seed)
    print(_table(verdict_rows(verdict)))
    print(f"report: {verdict['report']}")


def _calibrate(args):
    from .diagnostics.calibration import calibration_rows
    from .run_reports import calibrate_run

    result = calibrate_run(args.run_dir, args.simulations, args.draws, args.reweight,
                           device=args.device, seed=args.seed)
    print(_columns(calibration_rows(result)))
    print(result["summary"])
    print(f"ranks: {result['picture']}, {result['json']}")


def _compare(args):
    from .diagnostics import comparison_rows
    from .run_reports import compare_runs

    result = compare_runs(args.run_dirs, args.out, args.num_samples, device=args.device,
                          seed=args.seed, quiet=True if args.quiet else None)
    print(_columns(comparison_rows(result["table"], result["num_rows"])))
    print(f"elpd in nats over {result['num_rows']} test rows; diff/se > 2: a real difference")
    print(f"page: {result['page']}")


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that a terminated command cleans up as an interrupted one
    does (no temporary file left, a fresh run without a checkpoint removed)."""

    signal = signal.SIGTERM


@contextlib.contextmanager
def _terminate_as_interrupt():
    def raise_terminated(signum, frame):
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _is_allocation_failure(error):
    import torch

    return isinstance(error, (MemoryError, torch.OutOfMemoryError)) or (
        isinstance(error, RuntimeError) and "can't allocate memory" in str(error))


def _line(error):
    """The error as one line: an OS error names its path, nothing spans lines."""
    if isinstance(error, OSError) and error.filename is not None:
        text = f"{error.filename}: {error.strerror or error}"
    else:
        text = str(error)
    return " ".join(text.split())


def main(argv=None):
    """Run the command; exit status 0 done, 1 the work failed (diverged, a failed process,
    an OS error while working), 2 bad input (nothing written), 130 interrupted (143 on
    SIGTERM)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command = {"train": _train, "evaluate": _evaluate, "sample": _sample, "encode": _encode,
               "impute": _impute, "diagnose": _diagnose, "compare": _compare,
               "calibrate": _calibrate}[args.command]
    import torch  # after parsing: --help and bad arguments do not wait for it

    from .checks import check_int
    from .infer import TrainingDiverged
    from .infer.distributed import DistributedError

    try:
        with _terminate_as_interrupt():
            if args.threads is not None:
                torch.set_num_threads(check_int("threads", args.threads))
            command(args)
    except (ValueError, TypeError) as error:
        parser.exit(2, f"pyro-lvm: error: {_line(error)}\n")
    except (TrainingDiverged, DistributedError) as error:
        parser.exit(1, f"pyro-lvm: {_line(error)}\n")
    except OSError as error:
        parser.exit(1, f"pyro-lvm: error: {_line(error)}\n")
    except KeyboardInterrupt as interrupt:
        parser.exit(128 + int(getattr(interrupt, "signal", None) or signal.SIGINT),
                    f"pyro-lvm: {_line(interrupt) or 'interrupted'}\n")
    except (RuntimeError, MemoryError) as error:
        if not _is_allocation_failure(error):
            raise
        parser.exit(2, "pyro-lvm: error: not enough memory for these sizes "
                       f"({_line(error)[:200]}); choose smaller ones\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``pyro-lvm`` command: ``train``, ``evaluate``, ``sample``, ``encode`` and ``diagnose``.

Bad arguments or bad data print one line (``pyro-lvm: error: ...``) and exit with status 2,
before anything is written; a diverged training run exits with status 1 and keeps its last good
checkpoint; so does a distributed run (``torchrun ... -m pyro_lvm train``) when one of its
processes fails, after the others stop.
"""

import argparse
import sys

import torch

from . import __version__
from .checks import check_int
from .errors import bad_value
from .guides import GUIDE_NAMES
from .infer import ELBOS, TrainConfig, TrainingDiverged
from .infer.distributed import DistributedError
from .likelihoods import LIKELIHOODS
from .runs import MODELS, RECIPES, RunSpec, evaluate_run, sample_run, train_run


def _hidden(text):
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"got {text!r}, expected comma-separated integers")
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"got {text!r}, expected positive integers, e.g. 256,256")
    return sizes


def _add_common(parser):
    parser.add_argument("--device", default=None,
                        help="'cpu', 'cuda' or 'cuda:N' (default: CUDA when available)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's choice, one per core); "
                             "OpenMP waits passively unless OMP_WAIT_POLICY says otherwise")


def build_parser():
    parser = argparse.ArgumentParser(prog="pyro-lvm", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    defaults = RunSpec()
    train_defaults = defaults.train
    train = commands.add_parser("train", help="train a model and write a run directory")
    train.add_argument("model", nargs="?", default="vae", choices=MODELS,
                       help="what to train: vae (default), flow (a normalizing flow), "
                            "ppca (probabilistic PCA), gmm (Gaussian mixture)")
    train.add_argument("--data", default=defaults.data,
                       help="'digits' (embedded, default), 'digits-binary', 'mnist:DIR', "
                            "a toy density name, or a .csv/.npy/.npz file")
    train.add_argument("--memmap", action="store_true",
                       help="keep the training rows of a .npy file (or of a CSV's .npy "
                            "conversion) on disk, memory-mapped, for data larger than memory; "
                            "the test set is the last 10%% of the rows")
    train.add_argument("--likelihood", default=defaults.likelihood, choices=sorted(LIKELIHOODS))
    train.add_argument("--scale", type=float, default=None,
                       help="fixed Gaussian scale (default: learned per feature)")
    train.add_argument("--latent-dim", type=int, default=defaults.latent_dim)
    train.add_argument("--guide", default=defaults.guide,
                       help=f"the VAE's amortized guide q(z|x): {GUIDE_NAMES} "
                            "(default: meanfield)")
    train.add_argument("--components", type=int, default=defaults.components,
                       help="mixture components of gmm (default 3)")
    train.add_argument("--flow", default=defaults.flow,
                       help="layers of a flow, e.g. 'maf*5' (default) or 'lu,coupling,lu,coupling'")
    train.add_argument("--hidden", type=_hidden, default=defaults.hidden,
                       help="hidden layer sizes of the networks, comma separated (default: 256)")
    train.add_argument("--epochs", type=int, default=None,
                       help="epochs in all (default: 200; 40 for flow)")
    train.add_argument("--batch-size", type=int, default=None,
                       help="minibatch size (default: 64; 256 for flow); under torchrun the "
                            "global batch, a multiple of the number of processes")
    train.add_argument("--lr", type=float, default=None,
                       help="Adam learning rate (default: 1e-3 for vae, 3e-3 for flow, 0.05 for ppca and gmm)")
    train.add_argument("--elbo", default=train_defaults.elbo, choices=sorted(ELBOS),
                       help="trace: Trace_ELBO; meanfield: TraceMeanField_ELBO (closed-form "
                            "KL); enum: TraceEnum_ELBO (always used for gmm)")
    train.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None,
                       help="compile the loss with torch.jit.trace (default: yes for the "
                            "built-in models that can be traced)")
    train.add_argument("--particles", type=int, default=train_defaults.num_particles)
    train.add_argument("--clip-norm", type=float, default=None, help="gradient norm clipping")
    train.add_argument("--eval-samples", type=int, default=defaults.eval_samples,
                       help="importance samples K for the test log p(x) (default 1000)")
    train.add_argument("--out", default=None, help="run directory (default: runs/<model>-...)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out up to --epochs epochs in all")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_common(train)

    evaluate = commands.add_parser("evaluate", help="ELBO and log p(x) of a run on its test set")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--num-samples", "-k", type=int, default=1000)
    evaluate.add_argument("--gaps", action="store_true",
                          help="split the gap into approximation and amortization gaps")
    evaluate.add_argument("--gap-steps", type=int, default=300,
                          help="optimization steps of the per-datapoint guide (default 300)")
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
    encode.add_argument("--batch-size", type=int, default=1024)
    _add_common(encode)

    diagnose = commands.add_parser(
        "diagnose", help="did the fit work? PSIS k-hat, ESS, collapse, convergence; HTML report")
    diagnose.add_argument("run_dir")
    diagnose.add_argument("--num-samples", type=int, default=2500,
                          help="importance draws per test row (default 2500)")
    diagnose.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_common(diagnose)

    sample = commands.add_parser("sample", help="draw samples from a trained run")
    sample.add_argument("run_dir")
    sample.add_argument("-n", "--num-samples", type=int, default=100)
    sample.add_argument("--out", default=None, help="PNG path (default: RUN_DIR/samples-N.png)")
    _add_common(sample)
    return parser


def _table(rows):
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _metric_rows(metrics):
    rows = [("test ELBO (nats/example)", f"{metrics['test_elbo']:.3f}"),
            *([("exact test log p(x)", f"{metrics['test_exact_log_px']:.3f}")]
              if "test_exact_log_px" in metrics else []),
            (f"test log p(x), K={metrics['num_samples']}", f"{metrics['test_log_px']:.3f}"),
            ("gap log p(x) - ELBO", f"{metrics['gap']:.3f}"),
            ("bits per dimension", f"{metrics['bits_per_dim']:.4f}"),
            ("naive log p(x), z ~ p(z)", f"{metrics['test_naive_log_px']:.3f}")]
    if "approximation_gap" in metrics:
        rows += [("approximation gap", f"{metrics['approximation_gap']:.3f}"),
                 ("amortization gap", f"{metrics['amortization_gap']:.3f}")]
    if "train_seconds" in metrics:
        rows.append(("training time (s)", f"{metrics['train_seconds']:.1f}"))
    return rows


def _train(args):
    if args.resume and args.out is None:
        raise bad_value("--out", None, "the run directory to continue when --resume is given")
    recipe = RECIPES[args.model]
    config = TrainConfig(epochs=recipe.epochs if args.epochs is None else args.epochs,
                         batch_size=recipe.batch_size if args.batch_size is None
                         else args.batch_size,
                         learning_rate=recipe.learning_rate if args.lr is None else args.lr,
                         elbo=args.elbo, jit=args.jit, num_particles=args.particles,
                         clip_norm=args.clip_norm, seed=args.seed)
    spec = RunSpec(model=args.model, data=args.data, likelihood=args.likelihood,
                   latent_dim=args.latent_dim, hidden=args.hidden, scale=args.scale,
                   guide=args.guide, components=args.components, flow=args.flow,
                   train=config, eval_samples=args.eval_samples, memmap=args.memmap)
    run_dir, metrics = train_run(spec, out=args.out, resume=args.resume, device=args.device,
                                 quiet=True if args.quiet else None)
    if metrics is None:  # a distributed run's rank > 0: rank 0 reports
        return
    print(_table(_metric_rows(metrics)))
    print(f"run directory: {run_dir}")


def _evaluate(args):
    metrics = evaluate_run(args.run_dir, args.num_samples, device=args.device, seed=args.seed,
                           gaps=args.gaps, gap_steps=args.gap_steps)
    print(_table(_metric_rows(metrics)))


def _sample(args):
    image, array = sample_run(args.run_dir, args.num_samples, device=args.device,
                              seed=args.seed, out=args.out)
    print(f"samples: {image} (picture), {array} (array)")


def _encode(args):
    from .run_reports import encode_run  # arviz and pandas load only for this command

    path = encode_run(args.run_dir, args.data, args.out, sample=args.sample,
                      batch_size=args.batch_size, device=args.device, seed=args.seed,
                      num_samples=args.num_samples)
    print(f"latents: {path}")


def _diagnose(args):
    from .diagnostics import verdict_rows  # arviz loads only for this command
    from .run_reports import diagnose_run

    verdict = diagnose_run(args.run_dir, device=args.device, quiet=True if args.quiet else None,
                           num_samples=args.num_samples, seed=args.seed)
    print(_table(verdict_rows(verdict)))
    print(f"report: {verdict['report']}")


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    command = {"train": _train, "evaluate": _evaluate, "sample": _sample, "encode": _encode,
               "diagnose": _diagnose}[args.command]
    try:
        if args.threads is not None:
            torch.set_num_threads(check_int("threads", args.threads))
        command(args)
    except (ValueError, TypeError) as error:
        parser.exit(2, f"pyro-lvm: error: {error}\n")
    except (TrainingDiverged, DistributedError) as error:
        parser.exit(1, f"pyro-lvm: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

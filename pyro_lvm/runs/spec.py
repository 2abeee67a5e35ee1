"""A run directory and its spec: where a run lives and what it was asked to train."""

import dataclasses
import time
from pathlib import Path

from ..errors import bad_value
from ..infer import TrainConfig

CHECKPOINT = "checkpoint.pt"
#: The folder of a run that holds its CSV and IDX data converted to ``.npy``.
DATA_CACHE = "data"


@dataclasses.dataclass
class RunSpec:
    """What a run trains on and what it builds (the training knobs are in ``train``).

    ``likelihood="table"`` reads ``data`` as a table and gives each column the kind inferred
    from its values; ``columns`` (``"name:kind,..."``) sets kinds by hand; ``missing`` models
    NaN entries (empty cells) as missing values. ``arch="conv"`` gives the VAE convolutional
    networks of ``channels`` over the data's images (``VAE``'s ``arch``).
    """

    model: str = "vae"
    data: str = "digits"
    likelihood: str = "bernoulli"
    latent_dim: int = 8
    hidden: tuple = (256,)
    scale: float | None = None
    guide: str = "meanfield"
    components: int = 3
    flow: str = "maf*5"
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(epochs=200, batch_size=64))
    eval_samples: int = 1000
    memmap: bool = False
    columns: str | None = None
    missing: bool = False
    prior: str = "standard"
    arch: str = "mlp"
    channels: tuple = (32, 64)


def default_run_dir(spec, root="runs"):
    """``runs/<model>-<data>-<time>``, with a suffix if that name is taken."""
    stem = f"{spec.model}-{Path(spec.data).stem.replace(':', '-')}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = Path(root) / stem, 1
    while path.exists():
        n += 1
        path = Path(root) / f"{stem}-{n}"
    return path


def check_fresh(run_dir):
    if (run_dir / CHECKPOINT).exists():
        raise bad_value("out", str(run_dir),
                        "a directory without a run in it (pass --resume to continue that run)")


def spec_to_dict(spec):
    record = dataclasses.asdict(spec)
    record["hidden"] = list(spec.hidden)
    record["channels"] = list(spec.channels)
    return record


#: What a run's checkpoint holds beside the trainer's state.
RUN_KEYS = ("kind", "model_config", "spec", "model")


def spec_from_state(state, path=CHECKPOINT):
    """The ``RunSpec`` stored in a checkpoint (read from ``path``); a checkpoint without one,
    or with one this version cannot read, is a ``ValueError`` naming what is wrong."""
    missing = [key for key in RUN_KEYS if key not in state]
    if missing:
        raise bad_value("checkpoint", str(path), "a checkpoint written by pyro-lvm train "
                        f"(this one has no {', '.join(missing)})")
    record = state["spec"]
    try:
        record = {**record, "hidden": tuple(record["hidden"]),
                  "channels": tuple(record.get("channels", RunSpec.channels)),
                  "train": TrainConfig(**record["train"])}
        spec = RunSpec(**record)
    except (TypeError, KeyError, ValueError) as error:
        raise bad_value("checkpoint", str(path), "a run spec this version can read "
                        f"({type(error).__name__}: {error})") from None
    if state["kind"] != spec.model or not isinstance(state["model_config"], dict):
        raise bad_value("checkpoint", str(path), f"a model config of a {spec.model!r} run")
    return spec

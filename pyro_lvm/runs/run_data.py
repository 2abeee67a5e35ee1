"""A run's own data: a copy of its test set, and the fingerprint of the data it trained on.

``evaluate``, ``diagnose``, ``sample`` and ``encode`` read ``RUN/data/test.npz``, so a run
evaluates wherever it is copied, whatever became of its source file.  Resuming needs the
training rows, which are read from the source again: the SHA-256 digest of each of its files,
stored in the checkpoint when the run started, must still match, so an edited or replaced
source is refused, never silently used.
"""

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import write_atomically
from ..data import DataSplit, source_files
from ..errors import bad_value
from .spec import DATA_CACHE

#: The run's copy of its test rows (with their labels and image shape).
TEST_SPLIT = "test.npz"


def _digest(path):
    with open(path, "rb") as handle:  # read in blocks: nothing of the file stays in memory
        return hashlib.file_digest(handle, "sha256").hexdigest()


def fingerprint(source):
    """``[{"path", "bytes", "sha256"}, ...]`` for each file that ``source`` reads."""
    return [{"path": str(path), "bytes": path.stat().st_size, "sha256": _digest(path)}
            for path in source_files(source)]


def check_fingerprint(stored):
    """Refuse to read a source whose files are gone or differ from the ``stored``
    fingerprint (size first, then SHA-256)."""
    for record in stored:
        path = Path(record["path"])
        if not path.is_file():
            raise bad_value(f"data {path}", "file not found", "the file this run was trained on "
                            "(put it back to resume; evaluate, diagnose, sample and encode use "
                            "the run's own copy of its test set)")
        if path.stat().st_size != record["bytes"] or _digest(path) != record["sha256"]:
            raise bad_value(f"data {path}", "a file changed since the run started (its SHA-256 "
                            "differs)", "the data this run was trained on; train a new run on "
                            "the new data")


def save_test_split(dataset, run_dir):
    """Write the test rows of ``dataset`` (labels, image shape, name, whether cells may be
    missing) to ``RUN/data/``."""
    arrays = {"test": dataset.test.cpu().numpy(), "name": np.array(dataset.name),
              "missing": np.array(dataset.missing)}
    if dataset.test_labels is not None:
        arrays["test_labels"] = dataset.test_labels.cpu().numpy()
    if dataset.image_shape is not None:
        arrays["image_shape"] = np.array(dataset.image_shape)
    return write_atomically(Path(run_dir) / DATA_CACHE / TEST_SPLIT,
                            lambda handle: np.savez(handle, **arrays))


def has_test_split(run_dir):
    """Whether the run in ``run_dir`` holds its copy of its test set."""
    return (Path(run_dir) / DATA_CACHE / TEST_SPLIT).is_file()


def load_test_split(run_dir, device):
    """The run's copy of its test set as a ``DataSplit`` whose two parts are both the test
    rows (a run is evaluated on those alone), or ``None`` for a run made before 0.2.1."""
    if not has_test_split(run_dir):
        return None
    path = Path(run_dir) / DATA_CACHE / TEST_SPLIT
    try:
        with np.load(path, allow_pickle=False) as arrays:
            test = torch.from_numpy(arrays["test"])
            labels = torch.from_numpy(arrays["test_labels"]) if "test_labels" in arrays else None
            shape = tuple(int(s) for s in arrays["image_shape"]) \
                if "image_shape" in arrays else None
            name = str(arrays["name"])
            missing = bool(arrays["missing"]) if "missing" in arrays else False
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise bad_value(f"file {path}", f"{type(error).__name__}: {error}",
                        "the run's copy of its test set, as pyro-lvm train wrote it") from None
    return DataSplit(train=test, test=test, train_labels=labels, test_labels=labels,
                     image_shape=shape, name=name, missing=missing).to(device)

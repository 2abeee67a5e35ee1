"""Data larger than memory: a memory-mapped .npy, gathered one minibatch at a time."""

from pathlib import Path

import numpy as np
import pytest
import torch

from pyro_lvm.data import DataSplit
from pyro_lvm.data.files import open_npy
from pyro_lvm.infer import TrainConfig, Trainer
from pyro_lvm.models import VAE
from pyro_lvm.runtime import set_seed


@pytest.fixture
def npy(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "rows.npy"
    np.save(path, (rng.random((300, 10)) < 0.3).astype(np.float32))
    return path


def test_open_npy_maps_the_file_without_reading_it(npy):
    mapped = open_npy(npy)
    assert mapped.shape == (300, 10) and mapped.dtype == torch.float32
    with open("/proc/self/maps") as maps:  # the file is mapped, not read into memory
        assert str(npy) in maps.read()
    mapped[0, 0] = 7.0  # copy-on-write: the file is unchanged
    assert np.load(npy)[0, 0] != 7.0


def test_training_from_the_map_equals_training_in_memory(npy):
    def train(data, preload):
        set_seed(4)
        trainer = Trainer(VAE(10, latent_dim=2, hidden=(8,)),
                          TrainConfig(epochs=2, batch_size=50, seed=4, jit=False), device="cpu")
        trainer.fit(data, preload=preload, quiet=True)
        return trainer

    mapped = train(open_npy(npy), preload=False)
    loaded = train(torch.from_numpy(np.load(npy)), preload=True)
    assert [r["train_elbo"] for r in mapped.history] == [r["train_elbo"] for r in loaded.history]
    for (name, a), b in zip(mapped.lvm.state_dict().items(), loaded.lvm.state_dict().values()):
        assert torch.equal(a, b), name


def test_minibatches_are_gathered_from_the_map(npy, monkeypatch):
    from pyro_lvm.infer import trainer as trainer_module
    rows = []
    minibatch = trainer_module._minibatch

    def spy(data, indices, device):
        assert data.data_ptr() == mapped.data_ptr()  # gathered from the map itself
        rows.append(len(indices))
        return minibatch(data, indices, device)

    mapped = open_npy(npy)
    monkeypatch.setattr(trainer_module, "_minibatch", spy)
    Trainer(VAE(10, latent_dim=2, hidden=(8,)), TrainConfig(epochs=1, batch_size=50, jit=False),
            device="cpu").fit(mapped, preload=False, quiet=True)
    assert rows and max(rows) == 50  # never the whole array


@pytest.mark.parametrize("array, seen", [(np.zeros((4, 3)), "float64"),
                                         (np.zeros((4, 3, 2), np.float32), "3-D")])
def test_open_npy_refuses_what_it_cannot_map(tmp_path, array, seen):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(ValueError, match=f"file {path}: got .*{seen}.*expected a 2-D C-ordered "
                                         "float32 array"):
        open_npy(path)


def test_csv_and_idx_are_converted_once_to_a_cached_npy(tmp_path):
    import gzip
    import os
    import struct

    from pyro_lvm.data.files import cache_as_npy, read_csv

    csv = tmp_path / "table.csv"
    csv.write_text("a,b\n0.25,1\n3,-2.5\n")
    cache = tmp_path / "run" / "data"
    first = cache_as_npy(csv, cache)
    assert first == cache / "table.npy"
    np.testing.assert_array_equal(np.load(first), read_csv(csv).astype(np.float32))
    assert open_npy(first).tolist() == [[0.25, 1.0], [3.0, -2.5]]
    os.utime(first, (2e9, 2e9))  # newer than the source: reused, not rewritten
    csv.write_text("broken")
    assert cache_as_npy(csv, cache) == first and np.load(first).shape == (2, 2)
    assert sorted(p.name for p in cache.iterdir()) == ["table.npy"]  # no temporary left

    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    idx = tmp_path / "train-images-idx3-ubyte.gz"
    idx.write_bytes(gzip.compress(b"\0\0\x08\x03" + struct.pack(">3I", 2, 3, 4)
                                  + images.tobytes()))
    np.testing.assert_array_equal(np.load(cache_as_npy(idx, cache)), images)
    assert (cache / "train-images-idx3-ubyte.npy").is_file()


@pytest.mark.slow
def test_a_csv_run_is_read_from_its_npy_conversion_beside_the_run(tmp_path):
    from pyro_lvm.data import load_dataset
    from pyro_lvm.infer import TrainConfig as Config
    from pyro_lvm.runs import RunSpec, load_run, train_run

    rng = np.random.default_rng(1)
    csv = tmp_path / "table.csv"
    csv.write_text("\n".join(",".join(f"{v:.6f}" for v in row)
                             for row in rng.normal(size=(60, 3))) + "\n")
    spec = RunSpec(model="ppca", data=str(csv), latent_dim=1, eval_samples=4,
                   train=Config(epochs=1, batch_size=16))
    run_dir, _ = train_run(spec, out=tmp_path / "run", device="cpu", quiet=True)
    cached = run_dir / "data" / "table.npy"
    written = cached.stat().st_mtime_ns  # the first run converted it
    _, dataset, _ = load_run(run_dir, device="cpu")
    assert cached.stat().st_mtime_ns == written  # converted once, then read
    direct = load_dataset(str(csv), seed=0)
    assert torch.equal(dataset.train, direct.train) and torch.equal(dataset.test, direct.test)


@pytest.mark.slow
def test_an_mnist_run_reads_its_idx_files_through_npy_conversions(tmp_path, monkeypatch):
    import gzip
    import struct

    from pyro_lvm.data import files
    from pyro_lvm.runs import RunSpec, load_run, train_run
    from pyro_lvm.infer import TrainConfig as Config

    rng = np.random.default_rng(2)
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    for part, n in (("train", 40), ("t10k", 10)):
        images = rng.integers(0, 256, size=(n, 4, 4), dtype=np.uint8)
        (mnist / f"{part}-images-idx3-ubyte.gz").write_bytes(gzip.compress(
            b"\0\0\x08\x03" + struct.pack(">3I", n, 4, 4) + images.tobytes()))
        (mnist / f"{part}-labels-idx1-ubyte").write_bytes(
            b"\0\0\x08\x01" + struct.pack(">I", n) + bytes(n))
    spec = RunSpec(data=f"mnist:{mnist}", latent_dim=2, hidden=(4,), eval_samples=2,
                   train=Config(epochs=1, batch_size=8))
    run_dir, _ = train_run(spec, out=tmp_path / "run", device="cpu", quiet=True)
    assert sorted(p.name for p in (run_dir / "data").iterdir()) == [
        "t10k-images-idx3-ubyte.npy", "t10k-labels-idx1-ubyte.npy", "test.npz",
        "train-images-idx3-ubyte.npy", "train-labels-idx1-ubyte.npy"]
    monkeypatch.setattr(files, "read_idx", lambda path: pytest.fail(f"parsed {path} again"))
    _, dataset, _ = load_run(run_dir, device="cpu")
    assert dataset.train.shape == (40, 16) and dataset.test.shape == (10, 16)


def _inside_a_map_of(path, tensor):
    """Whether ``tensor``'s memory lies in a memory mapping of the file ``path``."""
    with open("/proc/self/maps") as maps:
        spans = [line.split()[0].split("-") for line in maps if line.rstrip().endswith(str(path))]
    return any(int(low, 16) <= tensor.data_ptr() < int(high, 16) for low, high in spans)


@pytest.mark.slow
def test_a_memmap_run_trains_from_the_map_as_from_memory(tmp_path, monkeypatch):
    from pyro_lvm.data import load_dataset
    from pyro_lvm.infer import TrainConfig as Config
    from pyro_lvm.infer import trainer as trainer_module
    from pyro_lvm.runs import RECIPES, RunSpec, build_model, train_run

    rng = np.random.default_rng(3)
    path = tmp_path / "rows.npy"
    rows = (rng.random((200, 10)) < 0.3).astype(np.float32)
    np.save(path, rows)
    mapped = load_dataset(str(path), likelihood="bernoulli", mapped=True)
    assert mapped.mapped and mapped.train.shape == (180, 10)  # the last 10% are the test set
    assert _inside_a_map_of(path, mapped.to("cpu").train)  # a view of the map, not a copy
    assert not _inside_a_map_of(path, mapped.test)
    np.testing.assert_array_equal(mapped.test.numpy(), rows[180:])

    gathered = []
    minibatch = trainer_module._minibatch
    monkeypatch.setattr(trainer_module, "_minibatch", lambda data, indices, device: (
        gathered.append(len(indices)) or minibatch(data, indices, device)))
    spec = RunSpec(data=str(path), latent_dim=2, hidden=(8,), eval_samples=2, memmap=True,
                   train=Config(epochs=2, batch_size=30, seed=5))
    run_dir, _ = train_run(spec, out=tmp_path / "run", device="cpu", quiet=True)
    assert gathered and max(gathered) == 30  # one minibatch at a time, never the whole map

    set_seed(5)
    lvm = build_model("vae", RECIPES["vae"].config(spec, DataSplit(torch.from_numpy(rows))))
    trainer = Trainer(lvm, spec.train, device="cpu")
    trainer.fit(torch.from_numpy(rows[:180]), torch.from_numpy(rows[180:]), quiet=True)
    import json
    history = json.loads((run_dir / "history.json").read_text())
    assert [h["train_elbo"] for h in history] == [h["train_elbo"] for h in trainer.history]


def _resident_bytes(path):
    """The resident bytes (``Rss``) of this process's mappings of the file ``path``."""
    total, inside = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if not fields[0].endswith(":"):  # a mapping's header line: range, perms, ..., path
                inside = line.rstrip().endswith(str(path))
            elif inside and fields[0] == "Rss:":
                total += int(fields[1]) * 1024
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").is_file(),
                    reason="reads the resident pages of a mapping from /proc/self/smaps (Linux)")
def test_a_validated_and_trained_map_does_not_stay_resident(tmp_path):
    from pyro_lvm.data import load_dataset
    from pyro_lvm.data.dataset import drop_mapped_pages

    path = tmp_path / "rows.npy"
    np.save(path, np.random.default_rng(6).normal(size=(4096, 1024)).astype(np.float32))
    bound = path.stat().st_size // 16  # of 16 MiB
    dataset = load_dataset(str(path), likelihood="gaussian", mapped=True)
    assert _inside_a_map_of(path, dataset.train)  # still the map, whose rows are read again
    assert _resident_bytes(path) < bound  # all rows read to be checked, then unmapped
    plain = torch.ones(1024, 1024)
    drop_mapped_pages(plain)  # not a map: left as it is
    assert bool((plain == 1).all())
    Trainer(VAE(1024, latent_dim=2, hidden=(8,), likelihood="gaussian"),
            TrainConfig(epochs=1, batch_size=128, jit=False), device="cpu").fit(
        dataset.train, dataset.test, preload=False, quiet=True)
    assert _resident_bytes(path) < bound  # an epoch read every row, one minibatch at a time


def test_memmap_refuses_what_it_cannot_map(tmp_path):
    from pyro_lvm.data import load_dataset
    np.save(tmp_path / "rows.npy", np.zeros((10, 3), np.float32))
    with pytest.raises(ValueError, match="a .npy file"):
        load_dataset("digits", mapped=True)
    with pytest.raises(ValueError, match="binarize"):
        load_dataset(str(tmp_path / "rows.npy"), mapped=True, binarize=True)
    with pytest.raises(ValueError, match="test_fraction"):
        from pyro_lvm.data import load_mapped_npy
        load_mapped_npy(tmp_path / "rows.npy", test_fraction=0.0)

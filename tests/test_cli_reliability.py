"""What a command does when the world misbehaves: interrupts, kills, a second writer, a full
disk, a read-only directory; and the encode of real-valued data (issue 12)."""

import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from pyro_lvm.checkpoint import host_tag, load_checkpoint
from pyro_lvm.cli import main
from pyro_lvm.runs.directory import claimed

FAST = ["--hidden", "16", "--latent-dim", "2", "--eval-samples", "5", "--quiet",
        "--device", "cpu"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "vae"
    assert main(["train", "--out", str(out), "--epochs", "1", *FAST]) == 0
    return out


def _error_line(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


@pytest.mark.slow
@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_train_names_its_last_checkpoint(tmp_path, signum, status):
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "pyro_lvm", "train", "--out", str(out), "--epochs", "100000",
         *FAST], stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == status, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    epoch = load_checkpoint(out / "checkpoint.pt")["epoch"]
    assert err == f"pyro-lvm: interrupted; the last checkpoint is epoch {epoch}\n"
    assert not list(out.rglob("*.tmp")) and not (out / ".lock").read_text()


def test_an_interrupt_before_the_first_checkpoint_leaves_nothing(tmp_path, monkeypatch, capsys):
    from pyro_lvm.infer import trainer

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer.Trainer, "_run_epoch", interrupted)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--out", str(out), "--epochs", "3", *FAST])
    assert exit_.value.code == 130
    assert _error_line(capsys) == ("pyro-lvm: interrupted before the first checkpoint; "
                                   "nothing was kept")
    assert not out.exists()


def test_fewer_test_rows_than_processes_leaves_no_data_behind(tmp_path, monkeypatch, capsys):
    from pyro_lvm.infer import distributed
    monkeypatch.setattr(distributed, "world_size", lambda: 4)  # as rank 0 of 4 would see it
    data = tmp_path / "t.csv"
    np.savetxt(data, np.random.default_rng(0).normal(size=(20, 3)), delimiter=",")
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        main(["train", "ppca", "--data", str(data), "--latent-dim", "1", "--batch-size", "4",
              "--epochs", "1", "--eval-samples", "5", "--out", str(out), "--quiet",
              "--device", "cpu"])
    assert exit_.value.code == 2 and "at least one row per process (4)" in _error_line(capsys)
    assert not out.exists()


def test_a_second_train_into_a_held_run_is_refused(run_dir, capsys):
    with claimed(run_dir, fresh=False):
        with pytest.raises(SystemExit) as exit_:
            main(["train", "--out", str(run_dir), "--resume", "--epochs", "2", "--quiet"])
    assert exit_.value.code == 2
    line = _error_line(capsys)
    assert f"pid {os.getpid()}" in line and "holds it" in line
    assert load_checkpoint(run_dir / "checkpoint.pt")["epoch"] == 1


def test_temporaries_left_by_a_killed_writer_are_removed(run_dir, capsys):
    dead = subprocess.Popen(["true"])
    dead.wait()
    names = {"dead": f".checkpoint.pt.{dead.pid}-{host_tag()}.abc123.tmp",
             "alive": f".metrics.json.{os.getpid()}-{host_tag()}.abc123.tmp",
             "other-host": f".checkpoint.pt.{dead.pid}-00000000.abc123.tmp",
             "legacy-old": ".checkpoint.pt.k2j3h4g5.tmp", "legacy-new": ".history.json.q1w2e3.tmp"}
    for name in names.values():
        (run_dir / name).write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(run_dir / names["legacy-old"], (two_hours_ago, two_hours_ago))
    assert main(["evaluate", str(run_dir), "-k", "5", "--device", "cpu"]) == 0
    left = {key for key, name in names.items() if (run_dir / name).exists()}
    assert left == {"alive", "other-host", "legacy-new"}
    for key in left:
        (run_dir / names[key]).unlink()


def test_a_full_disk_is_one_line_naming_the_file_and_leaves_no_fresh_run(
        tmp_path, monkeypatch, capsys):
    from pyro_lvm.infer import trainer

    def full(state, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(trainer, "save_checkpoint", full)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--out", str(out), "--epochs", "2", *FAST])
    assert exit_.value.code == 1
    line = _error_line(capsys)
    assert line == f"pyro-lvm: error: {out / 'checkpoint.pt'}: No space left on device"
    assert not out.exists()


def test_a_read_only_place_is_refused_before_training(tmp_path, monkeypatch, capsys):
    parent = tmp_path / "read-only"
    parent.mkdir()
    parent.chmod(0o555)
    if os.geteuid() == 0:  # root may write anywhere: let os.access answer as for a user
        from pyro_lvm.runs import directory
        monkeypatch.setattr(directory.os, "access", lambda path, mode: False)
    try:
        with pytest.raises(SystemExit) as exit_:
            main(["train", "--out", str(parent / "run"), "--epochs", "1", *FAST])
        assert exit_.value.code == 2
        assert f"({parent} is read-only)" in _error_line(capsys)
        assert list(parent.iterdir()) == []
    finally:
        parent.chmod(0o755)


@pytest.mark.parametrize("command", [
    ["evaluate", "{run}", "-k", "5"], ["diagnose", "{run}", "--num-samples", "20", "--quiet"],
    ["sample", "{run}", "-n", "4"],
    ["encode", "{run}", "--data", "{rows}", "--out", "{run}/latents.csv"]])
def test_a_read_only_run_is_refused_before_the_work(run_dir, tmp_path, monkeypatch, capsys,
                                                     command):
    rows = tmp_path / "rows.npy"
    np.save(rows, np.zeros((3, 64), dtype=np.float32))
    from pyro_lvm.runs import directory
    monkeypatch.setattr(directory.os, "access", lambda path, mode: False)
    before = sorted(run_dir.rglob("*"))
    with pytest.raises(SystemExit) as exit_:
        main([part.format(run=run_dir, rows=rows) for part in command] + ["--device", "cpu"])
    assert exit_.value.code == 2 and "is read-only)" in _error_line(capsys)
    assert sorted(run_dir.rglob("*")) == before


@pytest.mark.slow
def test_encode_a_ppca_run_on_real_valued_rows(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = tmp_path / "real.csv"
    np.savetxt(data, rng.normal(size=(80, 5)) * 10, delimiter=",")
    out = tmp_path / "ppca"
    assert main(["train", "ppca", "--data", str(data), "--latent-dim", "2", "--epochs", "2",
                 "--batch-size", "16", "--eval-samples", "5", "--out", str(out), "--quiet",
                 "--device", "cpu"]) == 0
    latents = tmp_path / "latents.csv"
    assert main(["encode", str(out), "--data", str(data), "--out", str(latents),
                 "--device", "cpu"]) == 0
    table = np.genfromtxt(latents, delimiter=",", names=True)
    assert table.dtype.names == ("z0_mean", "z1_mean", "z0_sd", "z1_sd")
    assert len(table) == 80 and np.all(table["z0_sd"] > 0)

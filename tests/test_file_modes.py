"""Atomic writes give the permissions a plain open() gives a new file, 0o666 & ~umask, not
mkstemp's 0o600 (issue 18, item 10): checkpoints, JSON, CSV and PNG outputs alike."""

import os
import stat
from pathlib import Path

import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from pyro_lvm import checkpoint
from pyro_lvm.checkpoint import save_checkpoint, write_json
from pyro_lvm.plots import save_png
from pyro_lvm.runs.rows import write_frame


def _write_all(out):
    """One file of each kind the commands write, through the atomic-write helper."""
    fig = Figure(figsize=(1, 1))
    fig.subplots().plot([0, 1], [1, 0])
    return [save_checkpoint({"w": torch.ones(2)}, out / "model.pt"),
            write_json({"elbo": -1.5}, out / "metrics.json"),
            write_frame(pd.DataFrame({"z0": [0.1, 0.2]}), out / "latents.csv"),
            save_png(fig, out / "loss.png")]


def _mode(path):
    return stat.S_IMODE(Path(path).stat().st_mode)


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600)])
def test_outputs_get_the_mode_open_would_give(tmp_path, umask, expected):
    previous = os.umask(umask)
    try:
        written = _write_all(tmp_path)
        (tmp_path / "plain.txt").write_text("x")  # what open() gives under this umask
        rewritten = _write_all(tmp_path)  # replacing existing files: the same modes
        assert os.umask(umask) == umask  # the helper left the umask as it was
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "plain.txt") == expected
    assert [_mode(path) for path in written] == [expected] * 4
    assert [_mode(path) for path in rewritten] == [expected] * 4
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["model.pt", "metrics.json", "latents.csv", "loss.png", "plain.txt"])  # no temporaries


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux's /proc shows the umask")
def test_the_umask_is_read_without_setting_it(tmp_path, monkeypatch):
    """Setting the umask to read it would briefly change it for every thread of the process."""
    previous = os.umask(0o027)
    try:
        def refuse(mask):
            raise AssertionError("os.umask called")
        monkeypatch.setattr(checkpoint.os, "umask", refuse)
        path = write_json({"a": 1}, tmp_path / "m.json")
    finally:
        monkeypatch.undo()
        os.umask(previous)
    assert _mode(path) == 0o640


def test_json_files_hold_null_for_infinities_and_nan_and_parse_strictly(tmp_path):
    import json

    def strict(constant):
        raise AssertionError(f"{constant} in a JSON file")

    path = write_json({"khat_max": float("-inf"), "rows": [1.0, float("nan"), (float("inf"),)],
                       "nested": {"ok": 2.5, "flag": True, "name": "x"}}, tmp_path / "c.json")
    assert json.loads(Path(path).read_text(), parse_constant=strict) == {
        "khat_max": None, "rows": [1.0, None, [None]],
        "nested": {"ok": 2.5, "flag": True, "name": "x"}}

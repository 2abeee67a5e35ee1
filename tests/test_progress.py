"""Long commands tell a redirected output where they are: a line per stage off a terminal."""

import pytest

from pyro_lvm.cli import main
from pyro_lvm.progress import Progress


def test_lines_off_a_terminal_and_nothing_when_quiet(capsys):
    progress = Progress(4, "work", every=2)
    for stage in ("one", "two", "three", "four"):
        progress.update(stage)
    progress.close()
    lines = capsys.readouterr().err.strip().splitlines()
    assert [line.split(" (")[0] for line in lines] == ["work: 2/4 two", "work: 4/4 four"]
    quiet = Progress(3, "work", quiet=True)
    quiet.update("x")
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_diagnose_and_gaps_report_their_stages_when_redirected(tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", "--epochs", "2", "--eval-samples", "5", "--out", str(out)])
    assert "epoch 2/2" in capsys.readouterr().err  # pytest's stderr is not a terminal
    main(["diagnose", str(out), "--num-samples", "30"])
    err = capsys.readouterr().err
    assert "diagnose: 1/4 importance weights" in err and "diagnose: 4/4 pictures" in err
    main(["evaluate", str(out), "-k", "5", "--gaps", "--gap-steps", "20"])
    assert "local guide: 20/20" in capsys.readouterr().err

"""Every output the docs show as a command's is what that command prints now.

A block of documented output is a fenced block right after a marker naming the command:

    <!-- output of: python examples/ppca.py --seed 0 -->

The command runs in a fresh directory (``runs/`` lands there), with 2 CPU threads as the
documented figures were made (1 gives the same here), ``python`` being this
interpreter, ``pyro-lvm`` the package's command and a script path taken from the repository.
Each non-empty line of the block must match a line of its standard output, in order (lines the
block leaves out are allowed): word for word and figure for figure, runs of spaces counting as
one, ``...`` standing for any text (a time, a date, a path).  Runs are bit-for-bit reproducible
at a seed, so a documented figure that no longer matches fails here.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"<!-- output of: (?P<command>.+?) -->\n```[a-z]*\n(?P<block>.*?)```", re.S)


def documented_outputs(pages=PAGES):
    """``(page name, command, block)`` for each marked block of ``pages``."""
    return [(page.name, found["command"], found["block"]) for page in pages
            for found in MARKER.finditer(page.read_text())]


def _pattern(line):
    words = [re.escape(part) for part in " ".join(line.split()).split("...")]
    return re.compile(".*?".join(words).replace(r"\ ", r"\s+") + r"\Z")


def unmatched_line(block, output):
    """The first line of ``block`` that no later line of ``output`` matches, or ``None``."""
    lines = iter(" ".join(line.split()) for line in output.splitlines())
    for wanted in filter(str.strip, block.splitlines()):
        pattern = _pattern(wanted)
        if not any(pattern.match(line) for line in lines):
            return wanted
    return None


def _argv(command):
    words = shlex.split(command)
    if words[0] == "pyro-lvm":
        return [sys.executable, "-m", "pyro_lvm", *words[1:]]
    assert words[0] == "python", f"{command!r}: a documented command is python ... or pyro-lvm ..."
    return [sys.executable, *(str(ROOT / word) if (ROOT / word).is_file() else word
                              for word in words[1:])]


def test_a_block_matches_line_by_line_with_wildcards_and_fails_on_a_changed_figure():
    output = "header\nELBO    -6.8329\ngap 0.0125\ntime 2.0 s\n"
    assert unmatched_line("ELBO -6.8329\ntime ... s\n", output) is None
    assert unmatched_line("ELBO -6.8320\n", output) == "ELBO -6.8320"
    assert unmatched_line("gap 0.0125\nELBO -6.8329\n", output) == "ELBO -6.8329"  # order
    assert unmatched_line("ELBO -6.83\n", output) == "ELBO -6.83"  # no partial figures


def test_the_pages_hold_the_documented_outputs():
    commands = {(page, command) for page, command, _ in documented_outputs()}
    assert {("index.md", "pyro-lvm train"),
            ("diagnostics.md", "python examples/diagnostics_demo.py --seed 0"),
            ("classic.md", "python examples/ppca.py --seed 0"),
            ("classic.md", "python examples/gmm.py --seed 0"),
            ("classic.md", "python examples/gradient_variance.py")} <= commands


@pytest.mark.slow
@pytest.mark.parametrize("page,command,block", documented_outputs(),
                         ids=[f"{page}: {command}" for page, command, _ in documented_outputs()])
def test_the_documented_output_is_what_the_command_prints(page, command, block, tmp_path):
    environment = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "2"}
    result = subprocess.run(_argv(command), cwd=tmp_path, capture_output=True, text=True,
                            env=environment, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    missing = unmatched_line(block, result.stdout)
    assert missing is None, (f"{page}: `{command}` no longer prints {missing!r}; it printed:\n"
                             f"{result.stdout}")

"""The README's Python example runs as written and trains the guide it defines."""

import pytest
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs_and_learns():
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    history = namespace["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5]
    assert history[-1]["test_elbo"] > history[0]["test_elbo"]
    assert any(p.grad is not None for p in namespace["vae"].guide.parameters())


def test_readme_test_command_is_what_ci_runs():
    commands = re.search(r"```bash\n(.*?)```", README.read_text(), re.S).group(1).splitlines()
    ci = (README.parent / ".ci" / "run").read_text().strip().splitlines()
    assert commands[1] == ci[-1] == "python -m pytest -q"
    assert "pyro-lvm train" in commands[0]


@pytest.mark.slow
def test_coming_from_pyro_page_runs_as_written():
    """docs/pyro.md: a Pyro user's SVI script, then the same model through the trainer."""
    page = README.parent / "docs" / "pyro.md"
    namespace = {}
    for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.S):
        exec(compile(block, str(page), "exec"), namespace)
    history, per_row = namespace["history"], namespace["per_row"]
    assert len(history) == 75 and history[-1]["train_elbo"] > history[0]["train_elbo"] + 1
    assert {"locs.W_unconstrained", "locs.z_unconstrained"} <= set(
        dict(namespace["guide"].named_parameters()))
    assert abs(float(namespace["pyro"].param("sigma").detach()) - 1.0) > 0.1  # in the store
    assert (per_row["gap"] >= 0).all() and per_row["elbo"].shape == (200,)


def test_the_api_reference_covers_the_public_api():
    import pyro_lvm
    api = (README.parent / "docs" / "api.md").read_text()
    assert [name for name in pyro_lvm.__all__ if f"::: pyro_lvm.{name}\n" not in api] == []

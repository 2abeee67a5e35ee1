"""The library never imports the application layer (run directories and the command line),
read from the import statements of every module."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pyro_lvm"
#: The application layer: run directories, their reports and the ``pyro-lvm`` command.
APPLICATION = ("pyro_lvm.cli", "pyro_lvm.runs", "pyro_lvm.run_reports", "pyro_lvm.__main__")


def _in_application(name):
    return any(name == top or name.startswith(top + ".") for top in APPLICATION)


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path):
    """Every module name an ``import`` or ``from ... import`` of ``path`` can load, relative
    imports resolved (``from . import x`` may name a module ``x``)."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_the_library_does_not_import_the_application_layer():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        if _in_application(name):
            continue
        bad = sorted(n for n in _imported(path) if _in_application(n))
        if bad:
            offenders[name] = bad
    assert not offenders, f"library modules import the application layer: {offenders}"


def test_the_check_sees_relative_imports():
    """The reader itself: ``from ..runs import load_run`` in a subpackage is an import of
    pyro_lvm.runs."""
    imported = _imported(PACKAGE / "run_reports.py")
    assert {"pyro_lvm.runs", "pyro_lvm.diagnostics"} <= imported
    assert "pyro_lvm.infer.trainer" in _imported(PACKAGE / "infer" / "__init__.py")

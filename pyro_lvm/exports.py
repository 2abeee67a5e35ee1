"""What a package's namespace serves beyond its own globals: names imported from a submodule
on first use (PEP 562), and old names kept for one release after a rename, with a
``DeprecationWarning`` naming the new one."""

import ast
import importlib
import warnings
from pathlib import Path

#: Renamed in 0.2.0 (the old names go in 0.3.0): what each name says now is what differs from
#: ``torch.utils.data.Dataset`` and Pyro's ``Trace_ELBO`` / ``TraceMeanField_ELBO``; in 0.2.4
#: the R̂ of seeds' ELBOs, so that ``compare_runs`` names the model comparison.
RENAMED = {"Dataset": "DataSplit", "TraceELBO": "DeviceTraceELBO",
           "TraceMeanFieldELBO": "DeviceTraceMeanFieldELBO", "compare_runs": "elbo_rhat"}


def type_checking_imports(path):
    """``{".submodule": (name, ...)}`` of the ``from .submodule import ...`` statements under
    ``if TYPE_CHECKING:`` in the module file ``path``: the imports that type checkers and the
    API docs read, and that ``module_getattr`` then makes on first use."""
    found = {}
    for node in ast.parse(Path(path).read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom):
                    module = "." * statement.level + (statement.module or "")
                    found[module] = tuple(alias.name for alias in statement.names)
    return found


def module_getattr(namespace, lazy=None):
    """A module ``__getattr__`` for the module whose ``globals()`` is ``namespace``.

    ``lazy`` maps a submodule (relative, e.g. ``".models"``) to the names it exports: the first
    access imports it and keeps the name in ``namespace``.  The old names of ``RENAMED`` are
    served, with a warning, when the new name is there."""
    sources = {name: module for module, names in (lazy or {}).items() for name in names}

    def __getattr__(name):
        if name in sources:
            module = importlib.import_module(sources[name], namespace["__name__"])
            namespace[name] = getattr(module, name)
            return namespace[name]
        new = RENAMED.get(name)
        if new in namespace or new in sources:
            warnings.warn(f"{name} is deprecated and will be removed in pyro_lvm 0.3: use {new}",
                          DeprecationWarning, stacklevel=2)
            return namespace[new] if new in namespace else __getattr__(new)
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
    return __getattr__

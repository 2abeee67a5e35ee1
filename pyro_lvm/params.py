"""Where parameters live: in modules, in Pyro's parameter store, or both (docs/contract.md).

The package's own models and guides hold their parameters in their modules (the source of
truth: ``state_dict``, ``.to(device)``) and, each time they run outside the trainer,
``register`` them in Pyro's parameter store under a name of their own, as ``pyro.module``
does, so that a plain ``pyro.infer.SVI`` loop sees and trains them.  Each module instance gets
a name no other live instance has (``VAE``, then ``VAE_2``, ...), so two models in one process
never share an entry.

``ParamCollector`` records the parameter-store entries that a model and guide read while
they run: how the trainer finds ``pyro.param`` sites and autoguide parameters, as
``pyro.infer.SVI`` does.
"""

import contextlib
import itertools
import weakref

import pyro
from pyro.poutine.messenger import Messenger

#: Live modules by their parameter-store name.
_OWNERS = weakref.WeakValueDictionary()
_SKIP = []  # non-empty inside without_registration()


@contextlib.contextmanager
def without_registration():
    """Inside, ``register`` does nothing: for a caller that optimizes the modules'
    parameters itself (the trainer), which then saves Pyro's per-parameter bookkeeping (about
    0.2 ms a step for the default VAE)."""
    _SKIP.append(True)
    try:
        yield
    finally:
        _SKIP.pop()


def pyro_name(module):
    """The name under which ``module`` registers its parameters: its class name, with a
    suffix if another live module has it (a copy of a module gets a name of its own)."""
    name = module.__dict__.get("_pyro_store_name")
    if name is None or _OWNERS.get(name) is not module:
        base = type(module).__name__
        name = next(candidate for candidate in itertools.chain(
            [base], (f"{base}_{k}" for k in itertools.count(2))) if candidate not in _OWNERS)
        _OWNERS[name] = module
        module.__dict__["_pyro_store_name"] = name
    return name


def register(module, skip=()):
    """Put every trainable parameter of ``module`` (but those under the submodules named in
    ``skip``) into Pyro's parameter store as ``<pyro_name>$$$<parameter name>``.

    The module's own tensors are what the store holds: an entry of the same name left by an
    earlier module of that name (since garbage-collected) is replaced, never read back.
    """
    if _SKIP:
        return module
    store = pyro.get_param_store()
    prefix = pyro_name(module)
    for name, parameter in module.named_parameters():
        if not parameter.requires_grad or name.split(".", 1)[0] in skip:
            continue
        full_name = f"{prefix}$$${name}"
        if pyro.param(full_name, parameter) is not parameter:
            del store[full_name]
            pyro.param(full_name, parameter)
    return module


class ParamCollector(Messenger):
    """Records ``{name: unconstrained tensor}`` for every ``pyro.param`` site that runs inside
    it (the tensor the optimizer must update; for a constrained parameter, its unconstrained
    value)."""

    def __init__(self):
        super().__init__()
        self.seen = {}

    def _pyro_post_param(self, msg):
        if msg["name"] not in self.seen:
            value = msg["value"]
            self.seen[msg["name"]] = value.unconstrained() if hasattr(value, "unconstrained") \
                else value

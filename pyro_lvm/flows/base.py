"""What every flow layer shares: input checks and a one-pass cache of the last call.

A layer maps the base side ``x`` to the data side ``y`` (Pyro's direction: ``_call`` samples,
``_inverse`` evaluates densities). Subclasses implement

- ``_forward(x[, context])  -> (y, log|det dy/dx|)``
- ``_backward(y[, context]) -> (x, log|det dy/dx|)`` (the log-det of the *forward* map at x)
- ``_log_det(x, y[, context]) -> log|det dy/dx|`` when neither value is cached

so that a value and its log-det always come from the same pass. ``call_and_ladj(x)`` and
``inv_and_ladj(y)`` return both (the names zuko uses) and never touch a cache; ``FlowDensity``
and ``FlowGuide`` use them. Torch's separate calls (``t(x)``, then
``t.log_abs_det_jacobian(x, y)``, as ``TransformedDistribution`` makes them) go through a cache
instead: the last call's ``(x, y, log_det)`` is kept, keyed on the identities of ``x`` and ``y`` (as Pyro does), and is
served only while it is still right:

- the identity, version counter and storage of ``x``, ``y`` and of every parameter, buffer and
  context are unchanged (an optimizer step, ``load_state_dict`` or any in-place change bumps a
  version; ``.to()`` swaps the storage). Changes made through ``.data`` bypass the version
  counter, as they bypass autograd: make them under ``torch.no_grad()`` instead;
- gradient mode is the same (a value computed under ``no_grad`` has no graph to offer);
- no backward pass has gone through the cached output or log-det (it would have freed the graph;
  a tensor hook drops the entry when one does).
"""

import itertools

import torch
from pyro.distributions.conditional import ConditionalTransformModule
from pyro.distributions.torch_transform import TransformModule
from torch.distributions import Transform, constraints

from ..checks import check_int
from ..errors import bad_type, bad_value


def check_tensor(argument, value, size, like=None):
    """``value`` as a floating tensor of shape ``(..., size)``, on ``like``'s dtype and device."""
    if not isinstance(value, torch.Tensor):
        raise bad_type(argument, value, "a torch.Tensor")
    if not value.is_floating_point():
        raise bad_type(argument, value, f"a floating-point tensor, not one of dtype {value.dtype}")
    if value.dim() == 0 or value.shape[-1] != size:
        raise bad_value(f"{argument}.shape", tuple(value.shape), f"(..., {size})")
    if like is not None and (value.dtype != like.dtype or value.device != like.device):
        raise bad_type(
            argument,
            value,
            f"a tensor of dtype {like.dtype} on {like.device} like the flow's parameters, not "
            f"{value.dtype} on {value.device} (move one of them with .to())",
        )
    return value


def _stamp(tensors):
    """Identity, version counter and storage of each tensor (``.to()`` swaps the storage)."""
    return tuple((id(t), None if t.is_inference() else t._version, t.data_ptr()) for t in tensors)


def first_floating(module):
    """The first floating parameter or buffer of ``module`` (``None`` if it has none)."""
    return next((t for t in itertools.chain(module.parameters(), module.buffers()) if t.is_floating_point()), None)


class _Layer:
    """Size, input checks and the tensors a layer's output depends on."""

    def _dependencies(self):
        return tuple(
            t for m in self.modules() for t in (*m._parameters.values(), *m._buffers.values()) if t is not None
        )

    def _checked(self, value, argument):
        return check_tensor(argument, value, self.dim, first_floating(self))  # inputs share its dtype, device


class _LastCall:
    """The cache described in the module docstring.

    ``_last = (x, y, log_det, dependencies, key)``; holding the dependencies keeps their ids
    unique while the key refers to them.
    """

    _last = None

    def _key(self, x, y, dependencies):
        return torch.is_grad_enabled(), _stamp(dependencies + (x, y))

    def _lookup(self, dependencies, x=None, y=None):
        last = self._last
        if last is None or (x is not None and last[0] is not x) or (y is not None and last[1] is not y):
            return None
        return last if last[4] == self._key(last[0], last[1], dependencies) else None

    def _remember(self, dependencies, x, y, log_det, computed):
        self.__dict__["_last"] = (x, y, log_det, dependencies, self._key(x, y, dependencies))
        for tensor in (computed, log_det):
            if tensor.requires_grad:
                tensor.register_hook(self._forget)

    def _forget(self, grad):
        self.__dict__["_last"] = None

    def call_and_ladj(self, x):
        """``(y, log|det ∂y/∂x|)`` from one pass, batch shape of ``x``; no cache is read or kept."""
        return self._run_forward(x)

    def inv_and_ladj(self, y):
        """``(x, log|det ∂x/∂y|)`` from one pass: the inverse and *its* log-det (minus the
        forward's at ``x``), as zuko's ``t.inv.call_and_ladj(y)``; no cache is read or kept."""
        x, log_det = self._run_backward(y)
        return x, -log_det

    def __call__(self, x):
        dependencies = self._dependencies()
        hit = self._lookup(dependencies, x=x)
        if hit is not None:
            return hit[1]
        y, log_det = self._run_forward(x)
        self._remember(dependencies, x, y, log_det, y)
        return y

    def _inv_call(self, y):
        dependencies = self._dependencies()
        hit = self._lookup(dependencies, y=y)
        if hit is not None:
            return hit[0]
        x, log_det = self._run_backward(y)
        self._remember(dependencies, x, y, log_det, x)
        return x

    def _call(self, x):
        return self._run_forward(x)[0]

    def _inverse(self, y):
        return self._run_backward(y)[0]

    def log_abs_det_jacobian(self, x, y):
        """``log|det dy/dx|`` with the batch shape of ``x``; free when ``(x, y)`` was the last call."""
        hit = self._lookup(self._dependencies(), x=x, y=y)
        return hit[2] if hit is not None else self._run_log_det(x, y)

    def __getstate__(self):
        state = super().__getstate__()
        state["_last"] = None
        return state


class Bijection(_LastCall, _Layer, TransformModule):
    """Base of the unconditional layers: a ``TransformModule`` on ``real_vector`` of size ``dim``."""

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, dim):
        super().__init__(cache_size=1)
        self.dim = check_int("dim", dim)

    def _run_forward(self, x):
        return self._forward(self._checked(x, "x"))

    def _run_backward(self, y):
        return self._backward(self._checked(y, "y"))

    def _run_log_det(self, x, y):
        return self._log_det(self._checked(x, "x"), self._checked(y, "y"))

    def extra_repr(self):
        return f"dim={self.dim}"

    @property
    def sign(self):
        """Not defined: torch gives a Jacobian sign to scalar transforms only.  Raising
        ``AttributeError`` (torch raises ``NotImplementedError``) lets ``hasattr`` answer, as
        ``torch.jit.trace`` needs when it converts a module that holds a layer."""
        raise AttributeError(f"{type(self).__name__} transforms vectors: no scalar sign")


class ConditionalBijection(_Layer, ConditionalTransformModule):
    """Base of the conditional layers: ``condition(context)`` gives a transform for that context.

    Like ``pyro.distributions.conditional.ConditionalTransformModule`` (it is one), so it
    works in ``pyro.distributions.ConditionalTransformedDistribution``.
    """

    def __init__(self, dim, context_dim):
        super().__init__()
        self.dim = check_int("dim", dim)
        self.context_dim = check_int("context_dim", context_dim)

    def condition(self, context):
        """The layer with ``context`` (shape ``(..., context_dim)``) fixed."""
        return ConditionedTransform(self, check_tensor("context", context, self.context_dim, first_floating(self)))

    def extra_repr(self):
        return f"dim={self.dim}, context_dim={self.context_dim}"


class ConditionedTransform(_LastCall, Transform):
    """A conditional layer with its context fixed; owns no parameters (they stay in the layer)."""

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, layer, context):
        super().__init__(cache_size=1)
        self.layer = layer
        self.context = context

    def _dependencies(self):
        return self.layer._dependencies() + (self.context,)

    def _checked(self, value, argument):
        value = self.layer._checked(value, argument)
        try:
            torch.broadcast_shapes(value.shape[:-1], self.context.shape[:-1])
        except RuntimeError:
            raise bad_value(
                "context.shape",
                tuple(self.context.shape),
                f"a batch shape that broadcasts with {argument}'s {tuple(value.shape[:-1])}",
            ) from None
        return value

    def _run_forward(self, x):
        return self.layer._forward(self._checked(x, "x"), self.context)

    def _run_backward(self, y):
        return self.layer._backward(self._checked(y, "y"), self.context)

    def _run_log_det(self, x, y):
        x, y = self._checked(x, "x"), self._checked(y, "y")
        return self.layer._log_det(x, y, self.context)

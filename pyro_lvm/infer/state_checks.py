"""A loaded training state checked against the trainer it goes into, before any of it is used.

``weights_only=True`` keeps a checkpoint from running code, but not from holding tensors of the
wrong shape: handed to PyTorch's fused Adam, optimizer moments of the wrong shape crash the
process (a segmentation fault).  :func:`check_training_state` compares every tensor with the
one it will be copied into, so a bad checkpoint is one ``ValueError`` naming what is wrong.
"""

import torch

from ..errors import bad_value

#: Adam's per-parameter state: the step count and moments shaped like the parameter.
_SCALAR_STATE = {"step"}


def _fail(seen, expected):
    raise bad_value("checkpoint", seen, expected)


def _check_tensor(name, value, like):
    if not isinstance(value, torch.Tensor):
        _fail(f"{name} of type {type(value).__name__}", "a tensor")
    if value.shape != like.shape or value.dtype != like.dtype:
        _fail(f"{name} of shape {tuple(value.shape)} and dtype {value.dtype}",
              f"shape {tuple(like.shape)} and dtype {like.dtype}, as in this model")


def _check_model(state, module_state):
    if not isinstance(state, dict):
        _fail(f"model state of type {type(state).__name__}", "a state dict")
    missing, unexpected = sorted(set(module_state) - set(state)), sorted(
        set(state) - set(module_state))
    if missing or unexpected:
        _fail(f"model state with missing {missing[:3]} and unknown {unexpected[:3]} entries",
              "the state dict of this model")
    for key, like in module_state.items():
        _check_tensor(f"model entry {key!r}", state[key], like)


def _check_optimizer(state, groups, names):
    if not (isinstance(state, dict) and isinstance(state.get("state"), dict)
            and isinstance(state.get("param_groups"), list)):
        _fail("an optimizer state without 'state' and 'param_groups'", "Adam's state dict")
    saved = state["param_groups"]
    sizes = [len(g.get("params", ())) if isinstance(g, dict) else -1 for g in saved]
    if sizes != [len(group) for group in groups]:
        _fail(f"optimizer groups of sizes {sizes}",
              f"groups of sizes {[len(group) for group in groups]}, as this model's")
    tensors = [t for group in groups for t in group]
    labels = [n for group in names for n in group]
    for index, entry in state["state"].items():
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(tensors):
            _fail(f"optimizer state for parameter {index!r}",
                  f"indices 0 .. {len(tensors) - 1}")
        if not isinstance(entry, dict):
            _fail(f"optimizer state of {labels[index]} of type {type(entry).__name__}", "a dict")
        for key, value in entry.items():
            where = f"optimizer {key!r} of {labels[index]}"
            if key in _SCALAR_STATE:
                if not isinstance(value, torch.Tensor) or value.numel() != 1:
                    _fail(f"{where} = {value!r}", "a one-element tensor")
            else:
                _check_tensor(where, value, tensors[index])


def check_training_state(state, module_state, store_values, groups, names):
    """Raise a ``ValueError`` naming the first part of ``state`` (a trainer's state dict) that
    does not fit: the model entries against ``module_state``, the parameter-store values
    against ``store_values`` (name -> tensor), the optimizer's groups and moments against
    ``groups`` (the tensors, named ``names``), and the epoch, history and RNG state."""
    for key, kind in (("history", list), ("epoch", int)):
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            _fail(f"{key} = {state.get(key)!r}", f"a {kind.__name__}")
    if state["epoch"] < 0:
        _fail(f"epoch = {state['epoch']}", "a non-negative epoch")
    rng = state.get("rng")
    if rng is not None:
        like = torch.get_rng_state()
        if not isinstance(rng, dict) or not isinstance(rng.get("cpu"), torch.Tensor) \
                or rng["cpu"].shape != like.shape or rng["cpu"].dtype != like.dtype:
            _fail("an RNG state of the wrong form", "torch's CPU generator state")
    _check_model(state.get("model"), module_state)
    saved_store = state.get("param_store", {})
    if not isinstance(saved_store, dict) or set(saved_store) != set(store_values):
        _fail(f"parameter-store entries {sorted(saved_store)[:5]}",
              f"the entries {sorted(store_values)[:5]} of this model and guide")
    for key, like in store_values.items():
        _check_tensor(f"parameter-store entry {key!r}", saved_store[key], like)
    _check_optimizer(state.get("optimizer"), groups, names)

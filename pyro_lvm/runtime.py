"""Devices and seeds: the two pieces of state every entry point takes explicitly."""

import pyro
import torch

from .checks import check_int
from .errors import bad_value


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a ``torch.device``: CUDA when available if ``None``, else what was asked.

    Asking for CUDA on a machine without it is an error, not a silent fall-back to the CPU.

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, a ``torch.device`` or ``None``.

    Returns:
        A ``torch.device``.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise bad_value("device", device, "'cpu', 'cuda' or 'cuda:N'") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise bad_value("device", str(device), "'cpu': CUDA is not available on this machine")
    if resolved.type not in ("cpu", "cuda"):
        raise bad_value("device", str(device), "'cpu', 'cuda' or 'cuda:N'")
    return resolved


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) through ``pyro.set_rng_seed``.

    Args:
        seed: a non-negative integer.
    """
    check_int("seed", seed, 0)
    pyro.set_rng_seed(seed)


def get_rng_state():
    """The torch RNG states (CPU and every CUDA device) as tensors, safe for ``weights_only``."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state):
    """Restore what ``get_rng_state`` returned."""
    torch.set_rng_state(state["cpu"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"].cpu()))

"""Resolve ``--device auto|cpu|cuda`` once, with a clear message when CUDA is asked for but absent."""

from __future__ import annotations

import torch

from .errors import InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a :class:`torch.device`.

    ``"auto"`` picks CUDA when available, else the CPU.

    Raises
    ------
    InputError
        When CUDA is requested but this torch build or machine has none.
    """
    if isinstance(device, torch.device):
        name = str(device)
    else:
        name = str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"--device {name}: CUDA is not available on this machine (torch {torch.__version__})")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise InputError(f"--device {device!r}: expected one of auto, cpu, cuda or cuda:N")

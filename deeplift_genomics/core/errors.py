"""Errors that reach the user as one clear line, never a traceback."""

from __future__ import annotations

# One class for both packages: defined in data_sim, which imports nothing of ours.
from data_sim.errors import InputError

__all__ = ["InputError", "UnsupportedModelError"]


class UnsupportedModelError(InputError):
    """The engine cannot attribute through an op of the model exactly."""

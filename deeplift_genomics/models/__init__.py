"""Models: the architecture spec (:mod:`.spec`), model directories of JSON + safetensors (:mod:`.files`),
training (:mod:`.train`, :mod:`.train_schedule`), metrics and baselines, whether a net learned
(:mod:`.quality`), bpnet-lite import.

``load_model`` and ``save_model`` are importable from here.
"""

from __future__ import annotations

from .files import load_model, save_model

__all__ = ["load_model", "save_model"]

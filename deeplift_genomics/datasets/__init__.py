"""Datasets: loading and writing dataset directories (:mod:`.load`, :mod:`.write`), and building one from a
genome and peak files (:mod:`.peaks`).

``load_dataset`` is importable from here.
"""

from __future__ import annotations

from .load import load_dataset

__all__ = ["load_dataset"]

"""References: the kinds (:mod:`.kinds`: shuffles, zeros, background, a callable), the dinucleotide shuffles
(:mod:`.shuffle`) and their compiled CPU walk (:mod:`.shuffle_compiled`).

``make_references`` and ``REFERENCE_KINDS`` stay importable from here, as they were from 0.2's module of this
name.
"""

from __future__ import annotations

from .kinds import REFERENCE_KINDS, make_references

__all__ = ["REFERENCE_KINDS", "make_references"]

"""Constants shared across the package, each written once.

``PAPER_BACKGROUND`` is defined with the simulation (:mod:`data_sim.motifs`, which depends on nothing of
ours) and re-exported here for the engine: the paper's A, C, G, T background is both the simulated
sequences' composition and the default ``"background"`` reference.
"""

from __future__ import annotations

from data_sim.motifs import PAPER_BACKGROUND

__all__ = ["PAPER_BACKGROUND"]

"""Helpers shared by the data_sim tests: a cached small simulation and brute-force reference scorers."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

from data_sim.simulate import SimulationConfig, simulate

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
BASES = "ACGT"


@functools.lru_cache(maxsize=4)
def small_simulation(n_per_class: int = 500, seed: int = 11, reverse_complement: float = 0.0):
    """A simulation with the paper's settings except the class size (cached across test modules)."""
    return simulate(
        SimulationConfig(seed=seed, n_per_class=n_per_class, reverse_complement=reverse_complement)
    )


def brute_log_odds(
    window: str, probs: np.ndarray, background, pseudocount: float, strand: str = "+"
) -> float:
    """Log-odds of ``window`` scored one base at a time with ``math.log`` (independent of data_sim)."""
    total = 0.0
    width = len(window)
    comp = {"A": "T", "C": "G", "G": "C", "T": "A"}
    for w, base in enumerate(window):
        if base not in BASES:
            continue
        if strand == "+":
            p = probs[w][BASES.index(base)]
        else:
            p = probs[width - 1 - w][BASES.index(comp[base])]
        total += math.log(p * (1 - pseudocount) + pseudocount / 4) - math.log(background[BASES.index(base)])
    return total


def brute_greedy(scores: list[float], top_n: int, half: int) -> list[tuple[int, float]]:
    """Greedy picks with deeplift's window: after a pick p, starts p-h <= s < p+h-1 and p itself go."""
    alive = [True] * len(scores)
    picks = []
    for _ in range(top_n):
        best = None
        for s, v in enumerate(scores):
            if alive[s] and (best is None or v > scores[best]):
                best = s
        if best is None:
            break
        picks.append((best, scores[best]))
        for s in range(len(scores)):
            if best - half <= s < best + half - 1 or s == best:
                alive[s] = False
    return picks
